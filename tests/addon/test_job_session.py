"""Connect/submit off the main thread, non-blocking ticks, cancel and abandon: against a real engine
service (burst_runner pipeline) reached through a real proxy that delays every connection."""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time

import pytest

from vtoonify_addon.core.background import BackgroundCall, timer_callback
from vtoonify_addon.core.engine_link import EngineLaunchSettings, connect, preview_frame
from vtoonify_addon.core.job_session import CONNECTING, FINISHED, RUNNING, JobSession

pytestmark = pytest.mark.timeout(60)
DELAY_S = 1.0


@pytest.fixture()
def slow_connector(engine_api, burst_engine, delaying_proxy, tmp_path):
    """The operator's real connect path (engine_link.connect via a connection file) taking DELAY_S."""
    _proc, info = burst_engine
    proxy = delaying_proxy((info.host, info.port), DELAY_S)
    conn = tmp_path / "proxied.json"
    conn.write_text(json.dumps(dict(dataclasses.asdict(info), port=proxy.port, path=None)))
    settings = EngineLaunchSettings(connection_file=str(conn), auto_start=False, connect_timeout_s=10)
    return functools.partial(connect, settings, engine_api)


def _settings(out, frames: str, name: str) -> dict:
    return {"source": "/nonexistent/529_2.mp4", "output": str(out), "frames": frames, "name": name,
            "backend": "classic", "format": "png"}


def _drive(session: JobSession, deadline_s: float = 30.0) -> tuple[list[str], float]:
    """Tick like Blender's modal timer; returns the phases seen and the slowest tick."""
    phases, slowest = [], 0.0
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        phase = session.tick()
        slowest = max(slowest, time.monotonic() - t0)
        phases.append(phase)
        if phase == FINISHED:
            break
        time.sleep(0.02)
    return phases, slowest


def test_slow_connect_never_blocks_a_tick(engine_api, slow_connector, tmp_path):
    t0 = time.monotonic()
    session = JobSession(slow_connector, engine_api, _settings(tmp_path, "1-6", "burst"))
    assert time.monotonic() - t0 < 0.1, "creating the session waited for the connection"
    phases, slowest = _drive(session)
    assert phases[-1] == FINISHED and session.start_error is None
    assert phases.count(CONNECTING) >= 10  # ~1 s of ticks while the connection was held back
    assert slowest < 0.1, f"a tick blocked for {slowest:.2f}s"
    tracker = session.job.tracker
    assert tracker.state == "done" and tracker.ended_by_engine
    assert tracker.written == [str(tmp_path / f"burst.{n:04d}.png") for n in range(1, 7)]
    session.close()
    assert session.job.client.closed


def test_cancel_while_connecting_cancels_the_job_once_submitted(engine_api, slow_connector, tmp_path):
    session = JobSession(slow_connector, engine_api, _settings(tmp_path, "1-5", "slow"))
    session.cancel()  # the job does not exist yet
    assert session.tick() == CONNECTING
    phases, _ = _drive(session)
    assert phases[-1] == FINISHED
    assert session.job is not None and session.job.tracker.state == "cancelled"
    assert session.job.tracker.ended_by_engine  # the engine itself confirmed it
    session.close()


def test_unreachable_engine_ends_with_the_start_error(engine_api, tmp_path):
    settings = EngineLaunchSettings(connection_file=str(tmp_path / "none.json"), auto_start=False)
    session = JobSession(functools.partial(connect, settings, engine_api), engine_api,
                         _settings(tmp_path, "1", "burst"))
    phases, _ = _drive(session, 10)
    assert phases[-1] == FINISHED and session.job is None
    assert isinstance(session.start_error, engine_api.EngineError)
    assert "not running" in session.start_error.message


def test_abandon_cleans_up_only_after_the_engine_confirms(engine_api, burst_engine, tmp_path):
    _proc, info = burst_engine
    session = JobSession(lambda: engine_api.EngineClient.connect(info, timeout_s=10), engine_api,
                         _settings(tmp_path, "1-5", "slow"))
    while session.tick() != RUNNING:
        time.sleep(0.02)
    job_id = session.job.tracker.job
    calls = []
    t0 = time.monotonic()
    worker = session.abandon(lambda ended: calls.append((ended, threading.current_thread().name)))
    assert time.monotonic() - t0 < 0.05, "abandon blocked the caller"
    worker.join(20)
    assert calls == [(True, "vtoonify-abandon")]
    assert session.job.client.closed
    with engine_api.EngineClient.connect(info, timeout_s=10) as other:
        assert other.status(job_id)["state"] == "cancelled"


def test_abandon_before_anything_was_submitted(engine_api, tmp_path):
    settings = EngineLaunchSettings(connection_file=str(tmp_path / "none.json"), auto_start=False)
    session = JobSession(functools.partial(connect, settings, engine_api), engine_api, _settings(tmp_path, "1", "x"))
    calls = []
    session.abandon(calls.append).join(10)
    assert calls == [True]


def test_preview_worker_and_timer_callback(engine_api, slow_connector, tmp_path):
    """What the Preview operator hands to bpy.app.timers: quick re-arming ticks, one on_done."""
    bad = _settings(tmp_path, "1", "p") | {"degree": 7.0}  # refused by the engine without rendering
    worker = BackgroundCall(functools.partial(preview_frame, slow_connector, bad, 1))
    done = []
    tick = timer_callback(worker, done.append, interval_s=0.05)
    intervals, slowest = [], 0.0
    while True:
        t0 = time.monotonic()
        interval = tick()
        slowest = max(slowest, time.monotonic() - t0)
        if interval is None:
            break
        intervals.append(interval)
        time.sleep(interval)
    assert len(intervals) >= 10 and set(intervals) == {0.05} and slowest < 0.05
    assert done == [worker]
    # the engine's typed error comes back through the worker to the main thread
    with pytest.raises(engine_api.EngineError, match="degree"):
        worker.outcome()


def test_background_call_returns_value_and_waits(engine_api, burst_engine):
    _proc, info = burst_engine
    call = BackgroundCall(lambda: engine_api.EngineClient.connect(info, timeout_s=10))
    assert call.wait(10) and call.done
    client = call.outcome()
    try:
        assert client.ping()["ok"]
    finally:
        client.close()
    pending = BackgroundCall(lambda: time.sleep(0.3))
    with pytest.raises(RuntimeError, match="not finished"):
        pending.outcome()
