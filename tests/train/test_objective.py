"""The full objective (paper Eq. 5) as one training step adds it up: each `--*-loss` flag weighs its own term.

The paper's weights (0.1 / 0.01 / 0.01 / 1 / 0.0005) only hold if every term meets its own flag; the
loss functions are tested alone in test_losses.py, this checks the sum the trainer builds. Tiny 128-px
teachers (conftest.py), one step each, on CPU."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace

import pytest

from engine.train.trainer import full_step, prepare_full, train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_each_weight_flag_scales_its_own_term_of_the_full_step(tiny_teachers_128, perceptual_weights, tmp_path):
    """The same step (iteration 8 of 10: flicker ramp on) with each weight multiplied by its own prime logs
    each term multiplied by exactly that prime. The data is the same (every draw of step i comes from
    --seed and i) and so is D after its step (Adam's first step does not depend on the loss scale), so a
    term weighed by another flag, or by none, shows as a wrong ratio."""
    files = tiny_teachers_128
    base = files.d_options(tmp_path, "vtoonify_d_weights", iter=10, batch=2, perceptual_weights=perceptual_weights)
    factors = {"adv_loss": 2.0, "grec_loss": 3.0, "perc_loss": 5.0, "tmp_loss": 7.0, "msk_loss": 11.0}
    flag_of = {
        "d_adv": "adv_loss",
        "g_adv": "adv_loss",
        "rec": "grec_loss",
        "perc": "perc_loss",
        "tmp": "tmp_loss",
        "msk": "msk_loss",
    }
    logged = []
    with contextlib.redirect_stderr(io.StringIO()):
        train(replace(base, iter=1))  # pretrain.pt for the full stage
        for scale in ({}, factors):
            weights = {flag: getattr(base, flag) * factor for flag, factor in scale.items()}
            session = prepare_full(replace(base, stage="full", overwrite=True, **weights))
            for fusion in session.student.fusion_out:  # masks near 1, above g(d_s): Eq. 9 is not 0
                fusion.conv2.bias.data.fill_(3.0)
            logged.append({k: float(v) for k, v in full_step(session, 8).items()})
    plain, scaled = logged
    assert all(plain[term] > 0 for term in flag_of), plain
    ratios = {term: scaled[term] / plain[term] for term in flag_of}
    assert ratios == pytest.approx({term: factors[flag] for term, flag in flag_of.items()}, rel=1e-3), ratios
    assert plain["d_s"] == scaled["d_s"]
