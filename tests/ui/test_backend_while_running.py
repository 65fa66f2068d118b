"""The Backend column says the backend the engine resolved as soon as a progress event names it, so a
running or cancelled job no longer reads "classic (planned)"; an older engine's events (no backend in
progress) keep the plan until the listing or the result says it."""

from __future__ import annotations

from ui.job_details import details_html
from ui.queue_model import BACKEND_COLUMN, PROGRESS_COLUMN, JobQueueModel


def _sent(model: JobQueueModel, job_id: str) -> int:
    key = model.add_job({"source": f"/m/{job_id}.mp4", "output": "/r", "frames": "1-16", "backend": "auto"},
                        planned_backend="vtoonify")
    model.mark_sent(model.row_of_key(key), model.record(model.row_of_key(key)).settings)
    model.assign_job_id(key, job_id)
    return model.row_of_key(key)


def _backend(model: JobQueueModel, row: int) -> str:
    return model.data(model.index(row, BACKEND_COLUMN))


def test_a_running_then_cancelled_job_shows_the_backend_the_engine_resolved(qtbot):
    model = JobQueueModel()
    row = _sent(model, "j1")
    assert _backend(model, row) == "vtoonify (planned)"
    model.apply_event({"event": "progress", "job": "j1", "done": 0, "total": 16, "skipped": 0, "backend": "classic"})
    assert _backend(model, row) == "auto → classic"  # while it runs: the engine's word, not the plan
    for frame in range(1, 6):
        model.apply_event({"event": "frame_done", "job": "j1", "frame": frame, "path": f"/r/j1.{frame:04d}.exr"})
    model.mark_cancelling(row)
    model.apply_event({"event": "progress", "job": "j1", "done": 5, "total": 16, "frame": 5, "skipped": 0,
                       "backend": "classic"})  # the engine's last count after the stop
    model.apply_event({"event": "job_cancelled", "job": "j1", "state": "cancelled"})
    record = model.record(row)
    assert record.status == "cancelled" and record.backend == "classic"
    assert _backend(model, row) == "auto → classic" and model.data(model.index(row, PROGRESS_COLUMN)) == "5/16"
    assert "(planned)" not in details_html(record)


def test_an_older_engine_without_backend_in_progress_keeps_the_plan_until_the_listing_says(qtbot):
    model = JobQueueModel()
    row = _sent(model, "j2")
    model.apply_event({"event": "progress", "job": "j2", "done": 2, "total": 16})
    model.apply_event({"event": "job_cancelled", "job": "j2", "state": "cancelled"})
    assert _backend(model, row) == "vtoonify (planned)"
    model.merge_listing([{"job": "j2", "state": "cancelled", "backend_used": "classic",
                          "progress": {"done": 2, "total": 16}}])
    assert _backend(model, row) == "auto → classic"


def test_a_job_cancelled_before_its_first_progress_event_says_what_was_asked(qtbot):
    """Cancelled while queued on the engine (no progress event yet) or while still waiting in the
    panel: the row says the backend asked and that it never started, never a plan for a job that
    will not render."""
    model = JobQueueModel()
    queued = _sent(model, "j3")
    model.mark_cancelling(queued)
    model.apply_event({"event": "job_cancelled", "job": "j3", "state": "cancelled"})
    assert _backend(model, queued) == "auto (cancelled before start)"
    assert "none: cancelled before start" in details_html(model.record(queued))
    waiting = model.row_of_key(model.add_job({"source": "/m/w.mp4", "output": "/r", "backend": "classic"},
                                             planned_backend="classic"))
    assert _backend(model, waiting) == "classic (planned)"
    model.cancel_here(waiting)  # not on any engine: the controller cancels it here at once
    assert model.record(waiting).status == "cancelled"
    assert _backend(model, waiting) == "classic (cancelled before start)"
