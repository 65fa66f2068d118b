"""The total bar tells the time left for the whole queue, not only frames: the running job's ETA (the
engine's progress event) plus the waiting rows' frames at the rate it renders now."""

from __future__ import annotations

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
    assert panel.total_bar.format() == "10/60 frames · queue ETA ≥ 0:25"
    model.apply_event({"event": "job_done", "job": "j1", "result": {}})
    assert model.queue_eta() == (None, False) and "ETA" not in panel.total_bar.format()
