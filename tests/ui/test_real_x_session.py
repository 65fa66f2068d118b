"""The panel in a real X session (Xvfb + the xcb platform, not offscreen): started as a user starts
it (``python -m ui``), driven with real key presses and mouse clicks through the X server
(xdotool). Skipped where Xvfb or xdotool is missing (``apt-get install xvfb xdotool``).

There is no window manager on Xvfb, so the tests give a new window the input focus themselves
(``windowfocus``), as a window manager does when a window maps."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("Xvfb")
                                      and shutil.which("xdotool")),
                                 reason="a real X session needs Xvfb and xdotool (apt-get install xvfb xdotool)")]


@pytest.fixture
def x_display(request):
    """A private Xvfb server (1280x720 unless the test's ``screen`` parameter says otherwise); yields
    its DISPLAY (the server picks a free number)."""
    screen = getattr(request, "param", "1280x720")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
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


def _panel_env(display: str, repo_root: Path, tmp_path: Path) -> dict:
    """The panel as an artist starts it (xcb), with its settings, engine state and models (none:
    the classic backend renders) in tmp_path."""
    env = dict(os.environ, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"),
               VTOONIFY_STATE_DIR=str(tmp_path / "state"), VTOONIFY_MODELS=str(tmp_path / "no-models"),
               PYTHONPATH=str(repo_root))
    env.pop("QT_QPA_PLATFORM", None)  # the real xcb platform
    return env


def _kill_if_running(panel: subprocess.Popen) -> None:
    """A failed test leaves no panel (and its X client) behind."""
    if panel.poll() is None:
        panel.kill()
        panel.communicate()


def _titles_until(display: str, window: str, done, timeout_s: float) -> list[str]:
    """The window's titles seen (each once, in order) until ``done(title)`` or the timeout."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        title = _xdotool(display, "getwindowname", window)
        if not seen or seen[-1] != title:
            seen.append(title)
        if done(title):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"window titles within {timeout_s} s: {seen}")


def _stop_engine(connection: Path) -> None:
    """The engine the panel started outlives it by design (idle timeout): stop it here."""
    from engine.service.connection import pid_alive, read_connection_file

    info = read_connection_file(connection)
    if info is None or not pid_alive(info.pid):
        return
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _window_picture(display: str, window: str):
    """What the X server shows in the window (PIL; None where Pillow cannot read X screens)."""
    try:
        from PIL import ImageGrab
    except ImportError:
        return None
    geometry = dict(line.split("=") for line in _xdotool(display, "getwindowgeometry", "--shell", window).split())
    x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
    try:
        return ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display)
    except OSError:
        return None


def _type_source_and_pick_output(display: str, window: str, source: str, out_dir: Path) -> None:
    """Types the source (focus starts in its field), Tab commits it, Ctrl+Shift+O picks the output
    folder in the file dialog; focus is back on the panel afterwards."""
    _xdotool(display, "windowfocus", "--sync", window)  # what a window manager does on map
    _xdotool(display, "type", "--delay", "2", source)
    _xdotool(display, "key", "Tab")
    _xdotool(display, "key", "ctrl+shift+o")
    dialog = _wait_window(display, "Output folder", timeout_s=20)
    _xdotool(display, "windowfocus", "--sync", dialog)
    _xdotool(display, "type", "--delay", "2", str(out_dir))
    _xdotool(display, "key", "Return")
    time.sleep(0.5)
    _xdotool(display, "windowfocus", "--sync", window)


