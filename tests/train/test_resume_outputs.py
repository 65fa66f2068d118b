"""A stopped and resumed full-stage run leaves the files an uninterrupted one leaves: the same previews
(names and pixels, read back) and the same checkpoints, plus only the stop save the message names.

Real runs on the 128-px tiny teachers (batch 1, LPIPS off): one pre-training step, then the full stage
uninterrupted and, in another folder, stopped by the real cancel event after iteration 2 and continued
with ``--resume auto``."""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

import engine.train.trainer as trainer_module
from engine.errors import JobCancelled
from engine.train.options import TrainOptions
from engine.train.trainer import train

NAME = "vtoonify_d_resumed"
MODEL = "vtoonify_s_d_c"
ITERS, EVERY = 5, 2


def _options(files, out: Path, stage: str, **changes) -> TrainOptions:
    base = files.d_options(out, NAME, stage=stage, iter=ITERS, batch=1, lr=1e-3, seed=11, perc_loss=0.0,
                           sample_every=EVERY, save_every=EVERY)
    return replace(base, **changes)


def _pixels(path: Path) -> np.ndarray:
    image = oiio.ImageInput.open(str(path))
    try:
        return image.read_image(format="uint8")
    finally:
        image.close()


def _files(folder: Path) -> dict[str, np.ndarray | None]:
    return {p.name: (_pixels(p) if p.suffix == ".png" else None) for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_a_resumed_run_writes_the_previews_and_checkpoints_of_an_uninterrupted_one(
    tiny_teachers_128, tmp_path, monkeypatch
):
    files = tiny_teachers_128
    pre = tmp_path / "pre"
    with contextlib.redirect_stderr(io.StringIO()):
        train(_options(files, pre, "pretrain", iter=1, save_every=0))
        encoder = str(pre / NAME / "pretrain.pt")
        whole = tmp_path / "whole"
        train(_options(files, whole, "full", encoder_path=encoder))

    cancel, real_step = threading.Event(), trainer_module.full_step

    def step(session, i):
        values = real_step(session, i)
        if i + 1 == 2:
            cancel.set()
        return values

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(trainer_module, "full_step", step)
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(JobCancelled):
        train(_options(files, resumed, "full", encoder_path=encoder), cancel=cancel)
    monkeypatch.setattr(trainer_module, "full_step", real_step)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        train(_options(files, resumed, "full", encoder_path=encoder, resume="auto"))
    assert "continuing from" in err.getvalue() and "warning" not in err.getvalue(), err.getvalue()

    expected = _files(whole / NAME / "samples")
    assert list(expected) == ["full_00001.png", "full_00002.png", "full_00004.png", "full_00005.png"]
    got = _files(resumed / NAME / "samples")
    assert list(got) == list(expected)  # no extra preview after the resumed step, none missing
    for name, pixels in expected.items():  # drawn from iteration 1's batch, with the same weights
        assert np.array_equal(got[name], pixels), name
    checkpoints = sorted(p.name for p in (resumed / NAME).glob("*.pt"))
    assert checkpoints == sorted(p.name for p in (whole / NAME).glob("*.pt"))  # the stop save is _00002
    assert checkpoints == [f"{MODEL}.pt", f"{MODEL}_00002.pt", f"{MODEL}_00004.pt"]
    first = torch.load(whole / NAME / f"{MODEL}.pt", weights_only=True)["g_ema"]
    second = torch.load(resumed / NAME / f"{MODEL}.pt", weights_only=True)["g_ema"]
    assert all(torch.equal(first[k], second[k]) for k in first)
