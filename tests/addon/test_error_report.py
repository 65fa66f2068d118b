"""The add-on shows an engine error's fix on a line of its own (report and panel status), from a
real engine service process (the burst stand-in pipeline) through the add-on's own client."""

from __future__ import annotations

import pytest

from vtoonify_addon.core.error_report import report_text, split_status
from vtoonify_addon.core.job_runner import PolledJob

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client(engine_api, burst_engine):
    c = engine_api.EngineClient.connect(burst_engine[1], timeout_s=10)
    yield c
    c.close()


def _settings(tmp_path, **changes) -> dict:
    return {"source": "/nonexistent/529_2.mp4", "output": str(tmp_path / "out"), "frames": "1-2",
            "name": "burst", "backend": "classic", "format": "png", **changes}


def test_a_failed_job_reports_the_problem_then_the_fix(engine_api, client, tmp_path):
    job = PolledJob(client, engine_api, _settings(tmp_path, frames="9-1"))  # the runner refuses it
    while not job.tracker.finished:
        job.tick(wait_s=0.2)
    assert job.tracker.state == "failed" and job.tracker.error["fix"] == "write it as 1-9"
    err = engine_api.error_from_dict(job.tracker.error)  # what stylize.finish_job raises
    assert isinstance(err, engine_api.FrameRangeError)
    text = report_text(err)
    assert text == "frame range '9-1' runs backwards\nFix: write it as 1-9"
    assert split_status(text) == ("frame range '9-1' runs backwards", "Fix: write it as 1-9")


def test_a_refused_submit_reports_the_problem_then_the_fix(engine_api, client, tmp_path):
    with pytest.raises(engine_api.ConfigError) as refused:
        PolledJob(client, engine_api, _settings(tmp_path, degree=7))
    assert report_text(refused.value) == "degree 7.0 is outside [0, 1]\nFix: pick a value from 0 to 1"


def test_errors_without_a_fix_stay_one_line(engine_api):
    older_engine = {"code": "input_error", "message": "cannot read frame 57 of plate.mp4 (check the file still exists)"}
    text = report_text(engine_api.error_from_dict(older_engine))
    assert text == older_engine["message"] and split_status(text) == (text, "")
    assert report_text(OSError("disk gone")) == "disk gone"
    assert report_text(engine_api.EngineError("the strip is retimed", "set its speed to 100 %")) == \
        "the strip is retimed\nFix: set its speed to 100 %"


def test_an_engine_lost_mid_render_says_to_start_it_again(engine_api, repo_root, tmp_path):
    """The engine process dies while the job renders: the job fails with what to do, not "reconnect"."""
    import os
    import signal
    import sys
    import time

    from vtoonify_addon.core.job_runner import LOST_FIX

    here = repo_root / "tests" / "addon"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo_root), str(here)]))
    proc, info = engine_api.start_engine(sys.executable, args=("--job-runner", "burst_runner:run", "--no-model-cache",
                                                               "--state-dir", str(tmp_path / "state")),
                                         connection_file=str(tmp_path / "conn.json"), env=env, timeout_s=60,
                                         entry=(str(repo_root / "tests" / "service" / "engine_entry.py"),))
    client = engine_api.EngineClient.connect(info, timeout_s=10)
    try:
        job = PolledJob(client, engine_api, _settings(tmp_path, name="slow"))  # runs until cancelled
        assert client.status(job.tracker.job)["state"] in ("queued", "running")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while not job.tracker.finished and time.monotonic() < deadline:
            job.tick(wait_s=0.2)
        assert job.tracker.state == "failed" and not job.tracker.ended_by_engine
        err = engine_api.error_from_dict(job.tracker.error)
        assert isinstance(err, engine_api.UnreachableError)
        problem, fix = report_text(err).split("\n")
        assert "connection to the engine" in problem and fix == f"Fix: {LOST_FIX}"
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()


def test_words_marked_for_the_cli_stay_out_of_the_add_on():
    """An older engine replays a newer sidecar's text as stored, marks and all: the panel dropped the words
    marked for the CLI only (``engine.errors.for_cli``), the add-on showed the farm's words and the mark
    bytes (a difference: 'scale: prepare/sidecar has 1.0, this task resolves 0.5')."""
    from engine.errors import difference, for_cli
    from vtoonify_addon.core.error_report import in_controls

    shown = in_controls(f"{difference('max_faces', 4, None)}; {for_cli('see docs/FARM.md', 'ask your TD')}", [])
    assert shown == "At Most (Faces): 4 in the render there, the default in this shot; ask your TD", repr(shown)
