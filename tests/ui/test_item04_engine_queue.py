"""Item 4: the queue is the engine's. A fresh panel lists every job the engine knows (another
client's too, with its settings), can cancel it, and Retry resumes it keeping finished frames."""

from __future__ import annotations

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, pngs

from engine.service.client import EngineClient, read_connection_file

pytestmark = pytest.mark.slow


def test_a_job_from_another_client_appears_and_retry_keeps_its_frames(make_window, running_engine, media_dir,
                                                                      tmp_path, qtbot):
    other = EngineClient.connect(read_connection_file(str(running_engine)))
    out = tmp_path / "other"
    settings = {"source": str(media_dir / "908.mp4"), "output": str(out), "frames": "1-8", "backend": "classic",
                "format": "png"}
    try:
        job_id = other.submit(settings)
        window = make_window(running_engine)  # a fresh panel, after the job was sent
        connect(window, qtbot)
        model = window.queue_model
        qtbot.waitUntil(lambda: model.row_of_job(job_id) is not None, timeout=10_000)
        row = model.row_of_job(job_id)
        record = model.record(row)
        assert not record.mine and record.settings["frames"] == "1-8" and record.settings["source"] == \
            settings["source"]
        assert model.data(model.index(row, 6)) == "sent by another client"

        qtbot.waitUntil(lambda: model.record(model.row_of_job(job_id)).done >= 2, timeout=JOB_TIMEOUT_MS)
        window.queue.cancel_rows([model.row_of_job(job_id)])    # cancel another client's job
        qtbot.waitUntil(lambda: model.record(model.row_of_job(job_id)).status == "cancelled", timeout=60_000)
        assert other.status(job_id)["state"] == "cancelled"
        kept = len(pngs(out))
        assert 2 <= kept < 8

        window.queue_panel.select_row(model.row_of_job(job_id))
        window.queue_panel.retry_button.click()
        qtbot.waitUntil(lambda: model.record(model.row_of_job(job_id)).status == "done", timeout=JOB_TIMEOUT_MS)
        record = model.record(model.row_of_job(job_id))
        assert record.skipped == kept and record.backend == "classic"
        assert record.result["rendered"] == 8 - kept        # retry rendered only what was missing
        assert len(pngs(out)) == 8

        # a job another client sends while the panel is open shows up too (the listing refreshes)
        later = other.submit(dict(settings, frames="1", output=str(tmp_path / "later")))
        qtbot.waitUntil(lambda: model.row_of_job(later) is not None, timeout=10_000)
        qtbot.waitUntil(lambda: model.record(model.row_of_job(later)).status == "done", timeout=JOB_TIMEOUT_MS)
    finally:
        other.close()
