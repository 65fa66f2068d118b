"""The renders in flight, so that whatever ends them from outside cancels them cleanly (no bpy).

Blender drops a running modal operator when a file is opened or Blender quits (its ``cancel`` runs),
and then disables the add-on, which stops the engines it started. The engine job is cancelled and
its partial frames removed on a worker thread (never blocking the UI); ``wait`` lets the add-on's
unregister finish that work, bounded, before the engines and the process go, so neither an orphan
job nor a half-written version folder is left behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LiveJobs:
    """Mutable on purpose: one per registered add-on. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[object, Callable[[bool], None], str]] = {}
        self._cleanups: list[threading.Thread] = []
        self._ended: list[str] = []

    def add(self, session, on_stopped: Callable[[bool], None], label: str) -> None:
        """``session``: a ``JobSession``; ``on_stopped(ended)`` removes its partial output."""
        with self._lock:
            self._live[id(session)] = (session, on_stopped, label)

    def done(self, session) -> None:
        """The render ended through its operator (finished, failed or cancelled by the artist)."""
        with self._lock:
            self._live.pop(id(session), None)

    def labels(self) -> list[str]:
        with self._lock:
            return [label for _session, _cb, label in self._live.values()]

    def abandon(self, session) -> threading.Thread | None:
        """Cancel ``session``'s job and clean up once the engine confirms (on a worker thread)."""
        with self._lock:
            entry = self._live.pop(id(session), None)
        if entry is None:
            return None
        thread = entry[0].abandon(entry[1])
        with self._lock:
            self._cleanups = [t for t in self._cleanups if t.is_alive()] + [thread]
            self._ended.append(entry[2])
        return thread

    def take_ended(self) -> list[str]:
        """Labels of the renders abandoned since the last call (what a new file's status tells)."""
        with self._lock:
            ended, self._ended = self._ended, []
        return ended

    def abandon_all(self) -> list[str]:
        """Abandon every live render; returns their labels (what to tell the artist)."""
        with self._lock:
            entries = list(self._live.values())
        for session, _cb, _label in entries:
            self.abandon(session)
        return [label for _session, _cb, label in entries]

    def wait(self, timeout_s: float) -> bool:
        """Block until every cleanup ended or ``timeout_s`` passed; True when all ended."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._cleanups)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._cleanups = [t for t in self._cleanups if t.is_alive()]
            return not self._cleanups
