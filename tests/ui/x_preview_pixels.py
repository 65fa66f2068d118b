"""Test helper: the panel's window on the real xcb platform with a known preview pair in it, and what
the X server then shows, read back from the screen (not from Qt's own drawing).

The plate (A) is grey with two red pixels, the stylized frame (B) the same with green ones: in each
view mode (fit and 1:1, A and B) the whole screen is grabbed to ``<out>/<fit|one>_<a|b>.png`` (device
pixels, whatever QT_SCALE_FACTOR is); the test finds the markers in them.

Usage: python x_preview_pixels.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

SIZE = (120, 90)
MARKERS = ((70, 50), (105, 80))
"""Image pixels set to pure red (A) or green (B); the rest of both images is the same grey. Away from
the top left, where the view writes which frame it shows ("source (A)", "stylized (B)")."""


def frame(colour: str) -> QImage:
    image = QImage(*SIZE, QImage.Format.Format_RGB32)
    image.fill(QColor(128, 128, 128))
    for x, y in MARKERS:
        image.setPixelColor(x, y, QColor(colour))
    return image


def main() -> int:
    out = Path(sys.argv[1])
    app = QApplication(sys.argv[:1])
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    bridge = EngineBridge(connection_file=str(out / "no-engine.json"))  # never connected: no engine needed
    window = MainWindow(bridge, QSettings(str(out / "panel.ini"), QSettings.Format.IniFormat),
                        presets_dir=out / "presets")
    window.show()
    preview = window.preview_panel
    preview.show_result(frame("#ff0000"), frame("#00ff00"), 1)
    steps = [("fit", False, "A"), ("fit", False, "B"), ("one", True, "A"), ("one", True, "B")]

    def step() -> None:
        if not steps:
            (out / "done.json").write_text(json.dumps({"ratio": preview.view.devicePixelRatioF()}))
            bridge.stopped.connect(app.quit)
            window.close()
            return
        zoom, one_to_one, mode = steps[0]
        preview.zoom_button.setChecked(one_to_one)
        next(b for b in preview.mode_buttons.buttons() if b.text() == mode).click()
        app.processEvents()
        # the window drawn and flushed to the X server before it is read back
        QTimer.singleShot(400, lambda: grab(zoom, mode))

    def grab(zoom: str, mode: str) -> None:
        window.screen().grabWindow(0).save(str(out / f"{zoom}_{mode.lower()}.png"))
        steps.pop(0)
        step()

    QTimer.singleShot(1000, step)
    code = app.exec()
    bridge.wait_stopped(30.0)
    return code


if __name__ == "__main__":
    sys.exit(main())
