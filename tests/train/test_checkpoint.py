"""Training outputs: official names, a layout the renderer's inventory finds, atomic and safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ConfigError, ModelFileError, OutputError
from engine.models.inventory import parse_checkpoint_name, pick_checkpoint, scan_models
from engine.train.checkpoint import (
    FORMAT,
    family_folder_name,
    install_companions,
    load_pretrained_encoder,
    load_training_checkpoint,
    model_file_name,
    numbered,
    output_layout,
    save_checkpoint,
)

# (variant flags, official file name as train_vtoonify_d.py builds it)
D_NAMES = [
    ({}, "vtoonify_s_d_c.pt"),
    ({"fix_color": True}, "vtoonify_s_d.pt"),
    ({"fix_style": True, "style_id": 26, "fix_degree": True, "style_degree": 0.5}, "vtoonify_s026_d0.5_c.pt"),
    ({"fix_style": True, "style_id": 299, "fix_degree": True, "style_degree": 0.5, "fix_color": True},
     "vtoonify_s299_d0.5.pt"),
    ({"fix_style": True, "style_id": 4}, "vtoonify_s004_d_c.pt"),
    ({"fix_degree": True, "style_degree": 1.0}, "vtoonify_s_d1.0_c.pt"),
]


@pytest.mark.parametrize(("variant", "expected"), D_NAMES)
def test_d_file_names_match_official_and_the_inventory_reads_them_back(variant, expected):
    name = model_file_name("dualstylegan", **variant)
    assert name == expected
    parsed = parse_checkpoint_name(f"vtoonify_d_x/{name}")
    assert parsed is not None
    assert parsed.style_id == (variant["style_id"] if variant.get("fix_style") else None)
    assert parsed.degree == (variant["style_degree"] if variant.get("fix_degree") else None)
    assert parsed.color_transfer == (not variant.get("fix_color", False))


def test_t_file_name_and_numbered_saves():
    assert model_file_name("toonify", fix_style=True, fix_degree=True) == "vtoonify.pt"
    assert numbered(Path("a/vtoonify_s_d_c.pt"), 300).name == "vtoonify_s_d_c_00300.pt"
    assert numbered(Path("a/pretrain.pt"), 42).name == "pretrain-00042.pt"
    # numbered saves are not mistaken for models by the renderer
    assert parse_checkpoint_name("f/vtoonify_s_d_c_00300.pt") is None


def test_family_folder_names():
    assert family_folder_name("vtoonify_d_cartoon", "dualstylegan") == "vtoonify_d_cartoon"
    assert family_folder_name("mystyle", "toonify") == "vtoonify_t_mystyle"
    with pytest.raises(ConfigError, match="VToonify-T folder"):
        family_folder_name("vtoonify_t_cartoon", "dualstylegan")
    with pytest.raises(ConfigError, match="not a usable folder name"):
        family_folder_name("../evil", "dualstylegan")


def _touch_models(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("enc.pt", "parse.pth"):
        (folder / name).write_bytes(b"x")
    np.save(folder / "codes.npy", np.array({"a": np.zeros((1, 18, 8), np.float32)}, dtype=object), allow_pickle=True)


def test_output_folder_is_a_models_folder_for_the_renderer(tmp_path):
    src = tmp_path / "teachers"
    _touch_models(src)
    layout = output_layout(tmp_path / "models", "mystyle", "dualstylegan", fix_style=True, style_id=3,
                           fix_degree=True, style_degree=0.5)
    layout.check_writable()
    assert not (tmp_path / "models").exists()  # checking creates nothing
    layout.create()
    save_checkpoint(layout.model_path, {"g_ema": {"w": torch.zeros(2)}})
    missing = install_companions(layout, style_encoder=src / "enc.pt", face_parser=src / "parse.pth",
                                 exstyles=src / "codes.npy")
    assert missing == []
    inventory = scan_models(tmp_path / "models")
    family = inventory.family("mystyle", "dualstylegan")
    assert family is not None and family.usable, family
    choice = pick_checkpoint(inventory, "mystyle", "dualstylegan", style_id=3, degree=0.5, color_transfer=True)
    assert Path(choice.checkpoint) == layout.model_path
    assert Path(choice.encoder).read_bytes() == b"x"
    assert (layout.family_dir / "exstyle_code.npy").read_bytes() == (src / "codes.npy").read_bytes()


def test_companions_never_overwrite_existing_files(tmp_path):
    src = tmp_path / "teachers"
    _touch_models(src)
    layout = output_layout(tmp_path / "models", "t1", "toonify")
    layout.create()
    (layout.models_dir / "encoder.pt").write_bytes(b"mine")
    missing = install_companions(layout, style_encoder=src / "enc.pt", face_parser=None, exstyles=None)
    assert (layout.models_dir / "encoder.pt").read_bytes() == b"mine"
    assert missing == [str(layout.models_dir / "faceparsing.pth")]


def test_save_is_atomic_and_weights_only(tmp_path):
    path = tmp_path / "vtoonify.pt"
    save_checkpoint(path, {"stage": "full", "backbone": "toonify", "g_ema": {"a": torch.ones(3)}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vtoonify.pt"]  # no temp file left
    data = torch.load(path, weights_only=True)
    assert data["format"] == FORMAT and torch.equal(data["g_ema"]["a"], torch.ones(3))

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk died")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, {"g_ema": Boom()})
    assert torch.load(path, weights_only=True)["g_ema"]["a"].sum() == 3  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vtoonify.pt"]


def test_resume_accepts_only_our_files_of_the_right_stage_and_backbone(tmp_path):
    official = tmp_path / "official.pt"
    torch.save({"g_ema": {"a": torch.zeros(1)}}, official)
    with pytest.raises(ModelFileError, match="not written by `engine train`"):
        load_training_checkpoint(official, "full", "dualstylegan")
    ours = tmp_path / "ours.pt"
    save_checkpoint(ours, {"stage": "pretrain", "backbone": "toonify", "g_ema": {}, "g": {}, "g_optim": {},
                           "iter": 3})
    assert load_training_checkpoint(ours, "pretrain", "toonify")["iter"] == 3
    with pytest.raises(ModelFileError, match="not a 'full' one"):
        load_training_checkpoint(ours, "full", "toonify")
    with pytest.raises(ModelFileError, match="--backbone toonify"):
        load_training_checkpoint(ours, "pretrain", "dualstylegan")


@pytest.mark.parametrize("count", ["x", None, float("nan"), 1e308, [1], True, -1])
def test_a_hand_edited_iteration_count_is_a_model_file_error(tmp_path, count):
    # Before: int("x"), int(None), int(nan) raised in --resume's check: an internal error.
    from engine.train.checkpoint import check_resume_file

    path = tmp_path / "pretrain.pt"
    save_checkpoint(path, {"stage": "pretrain", "backbone": "toonify", "g_ema": {}, "g": {}, "g_optim": {},
                           "iter": count})
    with pytest.raises(ModelFileError, match="as its iteration count, not a whole number") as info:
        check_resume_file(path, "pretrain", "toonify", 100)
    assert str(path) in info.value.message and "intact checkpoint" in info.value.fix
    with pytest.raises(ModelFileError, match="as its iteration count"):
        load_training_checkpoint(path, "pretrain", "toonify")


def test_pretrained_encoder_reads_official_layout(tmp_path):
    official = tmp_path / "pretrain.pt"
    torch.save({"g_ema": {"0.0.weight": torch.zeros(1)}}, official)
    assert set(load_pretrained_encoder(official)) == {"0.0.weight"}
    torch.save({"g_ema": {"generator.x": torch.zeros(1)}}, official)
    with pytest.raises(ModelFileError, match="not an encoder pre-training file"):
        load_pretrained_encoder(official)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_output_is_refused_before_anything_is_created(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        layout = output_layout(locked / "models", "x", "toonify")
        with pytest.raises(OutputError, match="not writable"):
            layout.check_writable()
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_file_in_the_way_is_refused(tmp_path):
    blocker = tmp_path / "models"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="not a folder"):
        output_layout(blocker, "x", "toonify").check_writable()
    assert blocker.read_text() == "not a folder"


def test_companions_never_replace_a_link_not_even_a_broken_one(tmp_path):
    """A link someone made at a companion name (broken: its target moved) stays that link; the file it
    pointed to is not created, and the broken link is reported so the user can fix it before rendering."""
    src = tmp_path / "teachers"
    _touch_models(src)
    layout = output_layout(tmp_path / "models", "mystyle", "dualstylegan")
    layout.create()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    links = [layout.models_dir / "encoder.pt", layout.family_dir / "exstyle_code.npy"]
    for link in links:
        link.symlink_to(elsewhere / link.name)
    missing = install_companions(layout, style_encoder=src / "enc.pt", face_parser=src / "parse.pth",
                                 exstyles=src / "codes.npy")
    assert all(link.is_symlink() and os.readlink(link) == str(elsewhere / link.name) for link in links)
    assert list(elsewhere.iterdir()) == []
    assert missing == [f"{links[0]} (a broken link, left as it is)", f"{links[1]} (a broken link, left as it is)"]
    assert (layout.models_dir / "faceparsing.pth").read_bytes() == (src / "parse.pth").read_bytes()


def test_a_family_folder_that_is_a_link_is_refused(tmp_path):
    """``--out`` may be a link (the user named it), but ``OUT/NAME`` being one would make training write
    where the user never pointed it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    layout = output_layout(tmp_path / "models", "mystyle", "dualstylegan")
    layout.models_dir.mkdir()
    layout.family_dir.symlink_to(elsewhere)
    with pytest.raises(OutputError, match=r"is a link to .*elsewhere.*never writes through a link") as info:
        layout.check_writable()
    assert "remove the link" in info.value.fix
    linked_out = tmp_path / "linked-models"
    linked_out.symlink_to(tmp_path / "models")
    output_layout(linked_out, "other", "dualstylegan").check_writable()  # --out itself: the user's choice
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("damage, expected", [
    ({"g": "x"}, "holds no usable weights for the student"),
    ({"g_optim": {}}, "its g_optim optimiser state does not fit this run"),
    ({"d_optim": {"state": {}, "param_groups": [{"params": [0, 1, 2]}]}}, "its d_optim optimiser state does not fit"),
], ids=["weights-no-dict", "optimiser-empty", "optimiser-other-params"])
def test_a_resumed_file_with_a_damaged_entry_is_a_model_file_error(damage, expected):
    # Before: only RuntimeError was caught: TypeError/KeyError/ValueError from load_state_dict escaped.
    import types

    from engine.train.checkpoint import restore_gan_state

    def session():
        g, ema, d = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
        return types.SimpleNamespace(student=g, ema=ema, g_optim=torch.optim.Adam(g.parameters()),
                                     extra={"d": d, "d_optim": torch.optim.Adam(d.parameters())})

    whole = session()
    good = {"g": whole.student.state_dict(), "g_ema": whole.ema.state_dict(), "d": whole.extra["d"].state_dict(),
            "g_optim": whole.g_optim.state_dict(), "d_optim": whole.extra["d_optim"].state_dict()}
    restore_gan_state(session(), good, "/x/vtoonify.pt", "the student", "resume from an intact checkpoint")
    with pytest.raises(ModelFileError, match=expected) as info:
        restore_gan_state(session(), {**good, **damage}, "/x/vtoonify.pt", "the student", "start again")
    assert info.value.message.startswith("/x/vtoonify.pt") and info.value.fix == "start again"