def test_keyboard_only_source_output_and_quit(x_display, repo_root, media_dir, tmp_path):
    """Typed source (focus starts in its field), Tab commits it, Ctrl+Shift+O picks the output folder
    in the file dialog, Ctrl+Q closes the panel, which saves what was entered."""
    source = str(media_dir / "529_2.mp4")
    out_dir = tmp_path / "renders"
    out_dir.mkdir()
    panel = subprocess.Popen([sys.executable, "-m", "ui", "--connection-file", str(tmp_path / "none.json")],
                             cwd=str(tmp_path), env=_panel_env(x_display, repo_root, tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = _wait_window(x_display, "VToonify Studio")
        _type_source_and_pick_output(x_display, window, source, out_dir)
        _xdotool(x_display, "key", "ctrl+q")
        output, _ = panel.communicate(timeout=60)
    finally:
        _kill_if_running(panel)
    assert panel.returncode == 0, output[-3000:]
    saved = configparser.ConfigParser(interpolation=None)
    saved.read(tmp_path / "config" / "VToonifyStudio" / "Panel.conf")
    assert saved.get("shot", "source") == source
    assert Path(saved.get("shot", "output")) == out_dir


def test_render_the_sample_by_keyboard(x_display, repo_root, media_dir, tmp_path):
    """The whole artist path through the X server: the panel starts its engine, the sample clip is
    typed in, the output folder picked in the file dialog, frames 1-2 set by keyboard, Enter queues
    the shot, Ctrl+Enter starts the queue; the window title shows the frames as they come and the
    finish; the EXRs are read back; Ctrl+Q closes the panel."""
    oiio = pytest.importorskip("OpenImageIO")
    out_dir = tmp_path / "renders"
    out_dir.mkdir()
    connection = tmp_path / "engine.json"
    panel = subprocess.Popen([sys.executable, "-m", "ui", "--start-engine", "--connection-file", str(connection)],
                             cwd=str(tmp_path), env=_panel_env(x_display, repo_root, tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = _wait_window(x_display, "VToonify Studio")
        assert _xdotool(x_display, "getwindowname", window) == "VToonify Studio"
        picture = _window_picture(x_display, window)
        if picture is not None:  # drawn by Qt through xcb, not a blank or black window
            assert len(picture.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 20
        _type_source_and_pick_output(x_display, window, str(media_dir / "529_2.mp4"), out_dir)  # focus: Browse
        # Browse -> "All" (untick: a range) -> first -> last
        _xdotool(x_display, "key", "Tab", "space", "Tab", "ctrl+a", "1", "Tab", "ctrl+a", "2", "Return")
        _xdotool(x_display, "key", "ctrl+Return")  # Start queue (Enter queued the shot: 2 frames)
        titles = _titles_until(x_display, window, lambda t: t.startswith("Queue finished"), 90)
        progress = [t for t in titles if t.endswith("/2 frames · VToonify Studio")]
        assert progress and progress == sorted(progress), titles  # the frames as they come, never back
        assert titles[-1] == "Queue finished: 1 done · VToonify Studio", titles
        _xdotool(x_display, "key", "ctrl+q")
        output, _ = panel.communicate(timeout=60)
    finally:
        _kill_if_running(panel)
        _stop_engine(connection)
    assert panel.returncode == 0 and "Traceback" not in output, output[-3000:]
    frames = sorted((out_dir / "v001").glob("529_2.*.exr"))
    assert [f.name for f in frames] == ["529_2.0001.exr", "529_2.0002.exr"]
    for frame in frames:
        image = oiio.ImageBuf(str(frame))
        spec = image.spec()
        assert (spec.width, spec.height, spec.nchannels) == (376, 352, 4), frame
        pixels = image.get_pixels(oiio.FLOAT)
        assert pixels[..., :3].std() > 0.01, f"{frame} is flat"
    sidecar = json.loads((out_dir / "v001" / "529_2.vtoonify.json").read_text())
    assert sidecar["backend"] == "classic" and sidecar["job_settings"]["source"] == str(media_dir / "529_2.mp4")


@pytest.mark.parametrize("x_display", ["1920x1080"], indirect=True)
def test_hidpi_200_percent_fits_the_screen(x_display, repo_root, tmp_path):
    """A 1080p screen at 200 % (QT_SCALE_FACTOR=2) leaves 960x540 logical pixels: the panel opens
    inside the screen, is drawn, and Ctrl+Q still closes it."""
    env = dict(_panel_env(x_display, repo_root, tmp_path), QT_SCALE_FACTOR="2")
    panel = subprocess.Popen([sys.executable, "-m", "ui", "--connection-file", str(tmp_path / "none.json")],
                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = _wait_window(x_display, "VToonify Studio")
        geometry = dict(line.split("=") for line in _xdotool(x_display, "getwindowgeometry", "--shell", window).split())
        x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        assert x >= 0 and y >= 0 and x + w <= 1920 and y + h <= 1080, geometry
        assert w >= 1600 and h >= 900, geometry  # 2x: device pixels, about the whole screen
        picture = _window_picture(x_display, window)
        if picture is not None:
            assert len(picture.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 20
        _xdotool(x_display, "windowfocus", "--sync", window)
        _xdotool(x_display, "key", "ctrl+q")
        output, _ = panel.communicate(timeout=60)
    finally:
        _kill_if_running(panel)
    assert panel.returncode == 0 and "Traceback" not in output, output[-3000:]
