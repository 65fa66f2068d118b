"""``python -m ui`` is the console entry point (vtoonify-panel); its options parse in a real process."""

import subprocess
import sys


def test_module_entry_point_prints_its_options(repo_root):
    result = subprocess.run([sys.executable, "-m", "ui", "--help"], cwd=repo_root, check=False,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--connection-file" in result.stdout and "--start-engine" in result.stdout


def test_panel_quits_only_after_the_engine_it_was_starting_is_gone(qapp, ini_settings, tmp_path, monkeypatch):
    """``main()`` with ``--start-engine``: the window is closed while the engine still starts; the
    event loop (and so the process) must end only once that engine has exited."""
    from PySide6.QtCore import QTimer

    import ui.panel_settings
    from engine.service.connection import pid_alive
    from ui.__main__ import main
    from ui.main_window import MainWindow

    monkeypatch.setattr(ui.panel_settings, "default_settings", lambda: ini_settings)  # never the user's store
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    seen: dict = {"polls": 0}

    def close_once_starting() -> None:
        seen["polls"] += 1
        if seen["polls"] > 1000:  # 20 s and still nothing to close: end the loop, the asserts say why
            qapp.quit()
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows or (windows[0].bridge.started_process is None and seen["polls"] < 300):
            return
        seen["bridge"], seen["process"] = windows[0].bridge, windows[0].bridge.started_process
        timer.stop()
        windows[0].close()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(close_once_starting)
    timer.start()
    organisation, application = qapp.organizationName(), qapp.applicationName()
    try:
        code = main(["--start-engine", "--connection-file", str(tmp_path / "engine.json")])
    finally:
        timer.stop()
        qapp.setQuitOnLastWindowClosed(True)
        qapp.setOrganizationName(organisation)
        qapp.setApplicationName(application)
    process = seen.get("process")
    assert code == 0 and process is not None, "the panel never started an engine"
    assert seen["bridge"].is_stopped and process.poll() is not None  # already gone when main() returned
    assert not pid_alive(process.pid)