@pytest.mark.parametrize("entry, damage, named", [
    ("g", lambda s: s["g"]["weight"].view(-1)[1].fill_(float("nan")), "g entry holds NaN or infinite values in weight"),
    ("g_ema", lambda s: s["g_ema"]["bias"].fill_(float("inf")), "g_ema entry holds NaN or infinite values in bias"),
    ("d_optim", lambda s: s["d_optim"]["state"][0]["exp_avg_sq"].fill_(float("-inf")), "d_optim entry holds NaN or "
     "infinite values in state.0.exp_avg_sq"),
    ("g_optim", lambda s: s["g_optim"]["param_groups"][0].update(lr=float("nan")), "g_optim entry holds NaN or "
     "infinite values in param_groups.0.lr"),
], ids=["weights-nan", "ema-inf", "optimiser-moment-inf", "learning-rate-nan"])
def test_a_resumed_file_with_non_finite_values_is_refused_before_loading(entry, damage, named):
    # Before: NaN/Inf weights and optimiser states loaded, and training went on writing NaN checkpoints.
    import copy
    import types

    from engine.train.checkpoint import restore_gan_state

    def session():
        g, ema, d = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
        run = types.SimpleNamespace(student=g, ema=ema, g_optim=torch.optim.Adam(g.parameters()),
                                    extra={"d": d, "d_optim": torch.optim.Adam(d.parameters())})
        for module, optimiser in ((g, run.g_optim), (d, run.extra["d_optim"])):  # optimiser state to resume
            module(torch.ones(1, 2)).sum().backward()
            optimiser.step()
        return run

    whole = session()
    good = {"g": whole.student.state_dict(), "g_ema": whole.ema.state_dict(), "d": whole.extra["d"].state_dict(),
            "g_optim": whole.g_optim.state_dict(), "d_optim": whole.extra["d_optim"].state_dict()}
    good = copy.deepcopy(good)
    restore_gan_state(session(), good, "/x/vtoonify.pt", "the student", "resume from an intact checkpoint")
    bad = copy.deepcopy(good)
    damage(bad)
    target = session()
    before = {k: v.clone() for k, v in target.student.state_dict().items()}
    with pytest.raises(ModelFileError) as info:
        restore_gan_state(target, bad, "/x/vtoonify.pt", "the student", "start again")
    assert info.value.message.startswith(f"/x/vtoonify.pt: its {named}")
    assert "resume from an earlier checkpoint (a numbered save in /x" in info.value.fix
    assert all(torch.equal(before[k], v) for k, v in target.student.state_dict().items())  # nothing loaded


