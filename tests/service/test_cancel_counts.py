"""A job cancelled inside a batch, through the service's queue and the REAL pipeline: the listing's
done count and frame equal the files on disk, the backend is known though the job never finished, and
a resume skips exactly those files."""

from __future__ import annotations

from test_jobs import Recorder

from engine.service.jobs import JobQueue, pipeline_runner


def test_cancel_mid_batch_lists_the_frames_on_disk_and_the_backend_used(media_dir, tmp_path, empty_models_dir):
    out = tmp_path / "out"
    events = Recorder()
    queue = JobQueue(events, runner=pipeline_runner, model_cache_factory=None, state_dir=tmp_path / "state",
                     default_device="cpu")
    settings = {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": "1-16", "format": "png",
                "backend": "auto", "device": "cpu", "padding": [64, 64, 64, 64], "batch": 4}

    def publish(jid, message):
        events(jid, message)
        if message["event"] == "frame_done" and message["frame"] == 5:  # first frame of the second batch
            queue.cancel(jid)

    queue._publish = publish
    try:
        job_id = queue.submit(settings).id
        end = events.wait_terminal(job_id, timeout_s=120)
        assert end["event"] == "job_cancelled" and end["state"] == "cancelled"
        on_disk = sorted(int(p.name.split(".")[1]) for p in out.glob("529_2.*.png"))
        assert on_disk == list(range(1, len(on_disk) + 1)) and 5 <= len(on_disk) < 16
        [summary] = queue.list()
        assert summary["state"] == "cancelled" and summary["backend_asked"] == "auto"
        assert summary["backend_used"] == "classic"  # no models: auto resolved to classic, said before the end
        assert summary["progress"]["done"] == len(on_disk) and summary["progress"]["frame"] == on_disk[-1]
        progress = [m for j, m in events.events if m["event"] == "progress"]
        assert progress and all(m["backend"] == "classic" for m in progress)

        events.events.clear()
        queue._publish = events
        queue.resume(job_id)
        end = events.wait_terminal(job_id, timeout_s=120)
        assert end["event"] == "job_done", end
        assert end["result"]["skipped"] == len(on_disk) and end["result"]["rendered"] == 16 - len(on_disk)
        assert len(list(out.glob("529_2.*.png"))) == 16
    finally:
        queue.close()
