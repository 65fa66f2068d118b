"""The total bar tells the time left for the whole queue, not only frames: the running job's ETA (the
engine's progress event) plus the waiting rows' frames at the rate it renders now."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from ui.queue_model import JobQueueModel
from ui.queue_panel import QueuePanel


def _running(model, frames: str, job_id: str, done: int, total: int, fps: float, eta_s: float) -> None:
    key = model.add_job({"source": f"/m/{job_id}.mp4", "output": "/r", "frames": frames})
    model.mark_sent(model.row_of_key(key), model.record(model.row_of_key(key)).settings)
    model.assign_job_id(key, job_id)
    model.apply_event({"event": "progress", "job": job_id, "done": done, "total": total, "fps": fps, "eta_s": eta_s})


def test_the_total_bar_shows_frames_and_the_queue_eta(qtbot):
    model = JobQueueModel()
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    model.add_job({"source": "/m/a.mp4", "output": "/r", "frames": "1-20"})
    assert panel.total_bar.format() == "0/20 frames"                 # nothing renders yet: no ETA invented
    _running(model, "1-40", "j1", done=10, total=40, fps=2.0, eta_s=15.0)
    # 15 s left on the running job + 20 waiting frames at 2 fps = 25 s
    assert model.queue_eta() == (25.0, False)
    assert panel.total_bar.format() == "10/60 frames · queue ETA 0:25"
    model.add_job({"source": "/m/whole.mp4", "output": "/r"})         # a whole clip: its length is not known yet
    assert panel.total_bar.format() == "10/60+ frames, 1 shot not counted yet · queue ETA ≥ 0:25"
    model.apply_event({"event": "job_done", "job": "j1", "result": {}})
    assert model.queue_eta() == (None, False) and "ETA" not in panel.total_bar.format()


def test_a_whole_clip_the_panel_has_read_counts_before_the_engine_does(make_window, media_dir, tmp_path):
    """Two whole clips queued from the form, the first cancelled before the second reported its
    length: the bar read "21/21 frames, 279 cancelled", full, and the title "21/21 frames" while the
    second still rendered. The source facts had counted its 62 frames when it was added."""
    window = make_window(tmp_path / "none.json")
    model, panel = window.queue_model, window.queue_panel
    keys = []
    for name in ("529_2.mp4", "651.mp4"):  # 29 and 62 frames
        window.source_panel.set_source(str(media_dir / name))
        assert window.source_panel.wait_for_info()
        QApplication.processEvents()  # the facts reach the panel through a queued signal
        window.source_panel.output_edit.setText(str(tmp_path / "out"))
        keys.append(window.add_to_queue())
    assert panel.total_bar.format() == "0/91 frames"
    first = model.record(0).settings
    model.mark_sent(0, first)
    model.assign_job_id(keys[0], "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 5, "total": 29, "fps": 2.0, "eta_s": 12.0})
    assert panel.total_bar.format() == "5/91 frames · queue ETA 0:43"  # 12 s + 62 frames at 2 fps: no floor
    model.mark_sent(1, model.record(1).settings)
    model.assign_job_id(keys[1], "j2")
    model.apply_event({"event": "job_cancelled", "job": "j1", "state": "cancelled"})
    assert panel.total_bar.format() == "5/67 frames, 24 cancelled"
    assert window.windowTitle() == "5/67 frames · VToonify Studio"
    model.duplicate(1)  # a copy of the row counts the same frames
    assert panel.total_bar.format() == "5/129 frames, 24 cancelled"


def test_dropped_shots_count_their_frames_and_the_bar_is_never_full_while_one_is_unknown(
        make_window, media_dir, tmp_path, qtbot):
    """Shots dropped on the queue had no frame count until the engine reported one: with a finished
    4-frame row and two dropped clips waiting, the bar read "4/4 frames", full. Their facts are now
    read in the background (the UI keeps going), and a clip that cannot be read counts as the one
    frame it holds at least, the text naming it."""
    window = make_window(tmp_path / "none.json")
    model, panel = window.queue_model, window.queue_panel
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    done = model.add_job({"source": "/m/a.mp4", "output": str(tmp_path / "out"), "frames": "1-4"})
    model.mark_sent(0, model.record(0).settings)
    model.assign_job_id(done, "j1")
    model.apply_event({"event": "progress", "job": "j1", "done": 4, "total": 4})
    model.apply_event({"event": "job_done", "job": "j1", "result": {}})
    assert panel.total_bar.format() == "4/4 frames"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)

    keys = window.add_dropped([str(media_dir / "529_2.mp4"), str(media_dir / "651.mp4"), str(broken)])
    assert len(keys) == 3
    assert panel.total_bar.value() < panel.total_bar.maximum()   # not full before the facts are read
    assert window.shot_counter.wait()
    qtbot.waitUntil(lambda: bool(model.record(1).counted and model.record(2).counted), timeout=5000)
    assert [model.record(r).counted for r in (1, 2, 3)] == [29, 62, 0]
    assert panel.total_bar.format() == "4/95+ frames, 1 shot not counted yet"
    assert (panel.total_bar.value(), panel.total_bar.maximum()) == (4, 96)
    model.remove_rows([3])
    assert panel.total_bar.format() == "4/95 frames"


def test_a_multi_file_browse_counts_its_shots(make_window, media_dir, tmp_path, qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = make_window(tmp_path / "none.json")
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    picked = [str(media_dir / n) for n in ("529_2.mp4", "651.mp4")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (picked, "")))
    window.source_panel.browse_button.click()
    qtbot.waitUntil(lambda: window.queue_panel.total_bar.format() == "0/91 frames", timeout=5000)


def test_a_failed_rows_frames_leave_the_bar_and_are_named(qtbot):
    """Under X a queue of two good shots and one that failed (its output folder was a file) finished at
    "78/117 frames": the bar stayed a third empty for frames no one would render. They are named apart,
    as a cancelled row's are, and Retry brings them back."""
    model = JobQueueModel()
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    _running(model, "1-10", "ok", done=10, total=10, fps=2.0, eta_s=0.0)
    model.apply_event({"event": "job_done", "job": "ok", "result": {}})
    key = model.add_job({"source": "/m/908.mp4", "output": "/file.mp4"}, counted=39)
    model.mark_sent(1, model.record(1).settings)
    model.assign_job_id(key, "bad")
    model.apply_event({"event": "job_failed", "job": "bad", "error": {"code": "output_error", "message": "no"}})
    assert panel.total_bar.format() == "10/10 frames, 39 failed"
    model.reset_for_retry(1)
    assert panel.total_bar.format() == "10/49 frames"
