"""Item 10: usable on a 1366x768 screen; Enter queues, Delete removes, Tab never changes the
selected row; messages in the panel's words (no error codes in brackets, no command-line flags)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication

from engine.service.jobs import interrupted_message
from ui.job_records import JobRecord, apply_event
from ui.wording import plain, titled

SCREEN = QRect(0, 0, 1366, 768 - 40)   # minus a task bar


def test_fits_1366x768_with_every_control_reachable(make_window, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    hint = window.minimumSizeHint()
    assert hint.width() <= SCREEN.width() and hint.height() <= SCREEN.height(), hint
    assert window.width() <= SCREEN.width() and window.height() <= SCREEN.height()
    window.resize(SCREEN.size())
    qtbot.wait(50)
    controls = [window.connect_button, window.start_button, window.add_button, window.preview_panel.preview_button,
                window.preview_panel.zoom_button, window.queue_panel.start_button, window.queue_panel.cancel_button,
                window.queue_panel.retry_button, window.queue_panel.copy_button, window.queue_panel.apply_button,
                window.status_log, window.queue_panel.table]
    for widget in controls:
        window.form_scroll.ensureWidgetVisible(widget) if window.form_scroll.isAncestorOf(widget) else None
        top_left = widget.mapTo(window, QPoint(0, 0))
        inside = QRect(top_left, widget.size())
        assert widget.isVisible() and window.rect().contains(inside), (widget, inside)
        assert widget.width() >= min(40, widget.sizeHint().width()), widget
    for widget in (window.style_panel.exemplar_edit, window.source_panel.matte_classes_edit):
        window.form_scroll.ensureWidgetVisible(widget)
        qtbot.wait(20)
        top_left = widget.mapTo(window.form_scroll.viewport(), QPoint(0, 0))
        assert window.form_scroll.viewport().rect().contains(QRect(top_left, widget.size())), widget


def test_enter_queues_delete_removes_tab_keeps_the_row(make_window, media_dir, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    panel = window.source_panel
    panel.output_edit.setText(str(tmp_path / "out"))
    panel.source_edit.setFocus()
    panel.source_edit.setText(str(media_dir / "908.mp4"))
    qtbot.keyClick(panel.source_edit, Qt.Key.Key_Return)
    assert window.queue_model.rowCount() == 1
    assert window.queue_model.record(0).settings["source"] == str(media_dir / "908.mp4")
    qtbot.keyClick(panel.output_edit, Qt.Key.Key_Enter)
    assert window.queue_model.rowCount() == 2

    table = window.queue_panel.table
    table.setFocus()
    window.queue_panel.select_row(1)
    qtbot.keyClick(table, Qt.Key.Key_Tab)
    assert window.queue_panel.selected_rows() == [1]
    window.queue_panel.select_row(0)
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert window.queue_model.rowCount() == 1


def test_engine_wording_becomes_the_panels():
    # the engine's own messages (engine/pipeline/shot.py, engine/service/jobs.py)
    lock = ("/r/out holds 2 files of an earlier 908 job with other settings (render into a new output "
            "folder, or pass --overwrite to delete them first)")
    assert "--overwrite" not in plain(lock) and "Overwrite" in plain(lock) and "New version" in plain(lock)
    journal = interrupted_message("9c1d2e3f4a5b")  # the journal's own text, so the two cannot drift apart
    assert plain(journal) == "the engine stopped before this job finished (press Resume to continue it)"
    assert titled("bad_config", "x") == "Setting not accepted: x"
    record = apply_event(JobRecord(key=1, settings={}, job_id="j", status="running"),
                         {"event": "job_failed", "job": "j", "state": "interrupted",
                          "error": {"code": "interrupted", "message": journal}})
    assert record.status == "interrupted" and "resume" not in record.error.replace("Resume", "")


def test_status_area_has_no_codes_in_brackets(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    window.source_panel.set_source("/m/a.mp4")
    window.source_panel.output_edit.setText("")
    window.add_to_queue()
    message = window.status_log.messages()[0]
    assert message.startswith("Setting not accepted: no output folder picked") and "[" not in message


def test_ctrl_keypad_enter_starts_the_queue_and_ctrl_dot_says_when_nothing_stops(make_window, media_dir, tmp_path,
                                                                                  qtbot):
    """README: Ctrl+Enter starts/pauses the queue. The keypad's Enter is another key than Return: with
    Ctrl it added the shot again (the form took any Enter); Ctrl+. with nothing to stop said nothing."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    runs = []
    window.queue.set_running = runs.append
    panel = window.source_panel
    panel.output_edit.setText(str(tmp_path / "out"))
    panel.source_edit.setText(str(media_dir / "908.mp4"))
    panel.source_edit.setFocus()
    keypad_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier
    for key, modifiers in ((Qt.Key.Key_Enter, keypad_ctrl), (Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier),
                           (Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)):
        qtbot.keyClick(panel.source_edit, key, modifiers)
    assert window.queue_model.rowCount() == 0 and runs == [True, True]
    qtbot.keyClick(panel.source_edit, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)  # plain Enter adds
    assert window.queue_model.rowCount() == 1
    qtbot.keyClick(panel.source_edit, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert window.status_log.messages()[0].startswith("nothing to stop")


def test_tab_walks_the_preview_as_it_reads(make_window, tmp_path, qtbot):
    """After Add to queue, Tab goes scrub bar, view modes, frame box, Render preview, then the queue
    (the frame box came first, above the scrub bar it sits under)."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    preview = window.preview_panel
    preview.preview_button.setEnabled(True)  # as once an engine is connected
    window.add_button.setFocus()
    seen = []
    for _ in range(8):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    split = preview.mode_buttons.buttons()[0]
    assert seen[:7] == [preview.scrub, split, preview.ab_button, preview.zoom_button, preview.frame_spin,
                        preview.preview_button, window.queue_panel.table], [type(w).__name__ for w in seen]


def test_enter_on_a_focused_button_presses_that_button(make_window, media_dir, tmp_path, qtbot):
    """Enter on a button Tab reached presses it, as Space does: on Browse… it added the shot to the
    queue (the form took the Enter), on Connect or A/B it did nothing."""
    from PySide6.QtWidgets import QPushButton

    window = make_window(tmp_path / "none.json")
    window.show()
    window.source_panel.source_edit.setText(str(media_dir / "908.mp4"))
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    browse = window.source_panel.browse_button
    browse.clicked.disconnect()  # no file dialog in a test
    pressed = []
    for button in window.findChildren(QPushButton):
        button.clicked.connect(lambda *_, b=button: pressed.append(b))
    preview = window.preview_panel
    for button in (browse, window.connect_button, preview.ab_button, window.add_button):
        button.setFocus()
        qtbot.keyClick(button, Qt.Key.Key_Return)
        assert pressed[-1:] == [button], button.text()
    assert window.queue_model.rowCount() == 1  # only Add to queue added
    assert preview.view.mode == "a"          # A/B flipped to the source


def test_tab_walks_the_queue_buttons_as_they_read(make_window, media_dir, tmp_path, qtbot):
    """From the queue, Tab goes along the button rows left to right. Under X it went Remove, Duplicate,
    ↓, Clear finished (the order the buttons were made in), skipping back and forth along the row."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    panel = window.queue_panel
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    for name in ("908.mp4", "529_2.mp4", "651.mp4"):
        window.source_panel.set_source(str(media_dir / name))
        window.add_to_queue()
    panel.select_row(1)  # a middle row: both move buttons, Remove, Duplicate, Apply style are live
    row_order = [panel.start_button, panel.cancel_button, panel.retry_button, panel.remove_button, panel.clear_button,
                 panel.up_button, panel.down_button, panel.duplicate_button, panel.apply_button,
                 panel.details_button, panel.open_button, panel.copy_button]
    expected = [b for b in row_order if b.isEnabled()]
    assert len(expected) >= 7, [b.text() for b in expected]
    panel.table.setFocus()
    seen = []
    for _ in expected:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    assert seen == expected, [w.text() if hasattr(w, "text") else type(w).__name__ for w in seen]
