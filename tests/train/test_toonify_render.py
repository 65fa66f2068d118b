"""VToonify-T from training to a render, as docs/TRAINING.md writes the commands: `train pretrain`, `train
full` (same flags), then `engine render --models OUT --style NAME` in a real process renders with the
trained `vtoonify_t_NAME/vtoonify.pt` (the D path is covered by test_e2e.py). Tiny 128-px teachers, one
iteration per stage, one frame."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

from engine.cli import main
from engine.commands import engine_command
from engine.models.inventory import scan_models

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_trained_toonify_model_renders_a_frame(tiny_teachers_128, media_dir, tmp_path):
    t = tiny_teachers_128
    models = tmp_path / "models"
    common = ["--backbone", "toonify", "--stylegan-path", t.ffhq, "--finetunegan-path", t.finetune,
              "--style-encoder-path", t.encoder, "--faceparsing-path", t.faceparsing, "--direction-path",
              t.directions, "--out", models, "--name", "mystyle", "--iter", 1, "--batch", 1, "--device", "cpu",
              "--no-progress"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([str(a) for a in ["train", "pretrain", *common]]) == 0
        assert main([str(a) for a in ["train", "full", *common, "--perc-loss", 0]]) == 0
    assert f"next: `{engine_command('train', 'full')}`" in err.getvalue()  # the pretrain file is not a model to render
    model = models / "vtoonify_t_mystyle" / "vtoonify.pt"
    assert f"trained model -> {model}" in err.getvalue()
    assert scan_models(models).family("mystyle", "toonify").usable

    out = tmp_path / "render"
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "3",
         "--models", str(models), "--style", "mystyle", "--backend", "vtoonify", "--device", "cpu",
         "--format", "png", "--output-space", "crop", "--json-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = [json.loads(line) for line in proc.stdout.splitlines() if '"job_done"' in line][-1]["result"]
    assert done["backend"] == "vtoonify" and done["frames"] == [3, 3]  # first, last
    frame = oiio.ImageBuf(str(out / "529_2.0003.png"))
    pixels = frame.get_pixels(oiio.FLOAT)
    assert pixels.shape[0] % 4 == 0 and pixels.shape[1] % 4 == 0  # the native crop at 4x
    assert np.isfinite(pixels).all() and pixels[..., :3].std() > 0.01  # a picture, not a flat fill
    # what rendered is the full stage's file, recorded with the precision it trained in
    trained = torch.load(model, weights_only=True)
    assert trained["iter"] == 1 and trained["stage"] == "full" and trained["precision"] == "fp32"
