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
    row name Start engine, then Retry (the row alone said "once an engine is back")."""
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
    assert "Start engine" in record.error and "Retry" in record.error
    latest = window.status_log.messages()[0]
    assert "1 job interrupted" in latest and "Start engine" in latest and "Retry" in latest, latest