def _finetune_checkpoint(**changes):
    from engine.train.augment import AdaptiveAugment
    from engine.train.checkpoint import FORMAT

    ada = AdaptiveAugment(0.6, 500, p=0.2)
    ada.tune(torch.tensor([1.0, -1.0, 1.0]))
    obj = {"format": FORMAT, "stage": "finetune", "backbone": "toonify", "g_ema": {}, "g": {}, "d": {},
           "g_optim": {}, "d_optim": {}, "iter": 5, "ada": ada.state_dict(), "mean_path_length": torch.tensor(0.3)}
    for key, value in changes.items():
        if key.startswith("ada_"):
            obj["ada"] = {**obj["ada"], key[4:]: value}
        else:
            obj[key] = value
    return obj


@pytest.mark.parametrize("changes, named", [
    ({"ada": [0.1, 0.2]}, "ada entry is not the augmentation state"),
    ({"ada": {"p": 0.1}}, r"ada entry is not the augmentation state this trainer saves \(it needs p, signs"),
    ({"ada_p": float("nan")}, "ada.p is 'nan', not a finite number"),
    ({"ada_p": 1.5}, "ada.p is 1.5, outside 0.0 to 1.0"),
    ({"ada_count": 2.5}, "ada.count is '2.5', not a finite whole number"),
    ({"ada_steps": -1}, "ada.steps is -1, outside 0 to any"),
    ({"ada_r_t": "x"}, "ada.r_t is 'x', not a finite number"),
    ({"mean_path_length": torch.tensor(float("inf"))}, "mean_path_length is inf: training had diverged"),
    ({"mean_path_length": torch.zeros(3)}, "mean_path_length is .*not one floating-point number"),
    ({"mean_path_length": 0.3}, "mean_path_length is .*not one floating-point number"),
], ids=["ada-list", "ada-fields", "p-nan", "p-range", "count-fraction", "steps-negative", "r_t-text",
        "path-mean-inf", "path-mean-shape", "path-mean-number"])
