"""A job whose crops follow the faces first searches every frame for faces (``progress`` events with
``"phase": "analysis"``), then renders, counting from 0 again. The panel took the search for rendered
frames: the row read 39/39 and the total bar "39/39 frames" before one frame was written, then dropped back
to 0/39 as the render began. The search is now named as such and the frame counts only count frames."""

from __future__ import annotations

from ui import job_records as jr
from ui.queue_model import PROGRESS_COLUMN, STATUS_COLUMN, JobQueueModel
from ui.queue_panel import QueuePanel


def test_the_face_search_is_not_counted_as_rendered_frames(qtbot):
    model = JobQueueModel()
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    key = model.add_job({"source": "/m/908.mp4", "output": "/r", "follow_faces": True}, counted=39)
    model.mark_sent(0, model.record(0).settings)
    model.assign_job_id(key, "j1")
    for done in (0, 20, 39):
        model.apply_event({"event": "progress", "job": "j1", "phase": "analysis", "done": done, "total": 39,
                           "fps": 6.0, "eta_s": (39 - done) / 6.0, "skipped": 0})
        assert model.data(model.index(0, PROGRESS_COLUMN)) == f"faces {done}/39"
        assert model.record(0).fraction == 0.0 and model.record(0).fps is None
        assert "finding faces" in model.data(model.index(0, STATUS_COLUMN))
        assert panel.total_bar.format().startswith("0/39 frames")
    model.apply_event({"event": "progress", "job": "j1", "done": 0, "total": 39, "fps": 0.0, "eta_s": None,
                       "skipped": 0})
    assert model.data(model.index(0, PROGRESS_COLUMN)) == "0/39"
    assert model.data(model.index(0, STATUS_COLUMN)) == "running"
    model.apply_event({"event": "progress", "job": "j1", "done": 5, "total": 39, "fps": 1.0, "eta_s": 34.0})
    assert model.data(model.index(0, PROGRESS_COLUMN)) == "5/39" and panel.total_bar.format().startswith("5/39")


def test_a_search_event_after_the_render_began_changes_nothing():
    record = jr.with_job_id(jr.JobRecord(key=1, settings={"source": "/m/a.mp4", "output": "/r"}), "j")
    record = jr.apply_event(record, {"event": "progress", "job": "j", "done": 3, "total": 10})
    late = jr.apply_event(record, {"event": "progress", "job": "j", "phase": "analysis", "done": 10, "total": 10})
    assert (late.done, late.total, late.searching) == (3, 10, False)


def test_a_panel_that_joins_during_the_search_shows_the_search():
    """The engine's job listing carries the last progress event: a search's, while the job searches."""
    summary = {"job": "j", "state": "running", "settings": {"source": "/m/a.mp4", "output": "/r"},
               "progress": {"phase": "analysis", "done": 12, "total": 39, "skipped": 0}}
    record = jr.from_summary(1, summary)
    assert (record.done, record.total, record.searched, record.search_total, record.searching) == (0, 0, 12, 39, True)


def test_the_bar_text_fits_its_cell_on_one_line(qtbot):
    """Under X the bar's text wrapped onto two clipped lines in the Progress column ("finding faces" over
    "14/39"); a text wider than the cell is elided in the middle, keeping the count's end."""
    from PySide6.QtGui import QFont, QFontMetrics

    from ui.progress_delegate import fitted_text

    metrics = QFontMetrics(QFont())
    assert fitted_text("faces 14/39", metrics, 200) == "faces 14/39"
    narrow = fitted_text("finding faces 14/39", metrics, 60)
    assert metrics.horizontalAdvance(narrow) <= 60 and narrow.endswith("/39") and "…" in narrow
