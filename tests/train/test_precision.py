"""``--precision bf16``: forward passes in bf16 autocast, float32 master weights and optimiser state."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace

import pytest
import torch

from engine.errors import ConfigError
from engine.train.options import TrainOptions
from engine.train.trainer import full_step, prepare_full, train


def _options(files, out, perceptual) -> TrainOptions:
    return TrainOptions(
        stage="pretrain", backbone="dualstylegan", stylegan_path=str(files.dualstylegan),
        faceparsing_path=str(files.faceparsing), exstyle_path=str(files.exstyle),
        style_encoder_path=str(files.encoder), direction_path=str(files.directions), out=str(out),
        name="vtoonify_d_bf16", iter=10, batch=2, lr=1e-3, device="cpu", progress=False,
        perceptual_weights=perceptual, overwrite=True,
    )


def test_unknown_precision_is_refused(tiny_teachers_128, tmp_path):
    with pytest.raises(ConfigError, match="fp16"):
        replace(_options(tiny_teachers_128, tmp_path, None), precision="fp16")


@pytest.mark.slow
def test_bf16_step_tracks_fp32_and_keeps_float32_master_weights(tiny_teachers_128, perceptual_weights, tmp_path):
    base = _options(tiny_teachers_128, tmp_path / "models", perceptual_weights)
    with contextlib.redirect_stderr(io.StringIO()):
        train(replace(base, iter=1))  # pretrain.pt for the full stage
        sessions = {p: prepare_full(replace(base, stage="full", precision=p)) for p in ("fp32", "bf16")}
    index = 8  # second half of 10: every term on (flicker, colour jitter, LPIPS, mask, D step)
    values = {p: {k: float(v) for k, v in full_step(s, index).items()} for p, s in sessions.items()}
    fp32, bf16 = values["fp32"], values["bf16"]
    assert set(fp32) == set(bf16) >= {"d_adv", "g_adv", "rec", "perc", "tmp", "msk"}
    for name in ("rec", "perc", "tmp", "d_adv", "g_adv"):
        assert bf16[name] == pytest.approx(fp32[name], rel=0.05), name  # same data, same weights
    assert bf16["rec"] != fp32["rec"]  # ...but really computed in bf16
    bf = sessions["bf16"]
    tensors = [*bf.student.parameters(), *bf.ema.parameters(), *bf.extra["d"].parameters()]
    tensors += [v for opt in (bf.g_optim, bf.extra["d_optim"]) for st in opt.state.values() for v in st.values()
                if isinstance(v, torch.Tensor) and v.ndim]
    assert {t.dtype for t in tensors} == {torch.float32}
    grads = [p.grad for p in bf.student.parameters() if p.grad is not None]
    assert grads and {g.dtype for g in grads} == {torch.float32}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_few_iterations_train_on_the_device(tiny_teachers_128, perceptual_weights, tmp_path, device_name, precision):
    """Two pretrain iterations, then two full-stage iterations with every loss term, on ``--device``: the
    student, EMA and optimiser state live there, the losses are finite and the models folder is written."""
    base = replace(_options(tiny_teachers_128, tmp_path / "models", perceptual_weights), device=device_name,
                   precision=precision, iter=2)
    with contextlib.redirect_stderr(io.StringIO()):
        assert train(base).is_file()
        session = prepare_full(replace(base, stage="full"))
    assert session.device.type == torch.device(device_name).type
    assert {p.device.type for p in [*session.student.parameters(), *session.ema.parameters()]} == {session.device.type}
    for index in range(2):
        losses = full_step(session, index)
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values()), losses
    states = [v for st in session.g_optim.state.values() for v in st.values() if isinstance(v, torch.Tensor) and v.ndim]
    assert states and {v.device.type for v in states} == {session.device.type}
