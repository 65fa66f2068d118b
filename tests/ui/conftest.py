"""Panel test fixtures: offscreen Qt, a throw-away QSettings file, a real engine process.

QT_QPA_PLATFORM must be set before the QApplication exists (pytest-qt makes it on first use), so it
is set when this module is imported.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# pytest imports test modules without their folder on sys.path; the panel tests share panel_helpers.py
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def ini_settings(tmp_path) -> QSettings:
    """A QSettings backed by an INI file in tmp_path (never the user's real store)."""
    return QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)


def engine_env(repo_root: Path, state_dir: Path) -> dict:
    """Environment for an engine child: this checkout importable, journal/previews in state_dir."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH", "")) if p)
    env["VTOONIFY_STATE_DIR"] = str(state_dir)
    env["VTOONIFY_MODELS"] = str(state_dir / "no-models")  # no VToonify weights: auto renders classic
    return env


@pytest.fixture(scope="module")
def running_engine(tmp_path_factory, repo_root):
    """A real ``python -m engine serve`` for the module's tests; yields its connection file path."""
    from engine.service.launcher import EngineProcess

    state_dir = tmp_path_factory.mktemp("engine-state")
    connection_file = state_dir / "engine.json"
    engine = EngineProcess(connection_file=str(connection_file), env=engine_env(repo_root, state_dir),
                           cwd=str(repo_root), timeout_s=120, python_exe=sys.executable)
    engine.start()
    yield connection_file
    engine.stop()


class TickMonitor:
    """A QTimer ticking every ``interval_ms`` on the UI thread; ``max_gap_s`` shows any stall."""

    def __init__(self, interval_ms: int = 15) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.ticks.append(time.monotonic()))

    def start(self) -> None:
        self.ticks.clear()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def max_gap_s(self) -> float:
        return max((b - a for a, b in zip(self.ticks, self.ticks[1:])), default=float("inf"))


@pytest.fixture
def tick_monitor(qapp):
    monitor = TickMonitor()
    yield monitor
    monitor.stop()


@pytest.fixture
def make_window(qtbot, ini_settings, tmp_path):
    """Build MainWindow(s) on a real EngineBridge; every window is closed after and its bridge's
    background teardown waited for. Engines a window started outlive it by design (idle timeout);
    they are stopped here so no test leaves one behind."""
    from ui.engine_bridge import EngineBridge
    from ui.main_window import CLOSE_CANCEL, MainWindow

    windows = []

    def make(connection_file: str | os.PathLike | None = None, store: QSettings | None = None,
             **bridge_args) -> MainWindow:
        bridge_args.setdefault("start_timeout_s", 120)
        bridge_args.setdefault("reconnect_interval_ms", 300)
        bridge = EngineBridge(connection_file=str(connection_file) if connection_file else None, **bridge_args)
        window = MainWindow(bridge, store if store is not None else ini_settings,
                            presets_dir=tmp_path / f"presets-{len(windows)}")
        window.ask_close = lambda running: CLOSE_CANCEL  # never a modal box in tests
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()  # returns at once; the bridge tears down in the background
    for window in windows:
        assert window.bridge.wait_stopped(30.0), "the bridge teardown did not finish"
    from engine.service.client import stop_engine

    for window in windows:
        process = window.bridge.started_process
        if process is not None:
            stop_engine(process, timeout_s=10)


@pytest.fixture
def engines(tmp_path, repo_root):
    """Start real engines on one connection file and state dir (a restart finds the journal);
    ``engines.start()`` returns the EngineProcess; all are stopped (or were killed) after."""
    from engine.service.launcher import EngineProcess

    class Engines:
        state_dir = tmp_path / "engine-state"
        connection_file = tmp_path / "engine-state" / "engine.json"

        def __init__(self) -> None:
            self.started: list = []

        def start(self, *args: str, python_exe: str = sys.executable):
            self.state_dir.mkdir(exist_ok=True)
            engine = EngineProcess(list(args), connection_file=str(self.connection_file),
                                   env=engine_env(repo_root, self.state_dir), cwd=str(repo_root),
                                   timeout_s=120, python_exe=python_exe)
            engine.start()
            self.started.append(engine)
            return engine

    box = Engines()
    yield box
    for engine in box.started:
        engine.stop(timeout_s=5)


@pytest.fixture
def x_display(request):
    """A private Xvfb server; yields its DISPLAY (the server picks a free number). The test's
    ``x_display`` parameter is ``WxH`` (default 1280x720), optionally ``+openbox`` to run a window
    manager on it (skipped, with the reason, where that window manager is not installed)."""
    from x_session import start_x

    screen, _, wm = str(getattr(request, "param", "1280x720")).partition("+")
    display, processes = start_x(screen or "1280x720", wm or None)
    yield display
    for process in reversed(processes):
        process.terminate()
        process.wait(timeout=10)
