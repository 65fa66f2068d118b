"""The engines this add-on auto-started and the renders in flight, for as long as the add-on is registered.

``register()`` creates the trackers and hooks them to ``atexit``; ``unregister()`` (Blender runs it
when it quits, after dropping running operators) first cancels every render still in flight and
waits, bounded, for its partial frames to be removed, then stops every engine it started: a
``shutdown`` request, then SIGTERM, then kill. Engines found through a connection file were started
by someone else and are left running. This module holds the add-on's only lifetime state, created
by register and dropped by unregister.
"""

from __future__ import annotations

import atexit

from . import engine_client
from .core.engine_owner import StartedEngines
from .core.engine_status import exited_status, unreachable_status
from .core.live_jobs import LiveJobs

EXIT_WAIT_S = 15.0
"""How long quitting (or disabling the add-on) waits for cancelled renders to be cleaned up."""

_tracked: list[StartedEngines] = []
_jobs: list[LiveJobs] = []
_status: list = []
"""The last EngineStatus the panel asked for (a list so that the module keeps no rebindable global)."""
_watch: list = []
"""The status watch's timer function (``operators.start_status_watch``) while the add-on is registered."""


def keep_watch(tick) -> None:
    if tick is not None:
        _watch.append(tick)


def drop_watch():
    """The status watch's timer function, forgotten here (None when there is none)."""
    return _watch.pop() if _watch else None


def last_status():
    """The last EngineStatus asked for; a "running" one whose engine (started by this add-on) has since
    exited becomes a not-running one that says how it ended (a cheap ``poll``: fine in a panel draw)."""
    status = _status[-1] if _status else None
    owner = current()
    if status is not None and status.running and status.pid and owner is not None:
        code = owner.exit_code(status.pid)
        if code is not None:
            status = exited_status(code)
            _status[:] = [status]
    return status


def note_failure(err: BaseException) -> bool:
    """A request (Stylize, Preview) that could not reach the engine: the panel says so at once instead
    of the last "running" (no process check: an external engine may be behind an SSH tunnel). True
    when the status changed."""
    status = unreachable_status(err)
    if status is not None:
        remember_status(status)
    return status is not None


def remember_status(status) -> None:
    """Keep ``status`` for the panel (None forgets it)."""
    _status[:] = [status] if status is not None else []


def current() -> StartedEngines | None:
    """The tracker of the registered add-on (None when not registered)."""
    return _tracked[-1] if _tracked else None


def live_jobs() -> LiveJobs | None:
    """The renders in flight (None when the add-on is not registered)."""
    return _jobs[-1] if _jobs else None


def start_tracking() -> StartedEngines:
    owner = StartedEngines()
    _tracked.append(owner)
    _jobs.append(LiveJobs())
    atexit.register(stop_all)
    return owner


def stop_all() -> list[int | None]:
    """Cancel the renders in flight (their partial frames removed, up to ``EXIT_WAIT_S``), then stop
    every engine the add-on started (safe to call twice)."""
    for jobs in list(_jobs):
        jobs.abandon_all()
        if not jobs.wait(EXIT_WAIT_S):
            print("VToonify: a cancelled render did not end in time; its partial frames may remain")
    codes: list[int | None] = []
    for owner in list(_tracked):
        codes += owner.stop_all(engine_client.load())
    return codes


def stop_tracking() -> list[int | None]:
    codes = stop_all()
    _tracked.clear()
    _jobs.clear()
    _status.clear()
    atexit.unregister(stop_all)
    return codes
