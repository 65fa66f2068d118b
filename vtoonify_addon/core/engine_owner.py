"""Engines the add-on auto-started: kept so they are stopped when the add-on goes (no orphans).

An engine found through its connection file belongs to whoever started it and is never stopped
here. Thread-safe: engines are started on the connect worker thread.
"""

from __future__ import annotations

import subprocess
import threading


class StartedEngines:
    """(Popen, ConnectionInfo) of each engine this add-on started. One per registered add-on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: list[tuple[subprocess.Popen, object]] = []

    def add(self, proc: subprocess.Popen, info=None) -> None:
        """``on_start`` callback of ``engine_link.connect``."""
        with self._lock:
            self._engines.append((proc, info))

    def running(self) -> list[subprocess.Popen]:
        with self._lock:
            return [proc for proc, _ in self._engines if proc.poll() is None]

    def exit_code(self, pid: int) -> int | None:
        """The exit code of the engine with ``pid`` that this add-on started, once it has exited by
        itself (crash, kill, idle timeout); None while it runs, or for a pid it did not start."""
        with self._lock:
            procs = [proc for proc, _ in self._engines if proc.pid == pid]
        return procs[0].poll() if procs and pid else None

    def stop_all(self, api, timeout_s: float = 10.0) -> list[int | None]:
        """Ask each live engine to shut down (it flushes its journal, removes its connection file),
        then SIGTERM, then kill. Returns the exit codes; forgets the engines."""
        with self._lock:
            engines, self._engines = self._engines, []
        return [_stop(proc, info, api, timeout_s) for proc, info in engines]


def _stop(proc: subprocess.Popen, info, api, timeout_s: float) -> int | None:
    """Polite shutdown request first; the client's ``stop_engine`` (SIGTERM, then kill) if it lingers."""
    if proc.poll() is None and info is not None:
        try:
            client = api.EngineClient.connect(info, timeout_s=2.0)
            try:
                client.shutdown()
            finally:
                client.close()
            proc.wait(timeout_s)
        except (api.EngineError, OSError, subprocess.TimeoutExpired):
            pass
    return api.stop_engine(proc, timeout_s)
