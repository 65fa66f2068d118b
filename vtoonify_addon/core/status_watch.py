"""The panel's engine line kept true without a Refresh: while it says the engine is not running (or was
never asked), a timer asks again every few seconds, so an engine started from a terminal, the farm
tools or another Blender shows up by itself. No bpy.

A running engine is never asked: a request is activity, and asking every few seconds would keep an
engine with an idle timeout from ever exiting. That an add-on-started engine has exited the panel
learns from its process (``engines.last_status``); that another one has gone, from the next request
that cannot reach it (``engines.note_failure``). The check never starts an engine (``auto_start`` off).
"""

from __future__ import annotations

from collections.abc import Callable

WATCH_INTERVAL_S = 5.0
"""Seconds between two checks while the engine is not running (a check of an absent engine costs a
failed loopback connect, or a missing connection file)."""
POLL_S = 0.2
"""How soon a tick looks again at a check still in flight."""


class StatusWatch:
    """One timer's state: at most one check in flight, its answer handed to ``on_status``.

    ``start_check()`` returns a started ``BackgroundCall`` of ``query_status`` (auto-start off);
    ``current()`` the status the panel shows (None: never asked). An answer replaces the shown status
    when the engine answered, or when nothing was shown yet; a "still not running" answer leaves the
    last message (how the engine ended, what to do) in place.
    """

    def __init__(self, start_check: Callable[[], object], current: Callable[[], object],
                 on_status: Callable[[object], None], interval_s: float = WATCH_INTERVAL_S) -> None:
        self.start_check = start_check
        self.current = current
        self.on_status = on_status
        self.interval_s = interval_s
        self._check = None

    @property
    def checking(self) -> bool:
        return self._check is not None

    def tick(self) -> float:
        """Run from a timer; returns the seconds until the next tick."""
        if self._check is not None:
            if not self._check.done:
                return POLL_S
            check, self._check = self._check, None
            try:
                status = check.outcome()
            except Exception:  # a failed background check changes nothing shown
                return self.interval_s
            shown = self.current()
            if shown is None or (status.running and not shown.running):
                self.on_status(status)
            return self.interval_s
        shown = self.current()
        if shown is not None and shown.running:
            return self.interval_s
        self._check = self.start_check()
        return POLL_S
