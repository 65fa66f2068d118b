"""The panel in a real X session (Xvfb + the xcb platform, not offscreen): started as a user starts
it (``python -m ui``), driven with real key presses and mouse clicks through the X server
(xdotool). Skipped where Xvfb or xdotool is missing (``apt-get install xvfb xdotool``).

These run on a bare Xvfb (no window manager), so they give a new window the input focus themselves
(``windowfocus``), as a window manager does when a window maps; ``test_real_x_mouse_and_drops.py``
runs the mouse and drag-and-drop tests both bare and under openbox, and checks what the window
manager does (focus after dialogs, placement and size restore)."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from x_session import NEEDS_X, has_wm, stop_engine_of, window_geometry
from x_session import kill_if_running as _kill_if_running
from x_session import panel_env as _panel_env
from x_session import wait_window as _wait_window
from x_session import xdotool as _xdotool

pytestmark = [pytest.mark.timeout(120), NEEDS_X]


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


def _window_picture(display: str, window: str):
    """What the X server shows in the window (PIL; None where Pillow cannot read X screens)."""
    try:
        from PIL import ImageGrab
    except ImportError:
        return None
    x, y, w, h = window_geometry(display, window)
    try:
        return ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=display)
    except OSError:
        return None


def _colours_once_drawn(display: str, window: str, timeout_s: float = 30.0) -> int | None:
    """Distinct colours the X server shows in the window, read again until Qt has painted it (a
    window is mapped before its first paint, which a loaded machine can delay by seconds); None
    where Pillow cannot read X screens."""
    deadline = time.monotonic() + timeout_s
    while (picture := _window_picture(display, window)) is not None:
        colours = len(picture.convert("RGB").getcolors(1 << 16) or range(1 << 16))
        if colours > 20 or time.monotonic() > deadline:
            return colours
        time.sleep(0.25)
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


@pytest.mark.parametrize("x_display", ["1280x720", "1280x720+openbox"], indirect=True)
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
        colours = _colours_once_drawn(x_display, window)
        assert colours is None or colours > 20  # drawn by Qt through xcb, not a blank or black window
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
        stop_engine_of(connection)
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


@pytest.mark.parametrize("x_display", ["1920x1080", "1920x1080+openbox"], indirect=True)
def test_hidpi_200_percent_fits_the_screen(x_display, repo_root, tmp_path):
    """A 1080p screen at 200 % (QT_SCALE_FACTOR=2) leaves 960x540 logical pixels: the panel opens
    inside the screen, is drawn, and Ctrl+Q still closes it. Under a window manager the title bar
    comes on top: the window shrinks so its status bar stays on the screen (it was 20 px below)."""
    env = dict(_panel_env(x_display, repo_root, tmp_path), QT_SCALE_FACTOR="2")
    panel = subprocess.Popen([sys.executable, "-m", "ui", "--connection-file", str(tmp_path / "none.json")],
                             cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = _wait_window(x_display, "VToonify Studio")
        framed, deadline = has_wm(x_display), time.monotonic() + 10
        while True:  # a window manager frames the window after it maps (a title bar: inside y > 0)
            x, y, w, h = geometry = window_geometry(x_display, window)
            inside = x >= 0 and y >= (1 if framed else 0) and x + w <= 1920 and y + h <= 1080
            if inside or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert x >= 0 and y >= 0 and x + w <= 1920 and y + h <= 1080, geometry
        assert w >= 1600 and h >= 900, geometry  # 2x: device pixels, about the whole screen
        deadline = time.monotonic() + 10
        while (picture := _window_picture(x_display, window)) is not None:  # drawn (again, once fitted)
            colours = len(picture.convert("RGB").getcolors(1 << 16) or range(1 << 16))
            if colours > 20 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert picture is None or colours > 20, f"the window is not drawn: {colours} colours"
        _xdotool(x_display, "windowfocus", "--sync", window)
        _xdotool(x_display, "key", "ctrl+q")
        output, _ = panel.communicate(timeout=60)
    finally:
        _kill_if_running(panel)
    assert panel.returncode == 0 and "Traceback" not in output, output[-3000:]


def test_the_shortcuts_in_the_tooltips_answer_real_key_presses(x_display, repo_root, tmp_path):
    """Through the X server's keymap (xcb), as a keyboard user presses them: Ctrl+L brings the focus
    back to Source, Ctrl+P says why there is no preview, Ctrl+. says there is nothing to stop, and
    Ctrl+Enter, on the main keys and on the keypad, answers for the queue (nothing waiting) instead
    of adding the shot."""
    from x_session import ProbedPanel
    from x_session import xdotool as key_press

    from ui.queue_controller import NOTHING_WAITING

    panel = ProbedPanel(x_display, repo_root, tmp_path, "--connection-file", str(tmp_path / "none.json"))
    try:
        key_press(x_display, "windowfocus", "--sync", panel.window)  # what a window manager does on map
        panel.wait(lambda s: s["focus"] == "source_edit", "the focus in Source at start")
        key_press(x_display, "key", "Tab")
        panel.wait(lambda s: s["focus"] not in ("source_edit", ""), "the focus moved on by Tab")
        key_press(x_display, "key", "ctrl+l")
        panel.wait(lambda s: s["focus"] == "source_edit", "Ctrl+L: the focus back in Source")
        for keys, says in (("ctrl+p", "no preview: "), ("ctrl+period", "nothing to stop"),
                           ("ctrl+Return", NOTHING_WAITING), ("ctrl+period", "nothing to stop"),
                           ("ctrl+KP_Enter", NOTHING_WAITING)):
            key_press(x_display, "key", keys)
            panel.wait(lambda s, says=says: s["messages"] and s["messages"][0].startswith(says), f"{keys}: {says}")
        assert panel.state()["rows"] == [] and not any("no source picked" in m for m in panel.state()["messages"])
        panel.quit()
    finally:
        _kill_if_running(panel.process)
