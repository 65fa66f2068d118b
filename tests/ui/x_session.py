"""Steps the real-X panel tests share: a private Xvfb (optionally with a window manager), xdotool,
the panel started as an artist starts it, and its probe file read back (``x_panel_probe.py``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
X_TOOLS = bool(sys.platform.startswith("linux") and shutil.which("Xvfb") and shutil.which("xdotool"))
NEEDS_X = pytest.mark.skipif(not X_TOOLS, reason="a real X session needs Xvfb and xdotool "
                                                 "(apt-get install xvfb xdotool)")
WINDOW_MANAGERS = {"openbox": ["openbox", "--sm-disable"]}
"""Window managers a test can run under (a param ``WxH+openbox`` of ``x_display``)."""


def start_x(screen: str, wm: str | None):
    """Xvfb on a free display, and the window manager once it manages the screen; returns
    (display, [processes to stop, last first])."""
    if wm and not (shutil.which(WINDOW_MANAGERS[wm][0]) and shutil.which("xwininfo")):
        pytest.skip(f"a test under the {wm} window manager needs it and xwininfo (apt-get install {wm} "
                    "x11-utils); the same tests run without a window manager too")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), "Xvfb did not report its display"
    display, processes = f":{number}", [server]
    if wm:
        processes.append(subprocess.Popen(WINDOW_MANAGERS[wm], env=dict(os.environ, DISPLAY=display),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while run_xdotool(display, "get_num_desktops").returncode != 0:  # set by the WM once it runs
            assert time.monotonic() < deadline, f"{wm} did not start"
            time.sleep(0.1)
    return display, processes


def run_xdotool(display: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=display), capture_output=True,
                          text=True, timeout=timeout, check=False)


def xdotool(display: str, *args: str, timeout: float = 20) -> str:
    proc = run_xdotool(display, *args, timeout=timeout)
    assert proc.returncode == 0, f"xdotool {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def wait_window(display: str, name: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = run_xdotool(display, "search", "--onlyvisible", "--name", name)
        if found.stdout.strip():
            return found.stdout.split()[0]
        time.sleep(0.2)
    raise AssertionError(f"no window named {name!r} within {timeout_s} s")


def window_geometry(display: str, window: str) -> tuple[int, int, int, int]:
    """The window's inside (no frame): root position and size as the X server has them. xwininfo
    (x11-utils) when installed; else xdotool, whose position is right only without a reparenting
    window manager (it adds the frame offset twice)."""
    if shutil.which("xwininfo"):
        info = subprocess.run(["xwininfo", "-id", window], env=dict(os.environ, DISPLAY=display),
                              capture_output=True, text=True, timeout=20, check=True).stdout
        fields = dict(line.strip().split(":", 1) for line in info.splitlines() if ":" in line)
        return tuple(int(fields[k].strip()) for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width",
                                                      "Height"))
    geometry = dict(line.split("=") for line in xdotool(display, "getwindowgeometry", "--shell", window).split())
    return tuple(int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))


def panel_env(display: str, repo_root: Path, tmp_path: Path, **extra: str) -> dict:
    """The panel as an artist starts it (xcb), with its settings, engine state and models (none:
    the classic backend renders) in tmp_path."""
    env = dict(os.environ, DISPLAY=display, XDG_CONFIG_HOME=str(tmp_path / "config"),
               VTOONIFY_STATE_DIR=str(tmp_path / "state"), VTOONIFY_MODELS=str(tmp_path / "no-models"),
               PYTHONPATH=str(repo_root), **extra)
    env.pop("QT_QPA_PLATFORM", None)  # the real xcb platform
    return env


def kill_if_running(process: subprocess.Popen) -> None:
    """A failed test leaves no panel (and its X client) behind."""
    if process.poll() is None:
        process.kill()
        process.communicate()


class ProbedPanel:
    """``python -m ui`` run through ``x_panel_probe.py``: the test reads the panel's state back."""

    def __init__(self, display: str, repo_root: Path, tmp_path: Path, *args: str) -> None:
        self.display = display
        self.probe = tmp_path / "probe.json"
        self.probe.unlink(missing_ok=True)
        self.process = subprocess.Popen([sys.executable, str(HERE / "x_panel_probe.py"), *args], cwd=str(tmp_path),
                                        env=panel_env(display, repo_root, tmp_path,
                                                      VTOONIFY_X_PROBE=str(self.probe)),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.window = wait_window(display, "VToonify Studio")
        # settled: a window manager places (and frames) the window after it maps; until Qt has been
        # told, its positions are those of the first place
        self.wait(lambda s: tuple(s["geometry"]) == window_geometry(display, self.window),
                  "the panel's idea of its place agreeing with the X server's")

    def state(self) -> dict:
        try:
            return json.loads(self.probe.read_text())
        except (OSError, ValueError):
            return {}

    def wait(self, done, what: str, timeout_s: float = 30) -> dict:
        """The first probe report for which ``done(state)`` holds."""
        deadline = time.monotonic() + timeout_s
        state: dict = {}
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the panel exited: {self.process.communicate()[0][-3000:]}"
            state = self.state()
            if state and done(state):
                return state
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout_s} s; last report: {json.dumps(state)[:3000]}")

    def centre(self, name: str) -> tuple[int, int]:
        """The middle of a control, in root coordinates, checked to lie inside the panel's X window."""
        x, y, w, h = self.state()["controls"][name]
        wx, wy, ww, wh = window_geometry(self.display, self.window)
        assert wx <= x and wy <= y and x + w <= wx + ww and y + h <= wy + wh, \
            f"{name} at {(x, y, w, h)} is not inside the panel window {(wx, wy, ww, wh)}"
        return x + w // 2, y + h // 2

    def click(self, x: int, y: int) -> None:
        xdotool(self.display, "mousemove", "--sync", str(x), str(y))
        xdotool(self.display, "click", "1")

    def click_control(self, name: str) -> None:
        self.click(*self.centre(name))

    def ask_quit(self) -> None:
        """Ctrl+Q with the panel focused (it may ask first: rows waiting, jobs rendering)."""
        xdotool(self.display, "windowactivate", "--sync", self.window) if has_wm(self.display) else \
            xdotool(self.display, "windowfocus", "--sync", self.window)
        xdotool(self.display, "key", "ctrl+q")

    def quit(self, ask: bool = True) -> str:
        """Ctrl+Q (``ask``; else the close was already asked for and answered); returns the panel's
        output after a clean exit."""
        if ask:
            self.ask_quit()
        output, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0 and "Traceback" not in output, output[-3000:]
        return output


