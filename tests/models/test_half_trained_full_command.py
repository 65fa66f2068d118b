"""`engine models list` for a style pre-trained but without its model: the `train full` line to paste.

Why: "with the same flags" left the user to rebuild a long command from memory; a full stage run with a
different --fix-degree or teacher writes another file, or trains against the wrong teacher. pretrain.pt
records its options, so the listing prints the exact command; a pretrain.pt it cannot read names the flags.
"""

from __future__ import annotations

import shlex

import numpy as np
import torch

from engine.cli import build_parser, main
from engine.train.cli import options_from_args
from engine.train.options import TrainOptions


def _half_trained(models, pretrain_bytes=None):
    models.mkdir()
    (models / "encoder.pt").write_bytes(b"x")
    (models / "faceparsing.pth").write_bytes(b"x")
    folder = models / "vtoonify_d_mystyle"
    folder.mkdir()
    np.save(folder / "exstyle_code.npy", np.zeros((1, 18, 512), np.float32))
    if pretrain_bytes is not None:
        (folder / "pretrain.pt").write_bytes(pretrain_bytes)
        return None
    recorded = TrainOptions(
        stage="pretrain",
        backbone="dualstylegan",
        stylegan_path="/teachers/generator.pt",
        faceparsing_path=str(models / "faceparsing.pth"),
        exstyle_path="/teachers/my codes.npy",
        direction_path="/teachers/directions.npy",
        out=str(models),
        name="vtoonify_d_mystyle",
        fix_degree=True,
        style_degree=0.3,
        fix_style=True,
        style_id=7,
        batch=2,
    )
    torch.save({"options": recorded.to_dict()}, folder / "pretrain.pt")
    return recorded


def _fix_line(capsys, models) -> str:
    assert main(["models", "list", "--models", str(models)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "-> " in line and "train full" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_listing_prints_the_full_command_the_pretrain_run_recorded(tmp_path, capsys):
    models = tmp_path / "models"
    recorded = _half_trained(models)
    line = _fix_line(capsys, models)
    assert "same flags" not in line and "with the flags" not in line
    command = line.split("`")[1]
    words = shlex.split(command)
    assert words[words.index("engine") + 1 : words.index("engine") + 3] == ["train", "full"]
    args = build_parser().parse_args(words[words.index("engine") + 1 :])
    full = options_from_args(args)  # the pasted line parses; the run it starts is the pre-trained one's
    assert full.stage == "full"
    for name in (
        "backbone",
        "stylegan_path",
        "faceparsing_path",
        "exstyle_path",
        "direction_path",
        "fix_style",
        "style_id",
        "fix_degree",
        "style_degree",
        "fix_color",
    ):
        assert getattr(full, name) == getattr(recorded, name), name
    assert (full.out, full.folder_name) == (str(models), "vtoonify_d_mystyle")
    assert full.style_encoder_path == str(models / "encoder.pt")
    assert "vgg16-397923af.pth" in full.perceptual_weights
    assert "vtoonify_s007_d0.3_c.pt" in line  # the file it writes, which the listing says is missing


def test_an_unreadable_pretrain_file_names_the_flags_that_must_match(tmp_path, capsys):
    models = tmp_path / "models"
    _half_trained(models, pretrain_bytes=b"not a torch file")
    line = _fix_line(capsys, models)
    assert "same flags" not in line
    for flag in (
        "--backbone",
        "--stylegan-path",
        "--exstyle-path",
        "--faceparsing-path",
        "--out",
        "--name",
        "--fix-style",
        "--style-id",
        "--fix-degree",
        "--style-degree",
        "--fix-color",
    ):
        assert flag in line, flag
