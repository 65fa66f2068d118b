"""What `engine render` and `engine models list` tell an artist whose models folder lacks files: the
`models fetch` command they suggest downloads exactly that family into exactly that folder, a style that
is not official is never sent to `models fetch`, and `models list` names what is missing."""

from __future__ import annotations

import shlex

from engine.cli import build_parser, main
from engine.errors import EXIT_USER_ERROR
from engine.models.inventory import official_files, scan_models


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
    assert command == f"vtoonify models fetch --style arcane --backbone toonify --models '{models}'"
    args = build_parser().parse_args(shlex.split(command)[1:])  # what `models fetch` would then download
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
    assert "run `vtoonify models fetch" not in err


def test_models_list_names_missing_shared_files_and_how_to_get_them(capsys, tmp_path):
    models = tmp_path / "models"
    (models / "vtoonify_t_arcane").mkdir(parents=True)
    (models / "vtoonify_t_arcane" / "vtoonify.pt").write_bytes(b"x")  # the family's own file, no shared files
    assert main(["models", "list", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "  missing shared files: encoder.pt, faceparsing.pth\n" in out
    assert "  arcane        toonify       missing the shared files  [vtoonify.pt]\n" in out
    assert f"`vtoonify models fetch --models {models}` downloads the shared files and cartoon" in out

    assert main(["models", "list", "--models", str(tmp_path / "nowhere")]) == 0
    assert f"models folder: {tmp_path / 'nowhere'} (does not exist yet)\n" in capsys.readouterr().out
