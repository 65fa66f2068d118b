"""What a full-stage log says about the structure degree d_s: the value the schedule drew (``0.6``, not its
float32 copy ``0.6000000238418579``), and nothing at all for VToonify-T, which has no degree.

Real runs on the 128-px tiny teachers (conftest.py): one pre-training iteration for the encoder, then one
full-stage iteration logged as JSON on stdout, and once as the text line of a run without a bar."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace

import pytest

from engine.train.options import TrainOptions
from engine.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")


def _full_stage_logs(options: TrainOptions) -> tuple[list[dict], str]:
    """(JSON records, stderr) of a one-iteration full stage after a one-iteration pre-training."""
    with contextlib.redirect_stderr(io.StringIO()):
        train(replace(options, stage="pretrain", json_log=False, overwrite=True))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        train(replace(options, stage="full", overwrite=True))
    return [json.loads(line) for line in out.getvalue().splitlines() if '"iter"' in line], err.getvalue()


def _options(files, tmp_path, **changes) -> TrainOptions:
    base = files.d_options(tmp_path, "vtoonify_d_degree", iter=1, batch=1, lr=1e-3, seed=3, perc_loss=0.0,
                           log_every=1, json_log=True)
    return replace(base, **changes)


def test_a_vtoonify_d_log_shows_the_degree_the_schedule_drew(tiny_teachers_128, tmp_path):
    records, _ = _full_stage_logs(_options(tiny_teachers_128, tmp_path, fix_degree=True, style_degree=0.6))
    assert [r["d_s"] for r in records] == [0.6]
    # the rate and ETA of a real run's JSON line (the run's one iteration done: nothing left)
    assert records[0]["it_per_s"] > 0 and records[0]["eta_s"] == 0, records


def test_a_vtoonify_t_log_has_no_degree(tiny_teachers_128, tmp_path):
    files = tiny_teachers_128
    t = _options(
        files,
        tmp_path,
        backbone="toonify",
        stylegan_path=str(files.ffhq),
        finetunegan_path=str(files.finetune),
        exstyle_path=None,
        name="vtoonify_t_degree",
    )
    records, _ = _full_stage_logs(t)
    assert len(records) == 1 and "rec" in records[0] and "d_s" not in records[0], records
    _, err = _full_stage_logs(replace(t, json_log=False))  # the text line of a run without a bar
    line = [text for text in err.splitlines() if "iteration 1/1" in text]
    assert len(line) == 1 and "rec " in line[0] and "d_s" not in line[0], err
