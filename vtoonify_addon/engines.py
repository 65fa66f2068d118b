"""The engines this add-on auto-started, for as long as the add-on is registered.

``register()`` creates the tracker and hooks it to ``atexit``; ``unregister()`` (and Blender's
exit) stops every engine in it: a ``shutdown`` request, then SIGTERM, then kill. Engines found
through a connection file were started by someone else and are left running. This module holds
the add-on's only lifetime state, created by register and dropped by unregister.
"""

from __future__ import annotations

import atexit

from . import engine_client
from .core.engine_owner import StartedEngines

_tracked: list[StartedEngines] = []
_status: list = []
"""The last EngineStatus the panel asked for (a list so that the module keeps no rebindable global)."""


def last_status():
    return _status[-1] if _status else None


def remember_status(status) -> None:
    """Keep ``status`` for the panel (None forgets it)."""
    _status[:] = [status] if status is not None else []


def current() -> StartedEngines | None:
    """The tracker of the registered add-on (None when not registered)."""
    return _tracked[-1] if _tracked else None


def start_tracking() -> StartedEngines:
    owner = StartedEngines()
    _tracked.append(owner)
    atexit.register(stop_all)
    return owner


def stop_all() -> list[int | None]:
    """Stop every engine the add-on started (safe to call twice)."""
    codes: list[int | None] = []
    for owner in list(_tracked):
        codes += owner.stop_all(engine_client.load())
    return codes


def stop_tracking() -> list[int | None]:
    codes = stop_all()
    _tracked.clear()
    _status.clear()
    atexit.unregister(stop_all)
    return codes
