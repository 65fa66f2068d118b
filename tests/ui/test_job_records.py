"""The queue row state machine, event by event (no Qt)."""

from ui import job_records as jr
from ui.job_records import JobRecord

SETTINGS = {"source": "/media/shots/sh010.####.exr", "output": "/renders/sh010", "frames": "1-3"}


def _submitted() -> JobRecord:
    return jr.with_job_id(JobRecord(key=1, settings=SETTINGS), "abc")


def test_progress_then_done_fills_the_bar():
    record = _submitted()
    assert record.status == jr.QUEUED and record.fraction == 0.0
    record = jr.apply_event(record, {"event": "progress", "job": "abc", "done": 1, "total": 3,
                                     "frame": 1, "fps": 2.5, "eta_s": 0.8})
    assert record.status == jr.RUNNING
    assert abs(record.fraction - 1 / 3) < 1e-9
    assert record.fps == 2.5 and record.eta_s == 0.8
    record = jr.apply_event(record, {"event": "frame_done", "job": "abc", "frame": 2, "path": "/r/a.0002.png"})
    assert record.last_frame_path == "/r/a.0002.png"
    assert record.done == 1  # the frame_done count never outruns what progress already said
    record = jr.apply_event(record, {"event": "job_done", "job": "abc", "result": {"frames": 3}})
    assert record.status == jr.DONE and record.fraction == 1.0 and record.result == {"frames": 3}


def test_frame_done_moves_the_bar_between_batched_progress_events():
    record = jr.apply_event(_submitted(), {"event": "progress", "job": "abc", "done": 0, "total": 3})
    for n in (1, 2):
        record = jr.apply_event(record, {"event": "frame_done", "job": "abc", "frame": n, "path": f"/r/{n}"})
        assert record.done == n
    record = jr.apply_event(record, {"event": "progress", "job": "abc", "done": 0, "total": 3})
    assert record.done == 2 and record.status == jr.RUNNING


def test_fps_and_eta_are_estimated_from_frame_times_when_the_engine_sends_none():
    record = jr.apply_event(_submitted(), {"event": "progress", "job": "abc", "done": 0, "total": 5,
                                           "fps": 0.0, "eta_s": None})
    for n, t in ((1, 10.0), (2, 10.5), (3, 11.0)):
        record = jr.apply_event(record, {"event": "frame_done", "job": "abc", "frame": n}, now_s=t)
    assert abs(record.fps - 2.0) < 1e-9
    assert abs(record.eta_s - 1.0) < 1e-9  # 2 frames left at 2 fps
    record = jr.apply_event(record, {"event": "progress", "job": "abc", "done": 3, "total": 5,
                                     "fps": 2.5, "eta_s": 0.8})
    assert (record.fps, record.eta_s) == (2.5, 0.8)


def test_late_progress_never_reopens_a_finished_job():
    record = jr.apply_event(_submitted(), {"event": "job_cancelled", "job": "abc"})
    late = jr.apply_event(record, {"event": "progress", "job": "abc", "done": 2, "total": 3})
    assert late.status == jr.CANCELLED and late.done == 0


def test_failure_keeps_the_engine_message():
    record = jr.apply_event(_submitted(), {"event": "job_failed", "job": "abc",
                                           "error": {"code": "no_face", "message": "no face in any frame"}})
    assert record.status == jr.FAILED and record.error == "no face in any frame"
    assert record.fraction == 0.0


def test_cancel_before_the_id_is_known_is_remembered_and_retry_resets():
    record = jr.request_cancel(JobRecord(key=7, settings=SETTINGS))
    assert record.cancel_requested and record.status == jr.CANCELLING
    sent = jr.request_cancel(_submitted())
    assert not sent.cancel_requested
    retried = jr.reset_for_retry(jr.apply_event(sent, {"event": "job_cancelled", "job": "abc"}))
    assert retried.key == 1 and retried.job_id is None and retried.status == jr.PENDING
    assert retried.settings == SETTINGS


def test_labels_and_formatting():
    assert _submitted().shot == "sh010.####.exr"
    assert jr.format_eta(65.4) == "1:05" and jr.format_eta(3725) == "1:02:05" and jr.format_eta(None) == ""
    assert jr.format_fps(2.345) == "2.35" and jr.format_fps(24.0) == "24.0" and jr.format_fps(0) == ""
