"""Closing the panel: the window goes away at once, the UI thread keeps ticking, and no engine the
panel started (or was still starting) outlives the teardown.

Real processes and sockets throughout: stand-in engine children that never come up (one exits 1 s
after SIGTERM, one ignores it and must be killed), so "during start" is certain; the real
``python -m engine serve`` closed while it is still starting; and a joined engine (a socket server
in this test) that never answers a request, or answers hello only after the close.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import threading
import time

from engine.service.connection import pid_alive

GAP_LIMIT_S = 0.7  # the stalls guarded against last >= 1 s; a loaded 2-core CI box adds ~0.3 s of noise
CLOSE_CALL_LIMIT_S = 0.7  # a blocking close waits >= 1 s (the stand-in engine sleeps 1 s on SIGTERM)
TEARDOWN_LIMIT_MS = 10_000
QUICK_TEARDOWN_S = 3.0  # far below the 30 s request timeout and the 120 s start timeout
# Stand-in engines that never come up. argv[2] is the connection file (``--connection-file PATH``);
# "<PATH>.ready" says the SIGTERM handler is in place, so the close surely meets it.
SLOW_TO_EXIT_ENGINE = ("-c", "import pathlib, signal, sys, time\n"
                             "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.0), sys.exit(0)))\n"
                             "pathlib.Path(sys.argv[2] + '.ready').touch()\n"
                             "time.sleep(300)\n")
DEAF_ENGINE = ("-c", "import pathlib, signal, sys, time\n"
                     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                     "pathlib.Path(sys.argv[2] + '.ready').touch()\n"
                     "time.sleep(300)\n")


def _make_window(qtbot, ini_settings, api=None, connection_file=None, stop_timeout_s=5.0):
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    bridge = EngineBridge(api=api, connection_file=str(connection_file) if connection_file else None,
                          start_timeout_s=120, stop_timeout_s=stop_timeout_s)
    window = MainWindow(bridge, ini_settings)
    qtbot.addWidget(window)
    return window


def _close_and_watch(window, qtbot, tick_monitor) -> tuple[float, float]:
    """Close the window with the tick monitor running until the teardown ends; returns how long
    ``close()`` itself held the UI thread and how long the whole teardown took."""
    tick_monitor.start()
    qtbot.wait(60)  # a few ticks before the close, so a stall in close() shows as a gap
    began = time.monotonic()
    window.close()
    close_s = time.monotonic() - began
    assert not window.isVisible()
    qtbot.waitUntil(lambda: window.bridge.is_stopped, timeout=TEARDOWN_LIMIT_MS)
    teardown_s = time.monotonic() - began
    qtbot.wait(60)
    tick_monitor.stop()
    return close_s, teardown_s


def _gone(pid: int) -> bool:
    return not pid_alive(pid)


def _start_stand_in(qtbot, ini_settings, tmp_path, entry, stop_timeout_s=5.0):
    """A window whose "Start engine" runs ``entry``; returns (window, process) once it is starting."""
    from ui.engine_bridge import EngineApi

    api = dataclasses.replace(EngineApi.default(), engine_entry=entry)
    connection_file = tmp_path / "never.json"
    window = _make_window(qtbot, ini_settings, api, connection_file, stop_timeout_s)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.bridge.started_process is not None and window.indicator.state == "connecting"
                    and (tmp_path / "never.json.ready").exists(), timeout=10_000)
    process = window.bridge.started_process
    assert process.poll() is None
    return window, process


def test_closing_during_a_start_that_never_finishes(qtbot, ini_settings, tmp_path, tick_monitor):
    window, process = _start_stand_in(qtbot, ini_settings, tmp_path, SLOW_TO_EXIT_ENGINE)

    close_s, teardown_s = _close_and_watch(window, qtbot, tick_monitor)

    assert close_s < CLOSE_CALL_LIMIT_S, f"close() held the UI thread {close_s:.3f} s"
    # the engine takes 1 s to exit after SIGTERM: the teardown waited for it, the UI thread did not
    assert 0.9 < teardown_s < QUICK_TEARDOWN_S, f"teardown took {teardown_s:.2f} s"
    assert process.poll() == 0 and _gone(process.pid)  # its clean exit, not a kill
    assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"
    assert window.indicator.state == "connecting"  # a close is no error: nothing was reported
    assert not any(m.startswith("error [") for m in window.status_log.messages())


def test_an_engine_deaf_to_sigterm_is_killed_after_the_grace_period(qtbot, ini_settings, tmp_path, tick_monitor):
    window, process = _start_stand_in(qtbot, ini_settings, tmp_path, DEAF_ENGINE, stop_timeout_s=1.0)

    close_s, teardown_s = _close_and_watch(window, qtbot, tick_monitor)

    assert close_s < CLOSE_CALL_LIMIT_S, f"close() held the UI thread {close_s:.3f} s"
    assert 0.9 < teardown_s < QUICK_TEARDOWN_S, f"teardown took {teardown_s:.2f} s"
    assert process.poll() == -signal.SIGKILL and _gone(process.pid)  # SIGKILL once the grace period ran out
    assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"


def test_closing_while_the_real_engine_starts_leaves_no_engine(qtbot, ini_settings, tmp_path, tick_monitor,
                                                                monkeypatch):
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    connection_file = tmp_path / "starting.json"
    window = _make_window(qtbot, ini_settings, connection_file=connection_file)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.bridge.started_process is not None and window.indicator.state == "connecting",
                    timeout=10_000)
    process = window.bridge.started_process
    assert window.bridge.state == "connecting", "the engine came up before the close could be tested"

    close_s, _ = _close_and_watch(window, qtbot, tick_monitor)

    assert close_s < CLOSE_CALL_LIMIT_S, f"close() held the UI thread {close_s:.3f} s"
    assert process.poll() is not None and _gone(process.pid)
    if connection_file.exists():  # written just before the SIGTERM: whoever it names is gone too
        assert _gone(json.loads(connection_file.read_text())["pid"])
    assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"


class _SilentEngine:
    """Accepts connections, answers hello (after ``hello_delay_s``), then never answers anything:
    a hung engine. ``hung_up`` is set when a client that said hello closes its connection."""

    def __init__(self, hello_delay_s: float = 0.0) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hello_delay_s = hello_delay_s
        self.hello_seen = threading.Event()
        self.requests_seen = threading.Event()
        self.hung_up = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def write_connection_file(self, path) -> None:
        path.write_text(json.dumps({"host": "127.0.0.1", "port": self.port, "token": "t",
                                    "pid": os.getpid(), "protocol": 1}))

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            if not reader.readline():
                return  # a liveness probe, not a client
            self.hello_seen.set()
            time.sleep(self.hello_delay_s)
            conn.sendall(b'{"id": null, "ok": true, "client_id": "c1", "engine_version": "test"}\n')
            while reader.readline():
                self.requests_seen.set()  # and never answer
        except OSError:
            pass
        self.hung_up.set()

    def close(self) -> None:
        self.listener.close()
        for conn in self._conns:
            conn.close()


def test_closing_while_a_joined_engine_hangs(qtbot, ini_settings, tmp_path, tick_monitor):
    engine = _SilentEngine()
    connection_file = tmp_path / "hung.json"
    engine.write_connection_file(connection_file)
    try:
        window = _make_window(qtbot, ini_settings, connection_file=connection_file)
        window.connect_button.click()
        qtbot.waitUntil(engine.requests_seen.is_set, timeout=10_000)  # capabilities asked, never answered
        qtbot.waitUntil(lambda: window.indicator.state == "connecting", timeout=5_000)

        close_s, teardown_s = _close_and_watch(window, qtbot, tick_monitor)

        assert close_s < CLOSE_CALL_LIMIT_S, f"close() held the UI thread {close_s:.3f} s"
        assert teardown_s < QUICK_TEARDOWN_S, f"teardown took {teardown_s:.1f} s (waited for the reply?)"
        assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"
        assert window.bridge.started_process is None  # joined, not started: nothing of ours to stop
        assert engine.hung_up.wait(2), "the panel's connection stayed open after the close"
    finally:
        engine.close()


def test_a_connection_that_opens_after_the_close_is_dropped(qtbot, ini_settings, tmp_path, tick_monitor):
    engine = _SilentEngine(hello_delay_s=1.0)  # the close lands while the control thread waits on hello
    connection_file = tmp_path / "slow-hello.json"
    engine.write_connection_file(connection_file)
    try:
        window = _make_window(qtbot, ini_settings, connection_file=connection_file)
        window.connect_button.click()
        qtbot.waitUntil(engine.hello_seen.is_set, timeout=10_000)

        close_s, teardown_s = _close_and_watch(window, qtbot, tick_monitor)

        assert close_s < CLOSE_CALL_LIMIT_S, f"close() held the UI thread {close_s:.3f} s"
        assert teardown_s < QUICK_TEARDOWN_S, f"teardown took {teardown_s:.1f} s"
        assert engine.hung_up.wait(2), "the connection opened after the close was kept"
        assert not engine.requests_seen.is_set(), "the panel kept talking to the engine after the close"
        assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"
    finally:
        engine.close()
