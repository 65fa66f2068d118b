"""Run one slow call (connect, auto-start, preview) on a worker thread so Blender's UI never freezes.

The main thread only ever asks ``done``/``outcome()`` from a timer callback; the worker never
touches bpy. Mutable on purpose: one per call, owned by whoever started it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundCall:
    """``fn()`` on a daemon thread; ``outcome()`` returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], object], name: str = "vtoonify-background") -> None:
        self._fn = fn
        self._value: object = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as err:  # handed to the main thread by outcome()
            self._error = err
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the call ends (tests, background mode); True when it has."""
        return self._done.wait(timeout_s)

    def outcome_when_done(self):
        """Block until the call ends, then its outcome (background mode and scripts only)."""
        self.wait()
        return self.outcome()

    def outcome(self):
        """The call's return value; re-raises what it raised. Only valid once ``done``."""
        if not self._done.is_set():
            raise RuntimeError("the background call has not finished yet")
        if self._error is not None:
            raise self._error
        return self._value


def timer_callback(call: BackgroundCall, on_done: Callable[[BackgroundCall], None],
                   interval_s: float = 0.2) -> Callable[[], float | None]:
    """A ``bpy.app.timers`` function: re-run every ``interval_s`` until ``call`` ends, then ``on_done(call)``
    once on the main thread (returning None unregisters the timer)."""
    def tick() -> float | None:
        if not call.done:
            return interval_s
        on_done(call)
        return None

    return tick