def stop_engine_of(connection: Path) -> None:
    """The engine the panel started outlives it by design (idle timeout): stop it here."""
    from engine.service.connection import pid_alive, read_connection_file

    info = read_connection_file(connection)
    if info is None or not pid_alive(info.pid):
        return
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while pid_alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def has_wm(display: str) -> bool:
    return run_xdotool(display, "get_num_desktops").returncode == 0


def drag(display: str, uris: list[str], to: tuple[int, int], tmp_path: Path, sources: list,
         hover_until=None) -> str:
    outcome = _drag_once(display, uris, to, tmp_path, sources, hover_until)
    assert outcome is not None, "the target never showed what the drag waited for over it"
    return outcome


def _drag_once(display: str, uris: list[str], to: tuple[int, int], tmp_path: Path, sources: list,
               hover_until=None) -> str | None:
    """Drag ``uris`` from a second X client (``x_drag_source.py``) onto the root point ``to`` with the
    mouse (button down in the source, moves, button up over the target): XDND between two X
    clients, as from a file manager. Returns the source's outcome (``CopyAction``/``IgnoreAction``).
    The source process is appended to ``sources`` and must outlive the drop (the target reads the
    URIs from it after the release): the test ends it. ``hover_until()``, if given, is what the
    pointer waits for over the target before the release, as a hand waits for the cursor to change:
    a loaded target answers XDND positions late, and a release before its answer is a leave.
    None when ``hover_until()`` did not come true within 15 s (the drag is released)."""
    for earlier in sources:  # one source window at a time: the search below finds this one
        kill_if_running(earlier)
    log = tmp_path / f"drag-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        source = subprocess.Popen([sys.executable, str(HERE / "x_drag_source.py"), *uris],
                                  env=dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb"), stdout=out,
                                  stderr=subprocess.STDOUT)
    sources.append(source)
    window = wait_window(display, "VToonify drag source", timeout_s=30)
    x, y, w, h = window_geometry(display, window)
    start = (x + w // 2, y + h // 2)
    if has_wm(display):  # a click on an inactive window is the WM's (it grabs the pointer to focus it),
        xdotool(display, "windowactivate", "--sync", window)  # and a drag started in that click finds
    xdotool(display, "mousemove", "--sync", *map(str, start))  # the pointer grabbed: it ends at once
    time.sleep(0.2)
    xdotool(display, "mousedown", "1")
    deadline = time.monotonic() + 20  # a loaded machine may take seconds to start the drag
    while "pressed" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "pressed" in log.read_text(), f"the drag source never saw the button press: {log.read_text()}"
    time.sleep(0.3)  # QDrag.exec grabs the pointer
    for step in range(1, 11):
        xdotool(display, "mousemove", str(start[0] + (to[0] - start[0]) * step // 10),
                str(start[1] + (to[1] - start[1]) * step // 10))
        time.sleep(0.05)
    for dx in (1, 0):  # two more positions over the target: its answer to the last one is in before release
        xdotool(display, "mousemove", str(to[0] + dx), str(to[1]))
        time.sleep(0.3)
    deadline = time.monotonic() + 15
    while hover_until is not None and not hover_until() and time.monotonic() < deadline:
        xdotool(display, "mousemove", str(to[0] + 1), str(to[1]))  # small moves over the target, as a hand does
        xdotool(display, "mousemove", str(to[0]), str(to[1]))
        time.sleep(0.5)
    shown = hover_until is None or hover_until()
    xdotool(display, "mouseup", "1")
    deadline = time.monotonic() + 20
    while "drag: " not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert "drag: " in text, f"the drag did not end: {text}"
    return text.split("drag: ", 1)[1].split()[0] if shown else None
