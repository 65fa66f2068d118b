"""The status watch (``core.status_watch``): a timer keeps the panel's "not running" line true by
asking a REAL engine service in the background, never asks a running one, and never starts one."""

from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path

from vtoonify_addon.core.background import BackgroundCall
from vtoonify_addon.core.engine_link import EngineLaunchSettings, connect
from vtoonify_addon.core.engine_status import EngineStatus, query_status
from vtoonify_addon.core.status_watch import POLL_S, StatusWatch


class Panel:
    """What the panel shows, and every status handed to it."""

    def __init__(self, status=None) -> None:
        self.status, self.seen = status, []

    def show(self, status) -> None:
        self.status = status
        self.seen.append(status)


def watch_for(conn: Path, api, panel: Panel, checks: list) -> StatusWatch:
    settings = EngineLaunchSettings(connection_file=str(conn), auto_start=False, connect_timeout_s=5.0)

    def start_check():
        checks.append(time.monotonic())
        return BackgroundCall(partial(query_status, partial(connect, settings, api), api))

    return StatusWatch(start_check, lambda: panel.status, panel.show, interval_s=0.5)


def run_until(watch: StatusWatch, done, limit_s: float = 30.0) -> None:
    """Tick as Blender's timer would (sleeping what each tick asks for) until ``done()``."""
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, "the watch did not get there in time"
        time.sleep(watch.tick())


def test_an_engine_started_elsewhere_shows_up_without_a_refresh(engine_api, burst_engine, tmp_path):
    _proc, info = burst_engine
    conn = tmp_path / "engine.json"  # nothing there yet: the engine is not running
    panel, checks = Panel(), []
    watch = watch_for(conn, engine_api, panel, checks)
    run_until(watch, lambda: panel.seen)  # never asked before: the first answer is shown, whatever it is
    assert not panel.status.running and panel.status.unreachable
    assert "not running" in panel.status.summary() and "Auto-start" in panel.status.error
    shown = panel.status
    run_until(watch, lambda: len(checks) >= 3)
    assert panel.status is shown  # "still not running" keeps the message shown
    assert info.path, info  # the connection file that engine wrote, copied where the panel looks
    shutil.copy(info.path, conn)
    run_until(watch, lambda: panel.status.running)  # an engine appeared: the line says so by itself
    assert panel.status.pid == info.pid and "Auto uses" in panel.status.summary()
    asked = len(checks)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # a running engine is never asked (it would never go idle)
        time.sleep(watch.tick())
    assert len(checks) == asked and not watch.checking


def test_a_check_in_flight_is_polled_and_a_failed_check_changes_nothing():
    class Slow:
        done = False

        def outcome(self):
            raise RuntimeError("boom")

    slow = Slow()
    shown = EngineStatus(running=False, error="it exited with code 3")
    panel = Panel(shown)
    watch = StatusWatch(lambda: slow, lambda: panel.status, panel.show, interval_s=7.0)
    assert watch.tick() == POLL_S and watch.checking
    assert watch.tick() == POLL_S  # still in flight: no second check
    slow.done = True
    assert watch.tick() == 7.0 and not watch.checking
    assert panel.status is shown and not panel.seen
