"""Run an engine as a child process for the length of a ``with`` block (panel, farm tools, tests).

``start_engine`` (client.py, stdlib; re-exported here) does the starting; this adds the orderly stop:
a ``shutdown`` request first (the engine flushes its journal and removes its connection file),
SIGTERM, then kill. ``idle_timeout=`` / ``parent_pid=`` (both functions) let the engine end by
itself: after that many idle seconds, or once the parent process is gone (even after a kill -9).
"""

from __future__ import annotations

import subprocess
import sys

try:  # STDLIB ONLY and relative-import safe: scripts/build_addon.py copies this file into the add-on
    from .client import EngineClient, engine_stderr_tail, start_engine, stop_engine
    from .connection import ConnectionInfo
    from .errors import EngineError
except ImportError:
    from engine.errors import EngineError
    from engine.service.client import EngineClient, engine_stderr_tail, start_engine, stop_engine
    from engine.service.connection import ConnectionInfo


__all__ = ["EngineProcess", "start_engine", "stop_engine"]


class EngineProcess:
    """``with EngineProcess(connection_file=...) as engine: engine.connect().ping()``."""

    def __init__(self, args: list[str] | tuple[str, ...] = (), connection_file: str | None = None,
                 env: dict | None = None, timeout_s: float = 60.0, python_exe: str = sys.executable,
                 entry: tuple[str, ...] = ("-m", "engine", "serve"), cwd: str | None = None,
                 idle_timeout: float | None = None, parent_pid: int | None = None) -> None:
        self._start_args = {"python_exe": python_exe, "args": list(args), "connection_file": connection_file,
                            "env": env, "timeout_s": timeout_s, "entry": tuple(entry), "cwd": cwd,
                            "idle_timeout": idle_timeout, "parent_pid": parent_pid}
        self.proc: subprocess.Popen | None = None
        self.info: ConnectionInfo | None = None

    def start(self) -> EngineProcess:
        self.proc, self.info = start_engine(**self._start_args)
        return self

    def connect(self, timeout_s: float = 5.0) -> EngineClient:
        return EngineClient.connect(self.info, timeout_s=timeout_s)

    def stderr_tail(self) -> str:
        return engine_stderr_tail(self.proc) if self.proc else ""

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Ask for a clean shutdown; fall back to SIGTERM / kill. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                with self.connect(timeout_s=2.0) as client:
                    client.shutdown()
                self.proc.wait(timeout_s)
            except (EngineError, subprocess.TimeoutExpired):
                pass
        return stop_engine(self.proc, timeout_s)

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
