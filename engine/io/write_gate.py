"""The file writes in flight in this process, so a process that gives up on a job (Ctrl-C inside a step
that never checks cancel: a 1.2 GB model load, a frame on one thread) can end at once without leaving a
half-written file: it closes the gate, waits for the writes already started to be renamed into place (or
their temps removed), and every later write is refused before its temp exists."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from engine.errors import JobCancelled

_state = threading.Condition()
_in_flight = 0
_closed = False


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Around one atomic write: JobCancelled before anything is created once the gate is closed."""
    global _in_flight
    with _state:
        if _closed:
            raise JobCancelled("job cancelled")
        _in_flight += 1
    try:
        yield
    finally:
        with _state:
            _in_flight -= 1
            _state.notify_all()


def close(timeout_s: float) -> bool:
    """Refuse every new write and wait up to ``timeout_s`` for those in flight; True when none is left
    (the process may then end without a partial file), False when one is still stuck (a stalled mount)."""
    global _closed
    deadline = time.monotonic() + timeout_s
    with _state:
        _closed = True
        while _in_flight:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _state.wait(left)
        return True


def in_flight() -> int:
    """How many writes are under way now (tests)."""
    with _state:
        return _in_flight
