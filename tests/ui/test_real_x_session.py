"""The panel in a real X session (Xvfb + the xcb platform, not offscreen): started as a user starts
it (``python -m ui``), driven with real key presses through the X server (xdotool). Skipped where
Xvfb or xdotool is missing."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("Xvfb")
                                      and shutil.which("xdotool")), reason="needs Xvfb and xdotool")]


@pytest.fixture
def x_display(tmp_path):
    """A private Xvfb server at 1280x720; yields its DISPLAY (the server picks a free number)."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), "Xvfb did not report its display"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def _xdotool(display: str, *args: str, timeout: float = 20) -> str:
    proc = subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=display), capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"xdotool {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def _wait_window(display: str, name: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name],
                               env=dict(os.environ, DISPLAY=display), capture_output=True, text=True, check=False)
        if found.stdout.strip():
            return found.stdout.split()[0]
        time.sleep(0.2)
    raise AssertionError(f"no window named {name!r} within {timeout_s} s")


def test_keyboard_only_source_output_and_quit(x_display, repo_root, media_dir, tmp_path):
    """Typed source (focus starts in its field), Tab commits it, Ctrl+Shift+O picks the output folder
    in the file dialog, Ctrl+Q closes the panel, which saves what was entered."""
    source = str(media_dir / "529_2.mp4")
    out_dir = tmp_path / "renders"
    out_dir.mkdir()
    env = dict(os.environ, DISPLAY=x_display, XDG_CONFIG_HOME=str(tmp_path / "config"),
               VTOONIFY_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(repo_root))
    env.pop("QT_QPA_PLATFORM", None)  # the real xcb platform
    panel = subprocess.Popen([sys.executable, "-m", "ui", "--connection-file", str(tmp_path / "none.json")],
                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = _wait_window(x_display, "VToonify Studio")
        _xdotool(x_display, "windowfocus", "--sync", window)  # what a window manager does on map
        _xdotool(x_display, "type", "--delay", "2", source)
        _xdotool(x_display, "key", "Tab")
        _xdotool(x_display, "key", "ctrl+shift+o")
        dialog = _wait_window(x_display, "Output folder", timeout_s=20)
        _xdotool(x_display, "windowfocus", "--sync", dialog)
        _xdotool(x_display, "type", "--delay", "2", str(out_dir))
        _xdotool(x_display, "key", "Return")
        time.sleep(0.5)
        _xdotool(x_display, "windowfocus", "--sync", window)
        _xdotool(x_display, "key", "ctrl+q")
        output, _ = panel.communicate(timeout=60)
    finally:
        if panel.poll() is None:
            panel.kill()
            panel.communicate()
    assert panel.returncode == 0, output[-3000:]
    saved = configparser.ConfigParser(interpolation=None)
    saved.read(tmp_path / "config" / "VToonifyStudio" / "Panel.conf")
    assert saved.get("shot", "source") == source
    assert Path(saved.get("shot", "output")) == out_dir
