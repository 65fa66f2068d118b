"""Job event tracking and partial-output cleanup (shared by modal and batch stylize)."""

from __future__ import annotations

from vtoonify_addon.core.cleanup import remove_new_files, snapshot
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


def test_cleanup_removes_only_new_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.0001.png").write_bytes(b"keep")
    before = snapshot(str(out))
    (out / "new.0001.png").write_bytes(b"x")
    (out / "new.vtoonify.json").write_text("{}")
    removed = remove_new_files(str(out), before, existed=True)
    assert sorted(p.rsplit("/", 1)[1] for p in removed) == ["new.0001.png", "new.vtoonify.json"]
    assert [p.name for p in out.iterdir()] == ["old.0001.png"]


def test_cleanup_drops_folder_it_created(tmp_path):
    out = tmp_path / "fresh"
    before = snapshot(str(out))
    out.mkdir()
    (out / "a.0001.png").write_bytes(b"x")
    remove_new_files(str(out), before, existed=False)
    assert not out.exists()
