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
_depth = threading.local()
"""How deep this thread is in ``writing()``: the writes inside one that began (a frame's matte files after
its beauty EXR) go on after the gate closes, so a frame's files land together."""


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Around one write (an atomic file, or a frame's set of them): JobCancelled before anything is
    created once the gate is closed, unless this thread is inside a write that began before."""
    global _in_flight
    depth = getattr(_depth, "value", 0)
    if depth == 0:
        with _state:
            if _closed:
                raise JobCancelled("job cancelled")
            _in_flight += 1
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth
        if depth == 0:
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
