"""End to end: tiny random teachers -> ``engine train pretrain`` -> ``engine train full`` (every loss term
of the recipe on, the LPIPS-VGG one from local random weights) -> a models folder that ``engine render
--models DIR`` renders a real clip with (VToonify backend); resume repeats the next step exactly, also
after a real process was stopped by SIGTERM mid-run; at full size the checkpoint has the official keys."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch
from log_records import untimed

from engine.cli import main
from engine.models import build_model, load_vtoonify
from engine.models.inventory import scan_models

REPO = Path(__file__).resolve().parents[2]
PRE_ITERS, FULL_ITERS = 6, 8
NAME = "vtoonify_d_tiny"
STYLE_ID = 1
MODEL_FILE = f"vtoonify_s{STYLE_ID:03d}_d0.5_c.pt"


def run_cli(argv: list[str]) -> list[dict]:
    """``engine`` in this process; returns the JSON log records (stdout lines)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    assert code == 0, out.getvalue()[-2000:]
    return [untimed(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def d_args(files, out: Path, stage: str, iters: int, lr: float, batch: int = 2, *extra) -> list:
    return ["train", stage, "--backbone", "dualstylegan", "--stylegan-path", files.dualstylegan,
            "--faceparsing-path", files.faceparsing, "--exstyle-path", files.exstyle,
            "--style-encoder-path", files.encoder, "--direction-path", files.directions,
            "--out", out, "--name", NAME, "--iter", iters, "--batch", batch, "--lr", lr, "--seed", 5,
            "--log-every", 1, "--json-log", "--no-progress",
            "--fix-style", "--style-id", STYLE_ID, "--fix-degree", "--style-degree", 0.5, *extra]


def full_args(files, out: Path, perceptual: str, *extra) -> list:
    """The full stage as the fixture trains it (one place, so resumed runs repeat it exactly)."""
    return d_args(files, out, "full", FULL_ITERS, 5e-4, 2, "--perceptual-weights", perceptual, *extra)


@pytest.fixture(scope="module")
def trained(tiny_teachers, perceptual_weights, tmp_path_factory):
    """Pre-train, then train the full stage (saving one step before the end for the resume test)."""
    models = tmp_path_factory.mktemp("trained") / "models"
    pre = run_cli(d_args(tiny_teachers, models, "pretrain", PRE_ITERS, 5e-3))
    full = run_cli(full_args(tiny_teachers, models, perceptual_weights, "--save-every", FULL_ITERS - 1))
    return models, pre, full


def _losses(records: list[dict], key: str) -> list[float]:
    return [r[key] for r in records if key in r]


@pytest.mark.slow
def test_training_reduces_reconstruction_losses(trained):
    _, pre, full = trained
    assert [r["iter"] for r in pre if "iter" in r] == list(range(1, PRE_ITERS + 1))
    assert [r["iter"] for r in full if "iter" in r] == list(range(1, FULL_ITERS + 1))
    assert {"d_adv", "g_adv", "rec", "perc", "msk", "tmp", "d_s"} <= set(full[-1])
    perc = _losses(full, "perc")  # LPIPS-VGG (random local weights) at half size, weight 0.01, every step
    assert len(perc) == FULL_ITERS and all(0 < p < 1 for p in perc), perc
    assert _losses(full, "tmp")[-1] > 0  # the flicker term is ramped in over the second half
    emse = _losses(pre, "emse")
    assert sum(emse[-3:]) / 3 <= 0.5 * emse[0], emse  # Eq. 8: the encoder learns the teacher's feature
    rec = _losses(full, "rec")
    assert sum(rec[-3:]) / 3 <= 0.5 * rec[0], rec  # Eq. 5's L_rec


@pytest.mark.slow
def test_checkpoint_layout_and_official_contents(trained, reference_dir):
    models, _, _ = trained
    family = models / NAME
    names = sorted(p.name for p in family.iterdir())
    assert names == sorted(["pretrain.pt", MODEL_FILE, MODEL_FILE.replace(".pt", f"_{FULL_ITERS - 1:05d}.pt"),
                            "exstyle_code.npy", "samples"])
    # previews (--sample-every 200): after the first and the last iteration, targets over g_ema's output
    previews = sorted((family / "samples").iterdir())
    assert [p.name for p in previews] == ["full_00001.png", f"full_{FULL_ITERS:05d}.png"]
    image = oiio.ImageInput.open(str(previews[-1]))
    assert (image.spec().width, image.spec().height, image.spec().nchannels) == (2 * 256, 2 * 256, 3)  # batch 2
    image.close()
    assert (models / "encoder.pt").is_file() and (models / "faceparsing.pth").is_file()
    family_info = scan_models(models).family("tiny", "dualstylegan")  # what `models list` and the panel show
    assert family_info is not None and family_info.usable, family_info
    ckpt = torch.load(family / MODEL_FILE, weights_only=True)
    assert {"g_ema", "g", "d", "g_optim", "d_optim", "iter"} <= set(ckpt) and ckpt["iter"] == FULL_ITERS
    model = load_vtoonify(family / MODEL_FILE)
    assert model.backbone == "dualstylegan" and model.in_size == 64
    # a 256-px teacher has fewer layers than the official 1024 one (see the full-size test below): the same
    # modules, nothing extra (no DDP 'module.' prefix), and the g_ema tensors are the loaded model's
    manifest = json.loads((reference_dir / "vtoonify_d_keys.json").read_text())["keys"]
    assert {k.split(".")[0] for k in ckpt["g_ema"]} == {k.split(".")[0] for k in manifest}
    assert set(ckpt["g_ema"]) == set(model.state_dict())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ckpt["g_ema"].items())
    pre = torch.load(family / "pretrain.pt", weights_only=True)
    model.encoder.load_state_dict(pre["g_ema"])  # the official full stage loads ['g_ema'] into the encoder


@pytest.mark.slow
def test_resume_repeats_the_next_step(trained, tiny_teachers, perceptual_weights, tmp_path):
    models, _, full = trained
    saved = models / NAME / MODEL_FILE.replace(".pt", f"_{FULL_ITERS - 1:05d}.pt")
    other = tmp_path / "resumed"
    again = run_cli(full_args(tiny_teachers, other, perceptual_weights, "--resume", saved))
    steps = [r for r in again if "iter" in r]
    assert [r["iter"] for r in steps] == [FULL_ITERS]
    assert steps[0] == full[-1]
    first = torch.load(models / NAME / MODEL_FILE, weights_only=True)["g_ema"]
    second = torch.load(other / NAME / MODEL_FILE, weights_only=True)["g_ema"]
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.slow
def test_resume_from_a_diverged_checkpoint_is_refused_naming_the_entry(trained, tiny_teachers, perceptual_weights,
                                                                        tmp_path, capsys):
    """A save whose weights hold NaN (training had diverged) is refused with exit 2, before any step."""
    models, _, _ = trained
    saved = models / NAME / MODEL_FILE.replace(".pt", f"_{FULL_ITERS - 1:05d}.pt")
    ckpt = torch.load(saved, weights_only=True)
    first = next(iter(ckpt["g"]))
    ckpt["g"][first].view(-1)[0] = float("nan")
    diverged = tmp_path / "diverged" / saved.name
    diverged.parent.mkdir()
    torch.save(ckpt, diverged)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in full_args(tiny_teachers, tmp_path / "resumed", perceptual_weights,
                                               "--resume", diverged)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{diverged}: its g entry holds NaN or infinite values in {first}" in err
    assert "resume from an earlier checkpoint" in err
    assert not [line for line in out.getvalue().splitlines() if '"iter"' in line]  # no step was trained


@pytest.mark.slow
def test_sigterm_mid_run_saves_and_resume_is_bit_identical(trained, tiny_teachers, perceptual_weights, tmp_path):
    """A farm's SIGTERM stops a real training process after the iteration in progress: exit 130, one
    numbered checkpoint named in the message; ``--resume`` from it ends with exactly (torch.equal, CPU,
    same thread count) the weights and loss records of the uninterrupted run."""
    models, _, full = trained
    out = tmp_path / "stopped"
    argv = full_args(tiny_teachers, out, perceptual_weights, "--encoder-path", models / NAME / "pretrain.pt")
    proc = subprocess.Popen([sys.executable, "-m", "engine", *map(str, argv)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seen = []
    for line in proc.stdout:  # stop it once iteration 2 is logged (the run has 8)
        seen.append(untimed(line))
        if seen[-1].get("iter") == 2:
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    records = seen + [untimed(line) for line in rest.splitlines() if line.startswith("{")]
    stopped_at = records[-1]["iter"]
    assert 2 <= stopped_at < FULL_ITERS
    kept = out / NAME / MODEL_FILE.replace(".pt", f"_{stopped_at:05d}.pt")
    assert f"--resume {kept}" in err and err.count("cancelled:") == 1, err[-2000:]
    assert sorted(p.name for p in (out / NAME).iterdir()) == sorted([kept.name, "exstyle_code.npy", "samples"])
    assert records == full[:stopped_at]  # the stopped run is the same run so far

    resumed = run_cli(full_args(tiny_teachers, out, perceptual_weights, "--resume", kept))
    assert resumed == full[stopped_at:]
    first = torch.load(models / NAME / MODEL_FILE, weights_only=True)
    second = torch.load(out / NAME / MODEL_FILE, weights_only=True)
    for part in ("g_ema", "g", "d"):
        assert all(torch.equal(first[part][k], second[part][k]) for k in first[part]), part


def _render(models: Path, out: Path, frames: str, clip: Path) -> dict:
    """``engine render`` of ``clip`` with the ``tiny`` family of ``models`` (default backend: no forced
    ``--backend``, as a studio runs it); the job_done result."""
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "render", str(clip), "-o", str(out), "--frames", frames,
         "--models", str(models), "--style", "tiny", "--style-id", str(STYLE_ID), "--degree", "0.5",
         "--device", "cpu", "--format", "exr", "--json-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if '"job_done"' in line][-1]["result"]


def _exr(path: Path) -> tuple[np.ndarray, dict]:
    image = oiio.ImageInput.open(str(path))
    try:
        return image.read_image(format="float"), {a.name: a.value for a in image.spec().extra_attribs}
    finally:
        image.close()


def _untrained_copy(models: Path, root: Path) -> Path:
    """The same models folder with the model file's ``g_ema`` at iteration 0 of the full stage: the
    pre-trained encoder and the identity fusion init (what the run started from)."""
    from engine.train.student import init_fusion

    shutil.copytree(models, root)
    path = root / NAME / MODEL_FILE
    model = load_vtoonify(path)
    model.encoder.load_state_dict(torch.load(root / NAME / "pretrain.pt", weights_only=True)["g_ema"])
    init_fusion(model)
    ckpt = torch.load(path, weights_only=True)
    ckpt["g_ema"] = model.state_dict()
    torch.save(ckpt, path)
    return root


@pytest.mark.slow
def test_render_uses_the_trained_model(trained, media_dir, tmp_path):
    """A real clip rendered with the freshly trained models folder (default backend) is the trained
    model's work: the vtoonify backend, the sidecar and each EXR name the family and its model file, and
    the pixels differ from the same render with the untrained weights (rendering itself is repeatable)."""
    models, _, _ = trained
    out = tmp_path / "render"
    done = _render(models, out, "1-2", media_dir / "529_2.mp4")
    assert done["backend"] == "vtoonify" and done["frames"] == [1, 2]
    frames = sorted(out.glob("*.exr"))
    assert len(frames) == 2
    settings = json.loads((out / "529_2.vtoonify.json").read_text())["job_settings"]
    assert (settings["style"], settings["model_files"]["vtoonify"]) == ("tiny", MODEL_FILE)
    pixels, header = _exr(frames[0])
    assert (header["vtoonify/backend"], header["vtoonify/style"]) == ("vtoonify", "tiny")
    assert header["vtoonify/checkpoint"] == MODEL_FILE

    untrained = _untrained_copy(models, tmp_path / "untrained")
    assert _render(untrained, tmp_path / "render_untrained", "1", media_dir / "529_2.mp4")["backend"] == "vtoonify"
    before, _ = _exr(tmp_path / "render_untrained" / frames[0].name)
    assert pixels.shape == before.shape
    assert np.abs(pixels - before).max() > 0.01, "the render did not change with the trained weights"


# --- full size: the official key set ----------------------------------------------------------------

FULL_TABLE = {4: 16, 8: 16, 16: 16, 32: 16, 64: 12, 128: 8, 256: 8, 512: 4, 1024: 4}
STYLE_DIM = 48
"""A 1024-px generator, as narrow as possible (8 == 16 == 32 for VToonify-D)."""


def _write_1024_teachers(root: Path, faceparsing: Path) -> Path:
    """Official layouts at size 1024 (18 latents), 48-wide styles to match a narrow pSp."""
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    dsg = build_model({"class_name": "DualStyleGAN", "size": 1024, "style_dim": STYLE_DIM, "n_mlp": 8,
                       "channels": FULL_TABLE})
    torch.save({"g_ema": dsg.state_dict()}, root / "generator.pt")
    base = dsg.generator.state_dict()
    torch.save({"g_ema": base}, root / "ffhq.pt")
    torch.save({"g_ema": {k: v * 1.1 if v.is_floating_point() else v for k, v in base.items()}}, root / "tuned.pt")
    rng = np.random.default_rng(1)
    codes = {n: rng.standard_normal((1, 18, STYLE_DIM)).astype(np.float32) for n in ("a.jpg", "b.jpg")}
    np.save(root / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    psp = build_model({"class_name": "GradualStyleEncoder", "num_layers": 50, "mode": "ir_se", "output_size": 1024,
                       "widths": {"W1": 16, "W2": 24, "W3": 32, "W4": STYLE_DIM}})
    torch.save({"opts": {"output_size": 1024, "input_nc": 3},
                "state_dict": {"encoder." + k: v for k, v in psp.state_dict().items()},
                "latent_avg": torch.zeros(18, STYLE_DIM)}, root / "encoder.pt")
    shutil.copyfile(faceparsing, root / "faceparsing.pth")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["dualstylegan", "toonify"])
def test_full_size_checkpoint_has_the_official_keys(backbone, tiny_teachers, tmp_path, reference_dir):
    t = _write_1024_teachers(tmp_path / "teachers", tiny_teachers.faceparsing)
    out = tmp_path / "models"
    common = ["--backbone", backbone, "--faceparsing-path", t / "faceparsing.pth", "--style-encoder-path",
              t / "encoder.pt", "--out", out, "--name", "full", "--iter", 1, "--batch", 1, "--no-progress",
              "--perc-loss", 0]  # keys only: LPIPS at 512 px would cost more than the rest
    if backbone == "dualstylegan":
        common += ["--stylegan-path", t / "generator.pt", "--exstyle-path", t / "exstyle_code.npy",
                   "--fix-style", "--style-id", 0]
        kind, path = "d", out / "vtoonify_d_full" / "vtoonify_s000_d_c.pt"
    else:
        common += ["--stylegan-path", t / "ffhq.pt", "--finetunegan-path", t / "tuned.pt"]
        kind, path = "t", out / "vtoonify_t_full" / "vtoonify.pt"
    run_cli(["train", "pretrain", *common])
    run_cli(["train", "full", *common])
    keys = set(torch.load(path, weights_only=True)["g_ema"])
    manifest = set(json.loads((reference_dir / f"vtoonify_{kind}_keys.json").read_text())["keys"])
    assert keys == manifest, (sorted(keys - manifest)[:5], sorted(manifest - keys)[:5])
    model = load_vtoonify(path)
    assert (model.in_size, model.stylegan().size) == (256, 1024)
