"""Job event tracking (shared by modal and batch stylize)."""

from __future__ import annotations

from vtoonify_addon.core.job_tracker import JobTracker


def test_tracker_follows_its_job_only():
    t = JobTracker("j1")
    assert not t.feed({"event": "progress", "job": "other", "done": 5, "total": 9})
    assert t.feed({"event": "progress", "job": "j1", "done": 2, "total": 8, "fps": 1.5, "eta_s": 4.0})
    assert t.fraction == 0.25 and "2/8" in t.status_line() and "4s left" in t.status_line()
    t.feed({"event": "frame_done", "job": "j1", "frame": 3, "path": "/o/a.0003.png"})
    assert t.written == ["/o/a.0003.png"]
    t.feed({"event": "job_done", "job": "j1", "result": {"pattern": "/o/a.####.png", "count": 8}})
    assert t.finished and t.state == "done" and t.fraction == 1.0
    assert not t.feed({"event": "job_failed", "job": "j1", "error": {}})  # final state sticks


def test_tracker_failure_and_cancel():
    t = JobTracker("j")
    t.feed({"event": "job_failed", "job": "j", "error": {"code": "no_face", "message": "no face"}})
    assert t.state == "failed" and "no face" in t.status_line()
    c = JobTracker("k")
    c.feed({"event": "job_cancelled", "job": "k"})
    assert c.state == "cancelled"


def test_only_the_engines_own_final_event_counts_as_ended():
    """Cleanup may delete files only once the engine itself said the job ended."""
    t = JobTracker("j")
    t.feed({"event": "progress", "job": "j", "done": 1, "total": 4})
    assert not t.ended_by_engine
    t.state = "cancelled"  # what PolledJob does when it gives up waiting (engine silent)
    assert t.finished and not t.ended_by_engine
    assert not t.feed({"event": "job_cancelled", "job": "j"})  # too late to count
    for kind in ("job_done", "job_failed", "job_cancelled"):
        u = JobTracker("k")
        assert not u.feed({"event": kind, "job": "other"}) and not u.ended_by_engine
        u.feed({"event": kind, "job": "k", "result": {"count": 1}, "error": {}})
        assert u.finished and u.ended_by_engine


def test_fallback_and_warnings_become_notes():
    from vtoonify_addon.core.job_tracker import JobTracker, outcome_notes

    t = JobTracker("j1")
    t.feed({"event": "warning", "job": "j1", "message": "no VToonify models found: using the classic backend"})
    t.feed({"event": "warning", "job": "other", "message": "not ours"})
    t.feed({"event": "job_done", "job": "j1", "result": {"backend": "classic", "count": 2, "warnings": ["w2"]}})
    assert outcome_notes(t, "auto") == ["rendered with the classic backend (auto was asked for)",
                                        "no VToonify models found: using the classic backend", "w2"]
    assert outcome_notes(t, "classic")[0].startswith("no VToonify")


def test_the_face_search_is_told_apart_from_rendering():
    """Follow faces searches the whole shot before the first frame: its progress is named as such."""
    t = JobTracker("j")
    assert t.status_line() == "VToonify: analysing the shot (finding the face)..."
    t.feed({"event": "progress", "job": "j", "phase": "analysis", "done": 12, "total": 48, "eta_s": 9.0})
    assert t.phase == "analysis" and t.fraction == 0.25
    assert t.status_line() == "VToonify: 25% 12/48 frames searched for faces, 9s left"
    t.feed({"event": "progress", "job": "j", "done": 0, "total": 3, "frame": None, "eta_s": None})
    assert t.phase == "render" and t.status_line() == "VToonify: 0% 0/3 frames"
