"""What `engine render` and `engine models list` tell an artist whose models folder lacks files: the
`models fetch` command they suggest downloads exactly that family into exactly that folder, a style that
is not official is never sent to `models fetch`, and `models list` names what is missing."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from engine.cli import build_parser, main
from engine.commands import engine_command
from engine.errors import EXIT_USER_ERROR
from engine.models.inventory import models_command, official_files, scan_models


def _render_error(capsys, media_dir, models, *flags) -> str:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(models.parent / "out"), "--frames", "1",
                 "--models", str(models), "--backend", "vtoonify", *flags])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    return err


def test_suggested_fetch_downloads_the_missing_family_into_this_folder(capsys, media_dir, tmp_path):
    models = tmp_path / "my models"
    models.mkdir()
    err = _render_error(capsys, media_dir, models, "--style", "arcane", "--backbone", "toonify")
    command = err.split("run `", 1)[1].split("`", 1)[0]
    assert command == engine_command("models", "fetch", "--style", "arcane", "--backbone", "toonify", "--models",
                                     str(models))
    words = shlex.split(command)
    args = build_parser().parse_args(words[words.index("models"):])  # what `models fetch` would then download
    wanted = set(official_files(args.style[0], args.backbone))
    assert args.models_dir == str(models)
    assert set(scan_models(args.models_dir).family("arcane", "toonify").missing) <= wanted


def test_unofficial_style_is_not_sent_to_models_fetch(capsys, media_dir, tmp_path):
    models = tmp_path / "models"
    (models / "vtoonify_d_house").mkdir(parents=True)
    (models / "vtoonify_d_house" / "exstyle_code.npy").write_bytes(b"x")  # copied in by hand, incomplete
    err = _render_error(capsys, media_dir, models, "--style", "house")
    assert "missing encoder.pt, faceparsing.pth, vtoonify_d_house/vtoonify_s_d.pt" in err
    assert "'house' is not an official style" in err and f"copy its files into {models / 'vtoonify_d_house'}" in err
    assert "models fetch --style house" not in err  # the shared files: the plain fetch, which brings them
    assert f"for the shared files, run `{models_command('fetch', models_dir=models)}`" in err.replace("\n", " ")


def test_models_list_names_missing_shared_files_and_how_to_get_them(capsys, tmp_path):
    models = tmp_path / "models"
    (models / "vtoonify_t_arcane").mkdir(parents=True)
    (models / "vtoonify_t_arcane" / "vtoonify.pt").write_bytes(b"x")  # the family's own file, no shared files
    assert main(["models", "list", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "  missing shared files: encoder.pt, faceparsing.pth\n" in out
    assert "  arcane        toonify       missing the shared files  [vtoonify.pt]\n" in out
    fetch = engine_command("models", "fetch", "--style", "NAME", "--models", str(models)) + " [--backbone toonify|both]"
    assert f"Get official styles with `{fetch}`" in out

    assert main(["models", "list", "--models", str(tmp_path / "nowhere")]) == 0
    assert f"models folder: {tmp_path / 'nowhere'} (does not exist yet)\n" in capsys.readouterr().out


def _family(models, folder: str, *names: str) -> None:
    (models / folder).mkdir(parents=True)
    for name in names:
        (models / folder / name).write_bytes(b"x")  # the inventory and the choice go by names only


def test_default_render_with_the_fetched_cartoon_files_warns_nothing(tmp_path):
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.selection import choose_files

    models = tmp_path / "models"
    _family(models, ".", "encoder.pt", "faceparsing.pth")
    _family(models, "vtoonify_d_cartoon", *[Path(f).name for f in official_files("cartoon", "dualstylegan")
                                            if f.startswith("vtoonify_d_cartoon/")])
    config, files, note = choose_files(RenderConfig(source="shot.mp4", output="out", models_dir=str(models)))
    assert Path(files["vtoonify"]).name == "vtoonify_s026_d0.5.pt"  # exemplar 26's own model: what was asked
    assert note == "" and not config.color_transfer
    _, _, note = choose_files(RenderConfig(source="shot.mp4", output="out", models_dir=str(models), style="cartoon",
                                           degree=0.7))
    assert note == ""


def test_unsupported_exemplar_is_worded_for_a_custom_image_and_a_trained_style(tmp_path):
    from engine.errors import ModelFileError
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.selection import choose_files

    models = tmp_path / "models"
    _family(models, ".", "encoder.pt", "faceparsing.pth")
    _family(models, "vtoonify_d_caricature", "vtoonify_s039_d0.5.pt", "exstyle_code.npy")
    _family(models, "vtoonify_d_mine", "vtoonify_s026_d_c.pt", "exstyle_code.npy")  # --fix-style --style-id 26
    with pytest.raises(ModelFileError) as info:
        choose_files(RenderConfig(source="shot.mp4", output="out", models_dir=str(models), style="caricature",
                                  exstyle_image="face.png"))
    assert "supports a custom exemplar (--exstyle-image), degree 0.5" in info.value.message
    assert "fetch vtoonify_s_d.pt" in info.value.fix
    with pytest.raises(ModelFileError) as info:
        choose_files(RenderConfig(source="shot.mp4", output="out", models_dir=str(models), style="mine", style_id=3))
    assert info.value.message == ("no mine VToonify-D model supports style id 3, degree 0.5 "
                                  "(found: vtoonify_s026_d_c.pt)")
    assert "train one without --fix-style / --fix-degree" in info.value.fix and "fetch" not in info.value.fix
    # the fix says in flags what the found model renders: its name alone leaves `s026` to be decoded
    assert "vtoonify_s026_d_c.pt renders --style-id 26, any --degree" in info.value.fix
    (models / "vtoonify_d_mine" / "vtoonify_s002_d0.5_c.pt").write_bytes(b"x")  # --fix-degree 0.5 as well
    with pytest.raises(ModelFileError) as info:
        choose_files(RenderConfig(source="shot.mp4", output="out", models_dir=str(models), style="mine", style_id=3))
    assert "vtoonify_s002_d0.5_c.pt renders --style-id 2 --degree 0.5" in info.value.fix


def test_a_mistyped_style_lists_what_is_here_and_what_can_be_fetched(capsys, media_dir, tmp_path):
    models = tmp_path / "models"
    _family(models, ".", "encoder.pt", "faceparsing.pth")
    _family(models, "vtoonify_d_mine", "vtoonify_s_d.pt", "exstyle_code.npy")
    _family(models, "vtoonify_t_toony", "vtoonify.pt")
    err = _render_error(capsys, media_dir, models, "--style", "mien")
    assert f"unknown style family 'mien' for dualstylegan: no vtoonify_d_mien folder in {models}" in err
    assert "choose one of mine (in this folder) or an official one to fetch (arcane, caricature, cartoon, comic, " \
           "illustration, pixar)" in err
    err = _render_error(capsys, media_dir, models, "--style", "toony", "--backbone", "dualstylegan")
    assert "choose --backbone toonify (or auto): toony is a toonify style" in err


def test_fetch_refuses_a_style_that_is_not_published(capsys, tmp_path):
    """A typo (or a style trained here) would otherwise download the shared files only and look fetched."""
    models = tmp_path / "models"
    base = ["models", "fetch", "--models", str(models), "--base-url", "http://127.0.0.1:9/"]  # never reached
    assert main([*base, "--style", "pixr"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: no official style 'pixr' with dualstylegan to fetch (choose from arcane, ")
    assert "comes from `engine train`" in err
    assert main([*base, "--style", "illustration", "--backbone", "toonify"]) == EXIT_USER_ERROR
    assert "(use --backbone dualstylegan)" in capsys.readouterr().err
    assert not models.exists()  # nothing created, nothing downloaded


def test_a_models_path_that_is_a_file_is_named_as_a_file_not_sent_to_fetch(capsys, media_dir, tmp_path):
    # Before: "missing encoder.pt, ... in <file>" and the fix `models fetch --models <file>`, which then
    # refused the file: two steps to learn the path was not a folder.
    notes = tmp_path / "models.txt"
    notes.write_text("not a folder")
    err = _render_error(capsys, media_dir, notes)
    assert f"cannot render: the models folder {notes} is a file, not a folder" in err
    assert "models fetch" not in err and "pass --models (or $VTOONIFY_MODELS) with the folder" in err


@pytest.mark.parametrize("shape", [(1, 18, 7), (1, 10, 512)], ids=["width 7", "10 latents"])
def test_style_codes_that_do_not_fit_the_model_name_the_file_not_an_internal_error(capsys, media_dir, tmp_path,
                                                                                    narrow_models_dir, shape):
    # Before: [1, 18, 7] codes read fine and the model's mapping failed with "mat1 and mat2 shapes cannot be
    # multiplied" (internal error, exit 1); [1, 10, 512] ended in a static-network message naming no file.
    import shutil

    import numpy as np

    models = tmp_path / "models"
    shutil.copytree(narrow_models_dir, models)
    codes = {f"Cartoons_{i:05d}.jpg": np.zeros(shape, np.float32) for i in range(30)}
    exstyle = models / "vtoonify_d_cartoon" / "exstyle_code.npy"
    np.save(exstyle, np.array(codes, dtype=object), allow_pickle=True)
    err = _render_error(capsys, media_dir, models, "--style-id", "3")
    code = "style code 'Cartoons_00003.jpg'"
    assert f"{exstyle}: {code} is {list(shape)}, but vtoonify_s_d_c.pt takes [1, 18, 512]" in err
    assert "internal error" not in err
