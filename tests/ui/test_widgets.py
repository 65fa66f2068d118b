"""Widgets on their own (offscreen): split view painting and dragging, queue model routing, progress
painting, thumbnails, persisted settings, visible errors. No engine process here."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QImage

from ui.queue_model import PROGRESS_COLUMN, FractionRole, JobQueueModel
from ui.split_view import SplitCompareView
from ui.thumbnails import read_first_frame


def _solid(colour: str, width: int = 200, height: int = 100) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    return image


def _rgb(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_split_view_paints_before_left_after_right_and_drags(qtbot):
    view = SplitCompareView()
    qtbot.addWidget(view)
    view.resize(400, 200)
    view.set_images(_solid("#ff0000"), _solid("#0000ff"))
    assert view.after_pixmap().size() == _solid("#000000").size()
    shot = view.grab().toImage()
    assert _rgb(shot, 100, 150) == (255, 0, 0)
    assert _rgb(shot, 300, 150) == (0, 0, 255)

    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(300, 100))
    assert abs(view.split - 0.75) < 0.01
    shot = view.grab().toImage()
    assert _rgb(shot, 250, 150) == (255, 0, 0)
    assert _rgb(shot, 350, 150) == (0, 0, 255)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 100))
    qtbot.mouseMove(view, QPoint(40, 100))
    assert view.split <= 0.25


def test_queue_model_holds_events_until_the_job_id_is_known(qtbot):
    model = JobQueueModel()
    key = model.add_job({"source": "/m/651.mp4", "output": "/r", "frames": "1-3"})
    model.mark_sent(0, model.record(0).settings)  # submitting: the reply may come after the first events
    model.apply_event({"event": "progress", "job": "j1", "done": 1, "total": 3, "fps": 1.5, "eta_s": 2})
    assert model.record(0).done == 0
    model.assign_job_id(key, "j1")
    assert model.record(0).done == 1
    assert model.data(model.index(0, PROGRESS_COLUMN)) == "1/3"
    assert abs(model.data(model.index(0, PROGRESS_COLUMN), FractionRole) - 1 / 3) < 1e-9
    assert model.data(model.index(0, 0)) == "651.mp4"
    with qtbot.waitSignal(model.job_finished) as finished:
        model.apply_event({"event": "job_done", "job": "j1", "result": {}})
    assert finished.args == [key, "done"]


def test_cancel_pressed_before_submit_reply_is_sent_with_the_id(qtbot):
    model = JobQueueModel()
    key = model.add_job({"source": "/m/a.mp4", "output": "/r"})
    model.mark_cancelling(0)
    with qtbot.waitSignal(model.cancel_needed) as needed:
        model.assign_job_id(key, "j9")
    assert needed.args == ["j9"]


def test_an_engine_failure_reaches_the_status_area_once_whichever_way_it_arrives(make_window):
    """The engine fails a missing source at once: its job_failed event (reader thread) can reach the
    panel before the submit reply (bridge thread), or the ``jobs`` listing before the event. Each way
    the artist gets the engine's message in the status area, once."""
    window = make_window()  # no engine: the bridge's signals are driven in the order seen in CI
    model, bridge, log = window.queue_model, window.bridge, window.status_log
    failed = {"event": "job_failed", "state": "failed",
              "error": {"code": "input_error", "message": "no such file: /m/gone.mp4"}}
    expected = "Source cannot be read: gone.mp4: no such file: /m/gone.mp4"

    key = model.add_job({"source": "/m/gone.mp4", "output": "/r", "frames": "1-3"})
    model.mark_sent(model.row_of_key(key), model.record(model.row_of_key(key)).settings)
    bridge.engine_event.emit(dict(failed, job="j1"))  # before the reply: held by the model
    assert log.messages() == []
    bridge.job_submitted.emit(key, "j1")
    assert model.record(model.row_of_key(key)).status == "failed"
    assert log.messages() == [expected]

    key = model.add_job({"source": "/m/gone.mp4", "output": "/r2", "frames": "1-3"})
    model.mark_sent(model.row_of_key(key), model.record(model.row_of_key(key)).settings)
    bridge.job_submitted.emit(key, "j2")
    bridge.jobs_listed.emit([{"job": "j2", "state": "failed", "error": failed["error"]}])
    assert model.record(model.row_of_key(key)).status == "failed"
    bridge.engine_event.emit(dict(failed, job="j2"))  # the event after the listing adds nothing
    assert log.messages() == [expected, expected]

    key = model.add_job({"source": "/m/gone.mp4", "output": "/r3"})
    model.mark_sent(model.row_of_key(key), model.record(model.row_of_key(key)).settings)
    bridge.submit_failed.emit(key, "bad_config", "frames: '9-1' is backwards")
    assert log.messages()[0] == "Setting not accepted: gone.mp4: frames: '9-1' is backwards"
    assert len(log.messages()) == 3


