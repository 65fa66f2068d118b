"""PolledJob against a real engine service process whose pipeline is a fast stand-in (burst_runner)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vtoonify_addon.core.job_runner import PolledJob, run_job

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def api(engine_api):
    return engine_api


@pytest.fixture(scope="module")
def client(engine_api, burst_engine):
    """A client of the session's burst engine (conftest), closed after this module."""
    c = engine_api.EngineClient.connect(burst_engine[1], timeout_s=10)
    yield c
    c.close()


def _settings(out: Path, frames: str, name: str) -> dict:
    return {"source": "/nonexistent/529_2.mp4", "output": str(out), "frames": frames, "name": name,
            "backend": "classic", "format": "png"}


def test_ticks_feed_every_queued_event_without_blocking(api, client, tmp_path):
    job = PolledJob(client, api, _settings(tmp_path, "1-40", "burst"))
    time.sleep(0.5)  # let all 80+ events pile up in the queue, as between two timer ticks
    slowest = 0.0
    deadline = time.monotonic() + 30
    while not job.tracker.finished and time.monotonic() < deadline:
        t0 = time.monotonic()
        job.tick()
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.02)
    tracker = job.tracker
    assert tracker.state == "done", tracker.error
    assert tracker.written == [str(tmp_path / f"burst.{n:04d}.png") for n in range(1, 41)]
    assert tracker.result["count"] == 40 and tracker.fraction == 1.0
    assert slowest < 0.1


def test_cancel_ends_in_cancelled_state(api, client, tmp_path):
    job = PolledJob(client, api, _settings(tmp_path, "1-5", "slow"))
    job.tick()
    assert not job.tracker.finished
    job.cancel()
    deadline = time.monotonic() + 20
    while not job.tracker.finished and time.monotonic() < deadline:
        job.tick(wait_s=0.1)
    assert job.tracker.state == "cancelled"


def test_run_job_cancels_when_progress_says_stop(api, client, tmp_path):
    seen = []
    tracker = run_job(client, api, _settings(tmp_path, "1-3", "slow"), progress=lambda t: seen.append(1) or False,
                      poll_s=0.05)
    assert tracker.state == "cancelled" and seen


def test_bad_settings_are_refused_at_submit(api, client, tmp_path):
    with pytest.raises(api.EngineError, match="degree"):
        PolledJob(client, api, _settings(tmp_path, "1-3", "burst") | {"degree": 7.0})
