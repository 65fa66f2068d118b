"""Rows the artist removed (Remove, Delete, Clear finished) stay out of a panel opened later. Under X: a done
908.mp4 row removed with Delete came back when the panel was reopened and an engine started again (the
engine's journal still lists the job; the panel forgot, on closing, that it had been removed)."""

from __future__ import annotations

from PySide6.QtCore import QSettings


def _listing(*job_ids: str) -> list[dict]:
    return [{"job": job_id, "state": "done", "settings": {"source": f"/m/{job_id}.mp4", "output": "/r"},
             "progress": {"done": 3, "total": 3, "skipped": 0}} for job_id in job_ids]


def _jobs(window) -> list[str]:
    return [r.job_id for r in window.queue_model.records()]


def test_removed_and_cleared_rows_stay_removed_in_the_next_panel(make_window, tmp_path):
    path = str(tmp_path / "panel.ini")
    first = make_window(tmp_path / "none.json", store=QSettings(path, QSettings.Format.IniFormat))
    first.queue.on_jobs_listed(_listing("kept", "removed", "cleared"))
    assert _jobs(first) == ["kept", "removed", "cleared"]
    first.queue.remove_rows([first.queue_model.row_of_job("removed")])
    first.queue.clear_finished()
    assert _jobs(first) == []
    first.queue.on_jobs_listed(_listing("kept", "removed", "cleared", "new"))  # the same panel: hidden
    assert _jobs(first) == ["new"]
    first.close()
    assert first.bridge.wait_stopped(30.0)

    again = make_window(tmp_path / "none.json", store=QSettings(path, QSettings.Format.IniFormat))
    again.queue.on_jobs_listed(_listing("kept", "removed", "cleared", "new", "later"))
    assert _jobs(again) == ["new", "later"]