def test_select_row_selects_that_row_even_after_a_ctrl_shortcut(make_window, qtbot):
    """A Ctrl shortcut (here Ctrl+., as tests press it) leaves Ctrl as the application's modifier
    state; the panel's own row selection must still select exactly the row it names."""
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    model, panel = window.queue_model, window.queue_panel
    for name in ("a", "b", "c"):
        model.add_job({"source": f"/m/{name}.mp4", "output": "/r"})
    qtbot.keyClick(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.keyboardModifiers() == Qt.KeyboardModifier.ControlModifier  # the state later tests see
    try:
        panel.select_row(1)
        panel.select_row(2)
        panel.select_row(2)
        assert panel.selected_rows() == [2]
        assert panel.table.currentIndex().row() == 2
    finally:
        qtbot.keyClick(window, Qt.Key.Key_F35)  # a plain key: no modifier left for the next test


def test_progress_delegate_draws_the_fraction(make_window, qtbot):
    window = make_window()
    window.resize(1100, 700)
    window.show()
    qtbot.waitExposed(window)
    model = window.queue_model
    key = model.add_job({"source": "/m/a.mp4", "output": "/r", "frames": "1-10"})
    model.assign_job_id(key, "j1")
    table = window.queue_panel.table
    cell = table.visualRect(model.index(0, PROGRESS_COLUMN))
    empty = table.viewport().grab(cell).toImage()
    model.apply_event({"event": "progress", "job": "j1", "done": 9, "total": 10})
    full = table.viewport().grab(cell).toImage()
    assert empty.size() == full.size() and empty != full


def test_cancelled_frames_leave_the_total_and_retry_brings_them_back(make_window):
    window = make_window()
    model, panel = window.queue_model, window.queue_panel
    first = model.add_job({"source": "/m/a.mp4", "output": "/r", "frames": "1-10"})
    model.add_job({"source": "/m/b.mp4", "output": "/r2", "frames": "1-6"})
    model.assign_job_id(first, "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 4, "total": 10})
    assert panel.total_bar.format() == "4/16 frames"
    model.apply_event({"event": "job_cancelled", "job": "j1"})
    assert model.record(0).status == "cancelled"
    assert panel.total_bar.format() == "4/10 frames, 6 cancelled" and panel.total_bar.maximum() == 10
    window.queue.retry_rows([0])  # no engine: back to waiting, its frames are work to do again
    assert panel.total_bar.format().endswith("/16 frames")


def test_removing_every_waiting_row_leaves_the_queue_idle(make_window, tmp_path):
    window = make_window(tmp_path / "no-engine.json")  # no engine: the started queue waits for one
    panel = window.queue_panel
    window.queue_model.add_job({"source": "/m/a.mp4", "output": "/r", "frames": "1-3"})
    assert panel.start_button.isEnabled()
    panel.start_button.click()
    assert window.queue.running and panel.start_button.text() == "Pause queue"
    window.queue.remove_rows([0])  # nothing left to send: idle, so a row added later waits for Start
    assert not window.queue.running and panel.start_button.text() == "Start queue"
    assert not panel.start_button.isChecked() and not panel.start_button.isEnabled()


def test_thumbnails_from_image_and_video(media_dir):
    photo = read_first_frame(str(media_dir / "077436.jpg"), 256)  # 500x375
    assert (photo.width(), photo.height()) == (256, 192)
    video = read_first_frame(str(media_dir / "529_2.mp4"), 256)   # 376x352
    assert video.width() == 256 and abs(video.height() - 240) <= 1
    assert not video.isNull() and video.pixelColor(128, 120) != QColor(0, 0, 0)
    assert read_first_frame(str(media_dir / "missing.mp4")).isNull()


def test_source_panel_shows_a_thumbnail(make_window, media_dir, qtbot):
    window = make_window()
    window.source_panel.set_source(str(media_dir / "077436.jpg"))
    qtbot.waitUntil(lambda: not window.source_panel.thumbnail_pixmap().isNull(), timeout=10000)
    assert window.source_panel.thumbnail_pixmap().width() <= window.source_panel.thumbnail.width()


def test_settings_survive_a_restart(make_window, ini_settings, tmp_path, media_dir):
    from PySide6.QtCore import QSettings

    first = make_window()
    first.source_panel.set_source(str(media_dir / "651.mp4"))
    first.source_panel.output_edit.setText(str(tmp_path / "renders"))
    first.source_panel.format_combo.setCurrentText("png")
    first.source_panel.mattes_check.setChecked(True)
    first.source_panel.set_frame_range(5, 9)
    first.style_panel.degree_slider.setValue(30)
    first.style_panel.color_transfer_check.setChecked(True)
    first.preview_panel.view.set_split(0.2)
    first.close()
    text = (tmp_path / "panel.ini").read_text()
    assert "651.mp4" in text and "degree=0.3" in text

    second = make_window(store=QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat))
    values = second.current_settings()
    assert values["source"] == str(media_dir / "651.mp4")
    assert values["output"] == str(tmp_path / "renders")
    assert (values["format"], values["mattes"], values["frames"]) == ("png", True, "5-9")
    assert (values["degree"], values["color_transfer"]) == (0.3, True)
    assert abs(second.preview_panel.view.split - 0.2) < 1e-9


def test_invalid_form_is_reported_and_not_queued(make_window):
    window = make_window()
    window.source_panel.set_source("/m/a.mp4")
    window.source_panel.output_edit.setText("")
    assert window.add_to_queue() is None
    assert window.queue_model.rowCount() == 0
    assert "no output folder picked" in window.status_log.messages()[0]


def test_missing_engine_is_visible(make_window, tmp_path, qtbot):
    window = make_window(connection_file=tmp_path / "nobody.json")
    window.connect_button.click()
    qtbot.waitUntil(lambda: "no running engine" in window.indicator.text(), timeout=5000)
    assert window.indicator.state == "disconnected"
    window.source_panel.set_source("/m/a.mp4")
    window.source_panel.output_edit.setText(str(tmp_path))
    window.add_to_queue()
    window.queue_panel.set_running(True)
    assert window.queue_model.record(0).status == "waiting"  # kept until an engine is there, never lost
    assert "once an engine is connected" in window.status_log.messages()[0]


def test_open_output_folder_asks_the_desktop(make_window, monkeypatch, tmp_path):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    window = make_window()
    window.queue_model.add_job({"source": "/m/a.mp4", "output": str(tmp_path)})
    window.queue_panel.select_row(0)
    window.queue_panel.open_button.click()
    assert opened and opened[0].toLocalFile() == str(tmp_path)


def combo_items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_style_panel_offers_only_what_the_engine_has(qtbot):
    from ui.capabilities import parse_capabilities
    from ui.style_panel import StylePanel

    panel = StylePanel()
    qtbot.addWidget(panel)
    panel.set_capabilities(parse_capabilities({   # the shape engine/pipeline/capabilities.py sends
        "backends": ["auto", "classic", "vtoonify"], "devices": ["cpu", "cuda"],
        "styles": [{"style": "cartoon", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"],
                    "style_ids": [f"c{i}.jpg" for i in range(300)]},
                   {"style": "cartoon", "backbone": "toonify", "checkpoints": ["vtoonify.pt"]},
                   {"style": "arcane", "backbone": "toonify", "checkpoints": ["vtoonify.pt"]}]}))
    assert combo_items(panel.backend_combo) == ["auto", "vtoonify", "classic"]
    assert combo_items(panel.device_combo) == ["auto", "cpu", "cuda"]
    assert combo_items(panel.family_combo) == ["cartoon", "arcane"]
    assert combo_items(panel.backbone_combo) == ["auto", "dualstylegan", "toonify"]
    assert (panel.style_id_spin.minimum(), panel.style_id_spin.maximum()) == (0, 299)
    panel.family_combo.setCurrentText("arcane")
    assert combo_items(panel.backbone_combo) == ["auto", "toonify"]
    assert not panel.style_id_spin.isEnabled() and "no exemplars" in panel.style_id_spin.toolTip()
    panel.set_capabilities(parse_capabilities({"styles": [
        {"style": "comic", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"],
         "style_ids": ["anna.jpg", "ben.jpg"]}], "backends": ["auto", "classic", "vtoonify"]}))
    panel.style_id_spin.setValue(1)
    assert panel.style_id_spin.maximum() == 1 and panel.style_id_hint.text() == "ben.jpg (2 exemplars)"
    panel.degree_slider.setValue(75)
    values = panel.values()
    assert (values["style"], values["backbone"], values["degree"]) == ("comic", "auto", 0.75)


def test_sequence_thumbnail_is_its_first_frame(tmp_path):
    _solid("#00ff00", 64, 48).save(str(tmp_path / "sh020.1001.png"))
    _solid("#ff00ff", 64, 48).save(str(tmp_path / "sh020.1002.png"))
    image = read_first_frame(str(tmp_path / "sh020.####.png"), 256)
    assert (image.width(), image.height()) == (64, 48)
    assert _rgb(image, 10, 10) == (0, 255, 0)


def test_a_row_button_greyed_under_the_focus_hands_it_to_the_queue_not_to_remove(make_window, tmp_path, qtbot):
    """Cancel pressed (Space, or a click, which focuses the button): it greys out and Qt moved the
    focus to the next live button, Remove, so the next Enter or Space took the row out of the queue,
    and with it the Retry that was coming. The focus goes to the queue table instead."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    window = make_window(tmp_path / "none.json")
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    model, panel = window.queue_model, window.queue_panel
    settings = {"source": "/m/a.mp4", "output": str(tmp_path / "out"), "frames": "1-40"}
    key = model.add_job(settings)
    model.mark_sent(0, settings)
    model.assign_job_id(key, "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 3, "total": 40})
    panel.select_row(0)
    cancels = []
    window.bridge.state = "connected"  # the engine takes the cancel and confirms it later
    window.bridge.cancel = cancels.append
    panel.cancel_button.setFocus()
    QTest.keyClick(panel.cancel_button, Qt.Key.Key_Space)
    assert cancels == ["j1"]
    model.apply_event({"event": "job_cancelled", "job": "j1", "state": "cancelled"})
    assert not panel.cancel_button.isEnabled() and panel.retry_button.isEnabled()
    assert QApplication.focusWidget() is panel.table, QApplication.focusWidget()
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert model.rowCount() == 1 and panel.selected_rows() == [0]
