"""Item 2: the engine outlives a panel while any client's job is queued or running; closing a panel
cancels only its own jobs; an engine a panel started exits once no job and no client is left."""

from __future__ import annotations

import pytest
from panel_helpers import JOB_TIMEOUT_MS, pngs, set_shot, start_queue

from engine.service.client import EngineClient, read_connection_file
from ui.main_window import CLOSE_CANCEL, CLOSE_KEEP

pytestmark = pytest.mark.slow
GRACE_S = 3


def _state(client, job_id):
    return client.status(job_id)["state"]


def test_closing_panel_a_leaves_panel_b_rendering(make_window, media_dir, tmp_path, qtbot, monkeypatch):
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path / "no-models"))
    connection = tmp_path / "engine.json"
    panel_a = make_window(connection, engine_grace_s=GRACE_S)
    panel_a.start_button.click()
    qtbot.waitUntil(lambda: panel_a.indicator.state == "connected", timeout=120_000)
    engine = panel_a.bridge.started_process
    panel_b = make_window(connection)
    panel_b.connect_button.click()
    qtbot.waitUntil(lambda: panel_b.indicator.state == "connected", timeout=30_000)

    set_shot(panel_a, media_dir / "908.mp4", tmp_path / "a", 1, 8)
    key_a = panel_a.add_to_queue()
    start_queue(panel_a)
    set_shot(panel_b, media_dir / "529_2.mp4", tmp_path / "b", 1, 3)
    key_b = panel_b.add_to_queue()
    start_queue(panel_b)
    model_a, model_b = panel_a.queue_model, panel_b.queue_model
    qtbot.waitUntil(lambda: model_a.record(model_a.row_of_key(key_a)).done >= 1, timeout=JOB_TIMEOUT_MS)
    job_a = model_a.record(model_a.row_of_key(key_a)).job_id
    job_b = model_b.record(model_b.row_of_key(key_b)).job_id
    assert job_b is not None

    asked = []
    panel_a.ask_close = lambda running: asked.append(running) or CLOSE_CANCEL
    panel_a.close()
    assert asked == [1], "closing with a job rendering asks first"
    qtbot.waitUntil(lambda: panel_a.bridge.is_stopped, timeout=20_000)

    watcher = EngineClient.connect(read_connection_file(str(connection)))
    try:
        qtbot.waitUntil(lambda: _state(watcher, job_a) == "cancelled", timeout=30_000)
        row_b = model_b.row_of_key(key_b)
        qtbot.waitUntil(lambda: model_b.record(row_b).finished, timeout=JOB_TIMEOUT_MS)
        assert model_b.record(row_b).status == "done" and len(pngs(tmp_path / "b")) == 3
        assert engine.poll() is None, "the engine panel A started serves panel B"
        # panel B sees panel A's job as another client's row, cancelled
        qtbot.waitUntil(lambda: model_b.row_of_job(job_a) is not None
                        and model_b.record(model_b.row_of_job(job_a)).status == "cancelled", timeout=10_000)
        assert not model_b.record(model_b.row_of_job(job_a)).mine

        # panel B closes but keeps its new job rendering: the engine finishes it, then idles out
        set_shot(panel_b, media_dir / "651.mp4", tmp_path / "b2", 1, 2)
        key_b2 = panel_b.add_to_queue()
        start_queue(panel_b)  # its last run drained: the queue is idle until started again
        qtbot.waitUntil(lambda: model_b.record(model_b.row_of_key(key_b2)).job_id is not None, timeout=30_000)
        job_b2 = model_b.record(model_b.row_of_key(key_b2)).job_id
        panel_b.ask_close = lambda running: CLOSE_KEEP
        panel_b.close()
        qtbot.waitUntil(lambda: _state(watcher, job_b2) == "done", timeout=JOB_TIMEOUT_MS)
        assert len(pngs(tmp_path / "b2")) == 2
    finally:
        watcher.close()
    qtbot.waitUntil(lambda: engine.poll() is not None, timeout=(GRACE_S + 15) * 1000)
    assert not connection.exists()
