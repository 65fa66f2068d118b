"""Before Qt opens the panel through xcb, a missing system library or an unreachable X display is
reported by name with its fix (Qt itself aborts with "Could not load the Qt platform plugin")."""

from __future__ import annotations

import os
import subprocess
import sys

from ui.qt_platform import XCB_LIBRARIES, startup_problem, uses_xcb

X11 = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}


def test_missing_library_is_named_with_its_apt_package():
    problem, fix = startup_problem(X11, loads=lambda name: name not in ("libxcb-cursor.so.0", "libxcb-xkb.so.1"),
                                   connect=lambda display: True)
    assert "libxcb-cursor.so.0, libxcb-xkb.so.1" in problem
    assert "sudo apt-get install libxcb-cursor0 libxcb-xkb1 " in fix


def test_every_library_loads_and_the_display_answers_then_no_problem():
    tried = []
    assert startup_problem(X11, loads=lambda name: tried.append(name) or True, connect=lambda display: True) is None
    assert tried == list(XCB_LIBRARIES)


def test_display_unset_or_unreachable_is_said_with_the_offscreen_way_out():
    problem, fix = startup_problem({"QT_QPA_PLATFORM": "xcb"}, loads=lambda name: True)
    assert problem == "no X display: DISPLAY is not set" and "QT_QPA_PLATFORM=offscreen" in fix
    problem, _ = startup_problem(X11, loads=lambda name: True, connect=lambda display: False)
    assert problem == "the X display :0 cannot be reached (no X server answers there)"


def test_other_platforms_are_left_to_qt():
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "xcb;offscreen"})  # Qt's own fallback list
    assert not uses_xcb({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"})
    assert uses_xcb({"DISPLAY": ":0"}) == sys.platform.startswith("linux")


def test_panel_process_says_why_instead_of_aborting(repo_root, tmp_path):
    """A real ``python -m ui`` on a display nobody serves: exit code 2 and the reason, no core dump."""
    if not sys.platform.startswith("linux"):
        return
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":59173", PYTHONPATH=str(repo_root),
               XDG_CONFIG_HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "ui", "--connection-file", str(tmp_path / "none.json")],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("vtoonify-panel: ") and "\nFix: " in result.stderr
    assert ("the X display :59173 cannot be reached" in result.stderr
            or "system libraries that are missing" in result.stderr), result.stderr
