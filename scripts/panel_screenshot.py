"""Render the panel in use, offscreen, to docs/panel.png (for the README).

Starts a real engine with an empty models folder, queues four demo shots (one on ``auto``, which
falls back to the classic look and says so with a warning), starts the queue, renders a preview and
grabs the window once two shots are done, the third is rendering and the warning is on its row.
Everything temporary (settings, connection file, models folder, renders) lives in a temp folder
that is removed afterwards.

    python scripts/panel_screenshot.py [--out docs/panel.png] [--media ../shared/media]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def wait_until(app, predicate, timeout_s: float) -> bool:
    """Run the Qt event loop until predicate() is true or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "panel.png"))
    parser.add_argument("--media", default=os.environ.get("VTOONIFY_SHARED", str(REPO_ROOT.parent / "shared"))
                        + "/media")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the engine")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO_ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    media = Path(args.media)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="vtoonify-panel-shot-") as tmp:
        tmp_dir = Path(tmp)
        os.environ["VTOONIFY_STATE_DIR"] = str(tmp_dir / "state")  # the engine child inherits these
        os.environ["VTOONIFY_MODELS"] = str(tmp_dir / "no-models")    # auto falls back to classic, warning
        bridge = EngineBridge(connection_file=str(tmp_dir / "engine.json"), start_timeout_s=args.timeout,
                              engine_grace_s=1)
        window = MainWindow(bridge, QSettings(str(tmp_dir / "panel.ini"), QSettings.Format.IniFormat),
                            presets_dir=tmp_dir / "presets")
        window.ask_close = lambda running: "cancel"  # the last shot is still rendering: stop it
        window.resize(1366, 740)
        window.show()
        bridge.start_engine()
        if not wait_until(app, lambda: window.indicator.state == "connected", args.timeout):
            print(f"engine did not connect: {window.indicator.text()}", file=sys.stderr)
            window.close()
            bridge.wait_stopped(30)
            return 1

        panel, style = window.source_panel, window.style_panel
        panel.format_combo.setCurrentText("png")
        shots = (("529_2.mp4", 1, 3, "classic"), ("651.mp4", 1, 4, "auto"), ("908.mp4", 1, 39, "classic"),
                 ("7154235.mp4", 1, 35, "classic"))
        for name, first, last, backend in shots:
            style.backend_combo.setCurrentText(backend)
            panel.set_source(str(media / name))
            panel.wait_for_info()
            app.processEvents()
            panel.set_frame_range(first, last)
            panel.output_edit.setText(str(tmp_dir / "renders" / Path(name).stem))
            window.add_to_queue()
        window.queue_panel.set_running(True)
        style.backend_combo.setCurrentText("classic")
        panel.set_source(str(media / "529_2.mp4"))
        panel.wait_for_info()
        app.processEvents()
        panel.output_edit.setText(str(tmp_dir / "renders" / "529_2"))
        window.preview_panel.frame_spin.setValue(12)
        window.preview_panel.preview_button.click()

        records = window.queue_model.records
        ready = wait_until(app, lambda: not window.preview_panel.view.after_pixmap().isNull()
                           and records()[1].finished and records()[2].done >= 3, args.timeout)
        window.preview_panel.view.set_split(0.45)
        window.queue_panel.select_row(1)
        panel.wait_for_thumbnail()
        wait_until(app, lambda: False, 0.3)  # let the thumbnail and last events paint
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        saved = window.grab().save(str(out))
        window.close()
        bridge.wait_stopped(30)
        engine = bridge.started_process  # idle now (its jobs cancelled, no client): it exits by itself
        if engine is not None:
            try:
                engine.wait(30)
            except Exception:
                engine.kill()
        print(f"{'wrote' if saved else 'FAILED to write'} {out} (engine {'ready' if ready else 'timed out'})")
        return 0 if saved and ready else 1


if __name__ == "__main__":
    sys.exit(main())
