"""What a long run shows while it trains: without a bar (``--no-progress``, a farm log) each logged
iteration is one stderr line with the losses, the rate and the ETA, as the bar shows them."""

from __future__ import annotations

import contextlib
import io

import engine.train.session as session_module
from engine.train.options import TrainOptions
from engine.train.session import TrainLog


def test_a_text_log_line_has_the_losses_the_rate_and_the_eta(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: now[0])
    options = TrainOptions(stage="full", backbone="toonify", stylegan_path="g.pt", faceparsing_path="f.pth",
                           finetunegan_path="t.pt", perc_loss=0, style_encoder_path="e.pt", iter=2000,
                           progress=False)
    log = TrainLog(options, 0)
    now[0] = 500.0  # loading the teachers is not training time
    log.restart(400)  # resumed after iteration 400
    now[0] = 500.0 + 200 * 2.0  # 200 iterations at 2 s each
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        log.record({"stage": "full", "iter": 600, "rec": 0.25, "d_s": 0.0})
    assert err.getvalue() == "full iteration 600/2000  rec 0.25  d_s 0  0.50 it/s  ETA 46:40\n"


def test_a_json_log_line_has_the_rate_and_the_eta(monkeypatch):
    # Before: `--json-log --no-progress` (how a farm runs train) logged the losses only; the rate and the
    # ETA the bar and the text line show were missing, so a farm monitor could not say when a run ends.
    import json

    now = [100.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: now[0])
    options = TrainOptions(stage="full", backbone="toonify", stylegan_path="g.pt", faceparsing_path="f.pth",
                           finetunegan_path="t.pt", perc_loss=0, style_encoder_path="e.pt", iter=2000,
                           progress=False, json_log=True)
    log = TrainLog(options, 0)
    log.restart(400)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        log.record({"stage": "full", "iter": 400, "rec": 0.5})  # no step timed yet: no rate, no ETA
        now[0] = 100.0 + 200 * 2.0  # 200 iterations at 2 s each
        log.record({"stage": "full", "iter": 600, "rec": 0.25})
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"stage": "full", "iter": 400, "rec": 0.5, "it_per_s": 0.0, "eta_s": None}
    assert second == {"stage": "full", "iter": 600, "rec": 0.25, "it_per_s": 0.5, "eta_s": 2800}
