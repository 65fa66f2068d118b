"""Test helper: the panel exactly as ``python -m ui`` starts it (``ui.__main__.main``), plus an
observer that writes what a test driving it through the X server needs to read back.

The product has no test hook: this script makes the QApplication first, so a timer of its own can
look at the panel's window every 100 ms and write, atomically, to the JSON file named by
``VTOONIFY_X_PROBE``: the screen rectangle of the controls a test clicks (Qt's own idea of where it
drew them), the queue rows, the messages, the status bar, which window and control has the focus,
and the window geometry. Clicks and drags still go through the X server and Qt's xcb input path, so
a control covered by another window, or drawn elsewhere than reported, is not hit.

Usage: python x_panel_probe.py [python -m ui arguments]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QApplication, QWidget

CONTROLS = {  # name in the probe file -> attribute path from the main window
    "source_edit": "source_panel.source_edit",
    "output_edit": "source_panel.output_edit",
    "add_button": "add_button",
    "start_queue": "queue_panel.start_button",
    "cancel_button": "queue_panel.cancel_button",
    "queue_table": "queue_panel.table.viewport",
}


def _rect(widget: QWidget) -> list[int]:
    top_left = widget.mapToGlobal(QPoint(0, 0))
    return [top_left.x(), top_left.y(), widget.width(), widget.height()]


def _resolve(window, path: str):
    target = window
    for part in path.split("."):
        target = getattr(target, part)
    return target() if callable(target) and not isinstance(target, QWidget) else target


def _focus_name(window, widget) -> str:
    for name, path in CONTROLS.items():
        if widget is not None and widget is _resolve(window, path):
            return name
    return type(widget).__name__ if widget is not None else ""


def snapshot(window) -> dict:
    from ui.queue_model import BACKEND_COLUMN, STATUS_COLUMN

    model, table = window.queue_model, window.queue_panel.table
    rows = []
    for row in range(model.rowCount()):
        record = model.record(row)
        cell = table.visualRect(model.index(row, 0))
        origin = table.viewport().mapToGlobal(cell.topLeft())
        rows.append({"source": record.settings.get("source"), "status": record.status,
                     "status_text": model.data(model.index(row, STATUS_COLUMN)),
                     "backend": model.data(model.index(row, BACKEND_COLUMN)), "done": record.done,
                     "total": record.total, "output": record.output,
                     "rect": [origin.x(), origin.y(), cell.width(), cell.height()]})
    active = QApplication.activeWindow()
    frame = window.frameGeometry()
    return {
        "pid": os.getpid(),
        "title": window.windowTitle(),
        "controls": {name: _rect(_resolve(window, path)) for name, path in CONTROLS.items()},
        "start_checked": window.queue_panel.start_button.isChecked(),
        "source": window.source_panel.source_edit.text(),
        "source_info": window.source_panel.info_label.text(),
        "rows": rows,
        "selected_rows": window.queue_panel.selected_rows(),
        "messages": window.status_log.messages()[:30],
        "status_bar": window.statusBar().currentMessage(),
        # the lasting notice: a hover tip (a temporary message) hides it while the pointer rests on a
        # control, as after a drag onto a field, and it shows again when the tip goes
        "notice": window.notice_label.text(),
        "active_window": active.windowTitle() if active is not None else "",
        "focus": _focus_name(window, QApplication.focusWidget()),
        "geometry": [window.geometry().x(), window.geometry().y(), window.width(), window.height()],
        "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
        "top_levels": sorted(w.windowTitle() for w in QApplication.topLevelWidgets() if w.isVisible()),
    }


def _write(path: Path) -> None:
    from ui.main_window import MainWindow

    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    if not windows or not windows[0].isVisible():
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(snapshot(windows[0])))
    os.replace(partial, path)


def run(argv: list[str]) -> int:
    app = QApplication(sys.argv[:1])
    target = Path(os.environ["VTOONIFY_X_PROBE"])
    timer = QTimer(app)
    timer.setInterval(100)
    timer.timeout.connect(lambda: _write(target))
    timer.start()
    from ui.__main__ import main

    code = main(argv)
    del app
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
