"""What the window itself tells an artist: the hovered control's tip in the status bar, the queue's
progress in the window title (task bar), and a preview without an output folder picked."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPointF
from PySide6.QtGui import QEnterEvent
from PySide6.QtWidgets import QApplication


def test_hovered_control_tip_shows_in_the_status_bar(make_window, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    button = window.queue_panel.start_button
    QApplication.sendEvent(button, QEnterEvent(QPointF(2, 2), QPointF(2, 2), QPointF(2, 2)))
    assert window.statusBar().isVisible()
    assert window.statusBar().currentMessage() == button.statusTip()
    assert "Unavailable: nothing is waiting in the queue" in window.statusBar().currentMessage()
    QApplication.sendEvent(button, QEvent(QEvent.Type.Leave))
    assert window.statusBar().currentMessage() == ""


def test_title_follows_the_queue(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    model = window.queue_model
    settings = {"source": "/m/a.mp4", "output": str(tmp_path / "out"), "frames": "1-4"}
    key = model.add_job(settings)
    assert window.windowTitle() == "VToonify Studio"  # waiting is not rendering
    model.mark_sent(0, settings)
    model.assign_job_id(key, "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 1, "total": 4})
    assert window.windowTitle() == "1/4 frames · VToonify Studio"
    model.apply_event({"event": "job_done", "job": "j1", "state": "done", "result": {"backend": "classic"}})
    window._on_queue_finished("Queue finished: 1 done")
    assert window.windowTitle() == "Queue finished: 1 done · VToonify Studio"


def test_preview_needs_no_output_folder(make_window, media_dir, tmp_path):
    """The engine writes previews in its own folder, never into ``output``: a blank output folder
    does not refuse a preview (the home folder stands in); queueing still asks for one."""
    window = make_window(tmp_path / "none.json")
    sent = []
    window.bridge.request_preview = lambda settings, frame: sent.append((settings, frame)) or 7
    window.source_panel.set_source(str(media_dir / "529_2.mp4"))
    window.source_panel.output_edit.setText("")
    assert window.request_preview(3) == 7
    assert sent[0][0]["output"] == str(Path.home()) and sent[0][1] == 3
    assert window.add_to_queue() is None
    assert "no output folder picked" in window.status_log.messages()[0]


def test_a_lost_engine_is_told_with_what_to_press(make_window, tmp_path):
    """An engine the panel started and that died does not come back by itself: the messages and the
    row name what to press, 'Restart engine and resume' (one press, 6dbff0d) or Retry (the row alone
    said "once an engine is back")."""
    window = make_window(tmp_path / "none.json")
    model = window.queue_model
    settings = {"source": "/m/a.mp4", "output": str(tmp_path / "out"), "frames": "1-4"}
    key = model.add_job(settings)
    model.mark_sent(0, settings)
    model.assign_job_id(key, "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 2, "total": 4})
    window.queue.on_lost("connection lost: the engine closed the connection")
    record = model.record(0)
    assert record.status == "interrupted"
    assert "Restart engine and resume" in record.error and "Retry" in record.error
    latest = window.status_log.messages()[0]
    assert "1 job interrupted" in latest and "Restart engine" in latest, latest


def test_a_right_click_on_a_row_offers_what_the_buttons_offer(make_window, tmp_path, qtbot):
    """Right-click (or the Menu key) on a queue row: Details, Reveal output, Copy path, Cancel, Retry,
    Duplicate, Apply style, Remove, greyed as their buttons are and with their reasons; the clicked
    row is selected first. A right-click did nothing before."""
    window = make_window(tmp_path / "none.json")
    window.show()
    model, panel = window.queue_model, window.queue_panel
    for name in ("a", "b"):
        model.add_job({"source": f"/m/{name}.mp4", "output": str(tmp_path / "out"), "frames": "1-4"})
    panel.select_row(0)
    second = panel.table.visualRect(model.index(1, 0)).center()
    qtbot.wait(20)
    menu = panel.row_menu(second)
    assert panel.selected_rows() == [1]
    actions = {a.text(): a for a in menu.actions() if not a.isSeparator()}
    assert list(actions) == ["Details…", "Reveal output", "Copy path", "Cancel", "Retry", "Duplicate", "Apply style",
                             "Remove"]
    assert not actions["Retry"].isEnabled() and "only failed, cancelled or interrupted" in actions["Retry"].toolTip()
    actions["Duplicate"].trigger()
    assert model.rowCount() == 3 and model.record(2).settings["source"] == "/m/b.mp4"
    panel.select_row(0)
    panel.row_menu(second)  # a right-click inside a selection of several keeps it
    panel.table.selectAll()
    menu = panel.row_menu(second)
    assert panel.selected_rows() == [0, 1, 2]
    next(a for a in menu.actions() if a.text() == "Remove").trigger()
    assert model.rowCount() == 0


def test_a_notice_arriving_under_a_hover_tip_waits_for_the_tip_to_go(make_window, tmp_path):
    """The queue finishing while the pointer rests on a control: the notice was shown at once and
    drawn over the tip, two lines of text on top of each other; it shows once the tip goes."""
    window = make_window(tmp_path / "none.json")
    window.show()
    button = window.queue_panel.start_button
    QApplication.sendEvent(button, QEnterEvent(QPointF(2, 2), QPointF(2, 2), QPointF(2, 2)))
    assert window.statusBar().currentMessage() == button.statusTip()
    window._on_queue_finished("Queue finished: 1 done")
    assert not window.notice_label.isVisible()
    QApplication.sendEvent(button, QEvent(QEvent.Type.Leave))
    assert window.statusBar().currentMessage() == ""
    assert window.notice_label.isVisible() and window.notice_label.text() == "Queue finished: 1 done"
    window.show_notice("")  # a cleared notice stays hidden after the next tip
    QApplication.sendEvent(button, QEnterEvent(QPointF(2, 2), QPointF(2, 2), QPointF(2, 2)))
    QApplication.sendEvent(button, QEvent(QEvent.Type.Leave))
    assert not window.notice_label.isVisible()


def test_a_retry_on_an_idle_queue_retires_the_last_finish_notice(make_window, tmp_path):
    """Retry on a finished queue renders without a Start: "1 not done" no longer describes the
    queue, yet the title and the status bar went back to it once the retried job was done."""
    window = make_window(tmp_path / "none.json")
    window.show()
    model = window.queue_model
    settings = {"source": "/m/a.mp4", "output": str(tmp_path / "out"), "frames": "1-4"}
    key = model.add_job(settings)
    model.mark_sent(0, settings)
    model.assign_job_id(key, "j1")
    model.apply_event({"event": "job_cancelled", "job": "j1", "state": "cancelled"})
    window._on_queue_finished("Queue finished: 0 done, 1 not done")
    assert window.windowTitle() == "Queue finished: 0 done, 1 not done · VToonify Studio"
    model.mark_resuming(0)  # what Retry does to a row whose job the engine knows
    model.apply_event({"event": "progress", "job": "j1", "done": 1, "total": 4})
    assert window.windowTitle() == "1/4 frames · VToonify Studio"
    assert not window.notice_label.isVisible()
    model.apply_event({"event": "job_done", "job": "j1", "state": "done", "result": {"backend": "classic"}})
    assert window.windowTitle() == "VToonify Studio", window.windowTitle()
    assert window.finish_notice == ""


def test_the_close_question_names_the_rows_closing_drops(make_window, tmp_path, qtbot):
    """Two rows waiting behind a rendering one: the question said only "1 job ... is queued or
    rendering", and "Close, keep rendering" read as if the queue would go on; the waiting rows were
    never sent, so closing drops them whatever is chosen."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from ui.main_window import CLOSE_STAY, MainWindow

    window = make_window(tmp_path / "none.json")
    model = window.queue_model
    for name in ("a", "b", "c"):
        model.add_job({"source": f"/m/{name}.mp4", "output": str(tmp_path / "out"), "frames": "1-4"})
    model.mark_sent(0, model.record(0).settings)
    model.assign_job_id(model.record(0).key, "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 1, "total": 4})
    shown = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        shown.append(box.text())
        next(b for b in box.buttons() if b.text() == "Don't close").click()

    QTimer.singleShot(0, answer)
    assert MainWindow.ask_close(window, 1) == CLOSE_STAY
    assert shown == [window.close_question(1)]
    assert shown[0].startswith("1 job sent from this panel is queued or rendering.")
    assert "2 more rows waiting in this panel have not been sent to the engine: closing drops them" in shown[0]
    model.remove_rows([1, 2])
    assert window.close_question(1) == "1 job sent from this panel is queued or rendering."


def test_closing_with_only_waiting_rows_asks_before_dropping_them(make_window, tmp_path, qtbot):
    """Twenty shots queued, never started, nothing on an engine: closing asked nothing and the queue
    was gone. Now it asks; "Don't close" (the default: Enter or Escape) keeps the window and every
    row, "Close and drop them" closes."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from ui.main_window import CLOSE_CANCEL, CLOSE_STAY, MainWindow

    window = make_window(tmp_path / "none.json")
    model = window.queue_model
    for n in range(20):
        model.add_job({"source": f"/m/sh{n:03d}.mp4", "output": str(tmp_path / "out"), "frames": "1-4"})
    window.show()
    asked = []
    window.ask_close = lambda running: asked.append(running) or CLOSE_STAY
    assert not window.close()
    assert asked == [0] and window.isVisible() and model.rowCount() == 20
    assert window.close_question(0) == (
        "20 shots in the queue have not been sent to the engine (press Start queue to render them).\n\n"
        "Closing the panel drops them: the queue is not kept for next time.")

    shown = []

    def answer(button: str) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, lambda: answer(button))
            return
        shown.append((box.windowTitle(), box.text(), box.defaultButton().text()))
        next(b for b in box.buttons() if b.text().replace("&", "") == button).click()

    QTimer.singleShot(0, lambda: answer("Don't close"))
    assert MainWindow.ask_close(window, 0) == CLOSE_STAY
    assert shown == [("Shots still waiting", window.close_question(0), "Don't close")]
    QTimer.singleShot(0, lambda: answer("Close and drop them"))
    assert MainWindow.ask_close(window, 0) == CLOSE_CANCEL

    window.ask_close = lambda running: asked.append(running) or CLOSE_CANCEL
    assert window.close() and not window.isVisible()
    assert asked == [0, 0]


def test_closing_with_no_waiting_row_asks_nothing(make_window, tmp_path):
    """Finished or cancelled rows are not lost by closing (their frames are on disk): no question."""
    window = make_window(tmp_path / "none.json")
    model = window.queue_model
    model.add_job({"source": "/m/a.mp4", "output": str(tmp_path / "out"), "frames": "1-4"})
    model.cancel_here(0)
    window.show()
    asked = []
    window.ask_close = lambda running: asked.append(running) or "stay"
    assert window.close() and asked == []


def test_render_preview_is_offered_once_there_is_a_source(make_window, media_dir, tmp_path):
    """Under X, with the engine connected and no source yet, Render preview was live and answered a press
    with an error; it is greyed, saying why, until a source is typed or picked."""
    from ui.control_tips import why_not
    from ui.engine_bridge import CONNECTED

    window = make_window(tmp_path / "none.json")
    button = window.preview_panel.preview_button
    window.source_panel.source_edit.setText("")
    window._on_state(CONNECTED, "127.0.0.1:1 (pid 1)")
    assert not button.isEnabled() and "source" in why_not(button)
    window.source_panel.source_edit.setText(str(media_dir / "908.mp4"))
    assert button.isEnabled()
    window.source_panel.source_edit.setText("  ")
    assert not button.isEnabled()
    window._preview_by_key()
    assert window.status_log.messages()[0].startswith("no preview: no source")


def test_a_source_the_facts_could_not_read_is_not_queued(make_window, tmp_path):
    """Under X, notes.md typed in the Source field showed in red "... is not a readable video file", yet
    Enter queued it: the row failed only when the queue reached it. The form now refuses it at once."""
    from PySide6.QtWidgets import QApplication

    window = make_window(tmp_path / "none.json")
    notes = tmp_path / "notes.md"
    notes.write_text("# not a video\n")
    window.source_panel.set_source(str(notes))
    assert window.source_panel.wait_for_info()
    QApplication.processEvents()  # the facts reach the panel through a queued signal
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    assert window.add_to_queue() is None and window.queue_model.rowCount() == 0
    said = window.status_log.messages()[0]
    assert said.startswith("Source cannot be read:") and "notes.md" in said, said
