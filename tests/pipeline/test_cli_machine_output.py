"""What a pipeline script parses from `engine render --json-progress` / `--openjd-progress`: every failure,
a bug's too, ends in a `job_failed` event (`openjd_fail:` line) on stdout, so a wrapper reading only
stdout never sees a job end with no word of why (docs/FARM.md: "Every failure ... also a job_failed event")."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.errors import EXIT_INTERNAL_ERROR


def _a_bug(*args, **kwargs):
    raise ZeroDivisionError("division by zero")


@pytest.fixture()
def buggy_render(monkeypatch):
    import engine.pipeline.render as render_module

    monkeypatch.delenv("VTOONIFY_DEBUG", raising=False)
    monkeypatch.setattr(render_module, "render", _a_bug)


def test_a_bug_ends_json_progress_with_an_internal_job_failed_event(buggy_render, tmp_path, capsys):
    code = main(
        ["render", str(tmp_path / "plate.mp4"), "-o", str(tmp_path / "out"), "--backend", "classic", "--json-progress"]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_INTERNAL_ERROR
    events = [json.loads(line) for line in out.splitlines()]  # stdout holds JSON lines only
    assert events[-1]["event"] == "job_failed"
    error = events[-1]["error"]
    assert error["code"] == "internal" and "ZeroDivisionError: division by zero" in error["message"]
    assert "report" in error["fix"]
    assert err.splitlines()[-1].startswith("internal error: ZeroDivisionError: division by zero")


def test_a_bug_ends_openjd_progress_with_an_openjd_fail_line(buggy_render, tmp_path, capsys):
    code = main(
        [
            "render",
            str(tmp_path / "plate.mp4"),
            "-o",
            str(tmp_path / "out"),
            "--backend",
            "classic",
            "--openjd-progress",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == EXIT_INTERNAL_ERROR
    assert out.splitlines()[-1].startswith("openjd_fail: internal error: ZeroDivisionError: division by zero")
