"""Every control of the panel says what it does, and a greyed-out one also says why (its tooltip and
status tip): an artist who finds Start queue greyed learns that nothing is waiting, not nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QSlider,
)

from ui.control_tips import UNAVAILABLE, why_not

CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QSlider, QAbstractItemView)


def controls(window) -> list:
    """The visible controls an artist can act on (a spin box's or combo box's inner line edit and the
    table headers are parts of another control)."""
    found = []
    for kind in CONTROLS:
        for widget in window.findChildren(kind):
            inner = isinstance(widget, QLineEdit) and isinstance(widget.parent(), (QAbstractSpinBox, QComboBox))
            if widget.isVisibleTo(window) and not inner and not isinstance(widget, QHeaderView) \
                    and widget not in found:
                found.append(widget)
    return found


def untold(window) -> list[str]:
    """Controls without a tooltip, and greyed ones whose tooltip gives no reason."""
    bad = []
    for widget in controls(window):
        name = widget.text() if isinstance(widget, QAbstractButton) else type(widget).__name__
        if not widget.toolTip().strip():
            bad.append(f"{name}: no tooltip")
        elif not widget.isEnabled() and UNAVAILABLE not in widget.toolTip():
            bad.append(f"{name}: greyed without a reason ({widget.toolTip()!r})")
        elif widget.statusTip() != widget.toolTip().replace("\n", " — "):  # hovered, the status bar shows it
            bad.append(f"{name}: the status tip is not the tooltip")
    return bad


def test_every_control_has_a_tooltip_and_every_greyed_one_says_why(make_window, media_dir, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    qtbot.waitExposed(window)
    assert len(controls(window)) > 50
    assert untold(window) == []                           # a fresh window: empty queue, no engine
    start = window.queue_panel.start_button
    assert not start.isEnabled() and "nothing is waiting in the queue" in why_not(start)
    assert "Ctrl+Return" in start.toolTip().replace("⌘", "Ctrl+")
    preview = window.preview_panel.preview_button
    assert not preview.isEnabled() and "no engine is connected" in why_not(preview)

    panel = window.source_panel
    panel.set_source(str(media_dir / "908.mp4"))
    panel.output_edit.setText(str(tmp_path / "out"))
    panel.whole_source.setFocus()
    QTest.keyClick(panel.whole_source, Qt.Key.Key_Space)   # a part of the shot: first/last offered
    panel.mattes_check.setChecked(True)
    panel.format_combo.setCurrentText("png")
    QTest.keyClick(panel.output_edit, Qt.Key.Key_Return)   # queued, the engine not there yet
    assert window.queue_model.rowCount() == 1
    QApplication.processEvents()
    assert untold(window) == []
    assert start.isEnabled() and "No engine is connected yet" in start.toolTip() and not why_not(start)
    window.queue_panel.select_row(0)
    assert untold(window) == []
    up = window.queue_panel.up_button
    assert not up.isEnabled() and why_not(up) == "already first in the queue"
    assert not window.queue_panel.retry_button.isEnabled() and "only failed" in why_not(window.queue_panel.retry_button)


def test_ctrl_p_without_an_engine_says_why_there_is_no_preview(make_window, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)  # window shortcuts answer in the active window
    QTest.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.status_log.messages()[0].startswith("no preview: no engine is connected")


def test_tab_walks_the_window_through_controls_that_say_what_they_do(make_window, tmp_path, qtbot):
    """Tab from the Source field around the whole window and back: every stop is a control with a
    tooltip (no silent stop on a container such as the form's scroll area)."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    first = QApplication.focusWidget()
    assert first is window.source_panel.source_edit  # the focus starts where a path is typed
    stops = []
    for _ in range(80):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        widget = QApplication.focusWidget()
        if widget is first:
            break
        stops.append(widget)
    else:
        raise AssertionError("Tab never came back to the Source field")
    silent = [type(w).__name__ for w in stops if not w.toolTip().strip()]
    assert len(stops) > 15 and silent == []
    assert window.connect_button in stops and window.queue_panel.table in stops


def test_enter_on_a_queue_row_shows_its_details_and_escape_closes_them(make_window, media_dir, tmp_path, qtbot):
    from ui.job_details import JobDetailsDialog

    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    window.source_panel.set_source(str(media_dir / "908.mp4"))
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    window.add_to_queue()
    table = window.queue_panel.table
    frame = window.preview_panel.frame_spin  # the stop before the queue in the Tab order (Render preview: greyed)
    frame.setFocus()
    QTest.keyClick(frame, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is table
    assert window.queue_panel.selected_rows() == [0]        # tabbed in: the row is selected, buttons live
    assert window.queue_panel.details_button.isEnabled()
    QTest.keyClick(table, Qt.Key.Key_Return)                # ... and Enter opens it
    dialogs = [d for d in window.findChildren(JobDetailsDialog) if d.isVisible()]
    assert len(dialogs) == 1 and "908.mp4" in dialogs[0].windowTitle()
    assert str(media_dir / "908.mp4") in dialogs[0].browser.toPlainText()
    qtbot.waitUntil(dialogs[0].isActiveWindow, timeout=5_000)
    QTest.keyClick(dialogs[0], Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in window.findChildren(JobDetailsDialog)), timeout=5_000)
