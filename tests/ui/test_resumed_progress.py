"""A resumed job's kept frames stay counted: its row and the total bar go on from where the cancel
left them instead of dropping back (under X: 529.mp4 cancelled at 50/300 beside a 39-frame shot read
"71/339 frames"; Retry's first progress event turned the row into "0/250" and the bar into "39/289")."""

from __future__ import annotations

from ui import job_records as jr
from ui.queue_model import PROGRESS_COLUMN, JobQueueModel
from ui.queue_panel import QueuePanel


def _progress(model, job_id: str, done: int, total: int, skipped: int = 0) -> None:
    model.apply_event({"event": "progress", "job": job_id, "done": done, "total": total, "skipped": skipped,
                       "fps": 2.0, "eta_s": (total - done) / 2.0})


def test_retry_after_cancel_counts_the_kept_frames(qtbot):
    model = JobQueueModel()
    panel = QueuePanel(model)
    qtbot.addWidget(panel)
    key = model.add_job({"source": "/m/529.mp4", "output": "/r"}, counted=300)
    model.mark_sent(0, model.record(0).settings)
    model.assign_job_id(key, "j1")
    _progress(model, "j1", 50, 300)
    model.apply_event({"event": "job_cancelled", "job": "j1", "state": "cancelled"})
    assert panel.total_bar.format() == "50/50 frames, 250 cancelled"

    model.mark_resuming(0)           # Retry: the engine skips the 50 frames on disk
    model.assign_job_id(key, "j1")
    _progress(model, "j1", 0, 250, skipped=50)
    row = model.index(0, PROGRESS_COLUMN)
    assert model.data(row) == "50/300" and model.record(0).fraction == 50 / 300
    assert panel.total_bar.format().startswith("50/300 frames")
    _progress(model, "j1", 10, 250, skipped=50)
    assert model.data(row) == "60/300" and panel.total_bar.format().startswith("60/300 frames")
    model.apply_event({"event": "job_done", "job": "j1", "result": {"skipped": 50, "rendered": 250}})
    assert model.data(row) == "300/300" and panel.total_bar.format() == "300/300 frames"


def test_a_cancel_after_a_resume_counts_every_frame_on_disk_as_done():
    record = jr.with_job_id(jr.JobRecord(key=1, settings={"source": "/m/a.mp4", "output": "/r"}), "j")
    record = jr.apply_event(record, {"event": "progress", "job": "j", "done": 20, "total": 80, "skipped": 20})
    record = jr.apply_event(record, {"event": "job_cancelled", "job": "j", "state": "cancelled"})
    assert (record.frames_done, record.frames_total) == (40, 100)


def test_a_progress_event_saying_nothing_was_kept_is_believed():
    """A second run that found nothing on disk (the folder emptied) keeps no stale "kept" count."""
    record = jr.with_job_id(jr.JobRecord(key=1, settings={"source": "/m/a.mp4", "output": "/r"}), "j")
    record = jr.apply_event(record, {"event": "progress", "job": "j", "done": 0, "total": 70, "skipped": 30})
    record = jr.resuming(record)
    record = jr.apply_event(record, {"event": "progress", "job": "j", "done": 0, "total": 100, "skipped": 0})
    assert record.skipped == 0 and record.frames_total == 100
