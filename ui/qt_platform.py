"""Say why the panel cannot open on this Linux desktop before Qt tries, instead of Qt's abort.

Qt's xcb platform plugin needs a dozen system libraries PySide6 does not ship; with one missing, or
no reachable X server, Qt stops the process with "Could not load the Qt platform plugin xcb" (a core
dump, no name of the library). Here the libraries are loaded one by one and the display is
connected to first, so the panel can name the missing library, the apt package and the display.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3",
}
"""What Qt's xcb plugin (libqxcb.so, libQt6XcbQpa.so) links from the system -> the Debian/Ubuntu package."""


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will open the panel through xcb (X11): asked for by name, or the default on a
    Linux desktop that is not a Wayland session. A fallback list (``xcb;offscreen``) is Qt's to try."""
    if not sys.platform.startswith("linux"):
        return False
    asked = env.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return asked == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def display_problem(display: str, connect: Callable[[str], bool] | None = None) -> str | None:
    """Why the X display cannot be used ('' display: unset), or None when it answers."""
    if not display:
        return "no X display: DISPLAY is not set"
    if not (connect or _x_server_answers)(display):
        return f"the X display {display} cannot be reached (no X server answers there)"
    return None


def _x_server_answers(display: str) -> bool:
    """Connect to ``display`` with libxcb (what Qt does first) and hang up."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # the missing library is reported instead
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return bool(connection) and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection:
            xcb.xcb_disconnect(connection)


def startup_problem(env: Mapping[str, str] | None = None, loads: Callable[[str], bool] = _loads,
                    connect: Callable[[str], bool] | None = None) -> tuple[str, str] | None:
    """(problem, fix) when Qt could not open the panel through xcb here; None when it can (or
    another platform is used)."""
    env = os.environ if env is None else env
    if not uses_xcb(env):
        return None
    missing = [name for name in XCB_LIBRARIES if not loads(name)]
    if missing:
        packages = " ".join(dict.fromkeys(XCB_LIBRARIES[name] for name in missing))
        return (f"Qt's X11 (xcb) platform needs system libraries that are missing: {', '.join(missing)}",
                f"install them: sudo apt-get install {packages} (other distributions: the packages "
                "that hold these files; README, 'Panel on a fresh machine')")
    problem = display_problem(env.get("DISPLAY", ""), connect)
    if problem:
        return problem, ("start the panel inside a desktop session (or ssh -X), set DISPLAY to a running "
                         "X server, or run it headless with QT_QPA_PLATFORM=offscreen")
    return None
