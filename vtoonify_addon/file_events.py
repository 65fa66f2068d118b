"""Opening another .blend while a render runs: the render ends cleanly and the new file says so.

Blender drops running modal operators before it loads a file (their ``cancel`` runs); ``load_pre``
also abandons any render still in flight (a script's or batch job's), so no result ever lands in the
file just opened. ``load_post`` puts the notice into the new file's status line (the window
manager the old status lived on is gone).
"""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent

from . import engines

_notice: list[str] = []
"""What ``load_post`` shows: set by ``load_pre``, shown once."""


@persistent
def end_renders_before_load(_filepath="") -> None:
    jobs = engines.live_jobs()
    if jobs is not None:
        jobs.abandon_all()
    labels = jobs.take_ended() if jobs is not None else []  # also those Blender cancelled just before
    running = bool(getattr(bpy.context.window_manager, "vtoonify_running", False))
    if labels or running:
        names = ", ".join(repr(n) for n in labels) or "the running strip"
        _notice[:] = [f"VToonify: the render of {names} was cancelled because another file was opened; "
                      "its partial frames are removed"]
        print(_notice[0])


@persistent
def tell_after_load(_filepath="") -> None:
    wm = bpy.context.window_manager
    if _notice and wm is not None and hasattr(wm, "vtoonify_status"):
        wm.vtoonify_status = _notice.pop()
        wm.vtoonify_running = False


HANDLERS = (("load_pre", end_renders_before_load), ("load_post", tell_after_load))


def register() -> None:
    for name, handler in HANDLERS:
        getattr(bpy.app.handlers, name).append(handler)


def unregister() -> None:
    _notice.clear()
    for name, handler in HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