def test_a_resumed_finetune_checkpoint_with_damaged_augmentation_state_is_refused(tmp_path, changes, named):
    # Before: only the keys' presence was checked; a missing ADA field was a KeyError at load, and a NaN
    # p or path-length mean trained on silently.
    from engine.train.checkpoint import check_resume_file, check_training_checkpoint

    check_training_checkpoint(_finetune_checkpoint(), tmp_path / "a.pt", "finetune", "toonify")  # intact
    with pytest.raises(ModelFileError, match=named) as info:
        check_training_checkpoint(_finetune_checkpoint(**changes), tmp_path / "a.pt", "finetune", "toonify")
    assert info.value.message.startswith(str(tmp_path / "a.pt")) and "--resume" in info.value.fix
    path = tmp_path / "vtoonify_t.pt"  # the same from a file, before any teacher loads
    torch.save(_finetune_checkpoint(**changes), path)
    with pytest.raises(ModelFileError, match=named):
        check_resume_file(path, "finetune", "toonify", 10)


def test_a_resume_file_whose_bytes_fail_their_crc_is_refused_before_the_teachers_load(tmp_path):
    # Before: --resume's up-front check read the file memory-mapped, CRCs unchecked, so a damaged checkpoint
    # was refused only after the teachers had loaded (minutes for the official ones).
    import struct
    import zipfile

    from engine.train.checkpoint import check_resume_file

    path = tmp_path / "pretrain.pt"
    save_checkpoint(path, {"stage": "pretrain", "backbone": "toonify", "g_ema": {"w": torch.arange(1000.0)},
                           "g": {}, "g_optim": {}, "iter": 3})
    check_resume_file(path, "pretrain", "toonify", 100)  # intact: passes
    with zipfile.ZipFile(path) as archive:
        entry = next(i for i in archive.infolist() if "/data/" in i.filename)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[entry.header_offset + 26 : entry.header_offset + 30])
    data[entry.header_offset + 30 + name_len + extra_len + 9] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"pretrain\.pt is corrupt: its entry \S+ fails its CRC-32 check"):
        check_resume_file(path, "pretrain", "toonify", 100)
