"""A panel restarted while its jobs run knows them as its own again (not "sent by another client"), and
no other client can make its job one of this panel's: the panel keeps the ids the engine gave its own
submits; nothing sent over the socket adds to them. A real engine, two panels, one more client."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, pngs, set_shot, start_queue
from PySide6.QtCore import QSettings

from engine.service.client import EngineClient, read_connection_file
from ui.main_window import CLOSE_KEEP
from ui.panel_settings import PanelSettings
from ui.queue_model import NOTES_COLUMN

pytestmark = pytest.mark.slow


def test_a_reopened_panel_knows_its_running_job_and_not_another_clients(make_window, running_engine, media_dir,
                                                                        tmp_path, qtbot):
    store = QSettings(str(tmp_path / "panel-a.ini"), QSettings.Format.IniFormat)
    first = make_window(running_engine, store=store)
    connect(first, qtbot)
    out = tmp_path / "renders"
    set_shot(first, media_dir / "908.mp4", out, 1, 24)
    first.add_to_queue()
    start_queue(first)
    model = first.queue_model
    qtbot.waitUntil(lambda: model.record(0).job_id is not None and model.record(0).done >= 1, timeout=JOB_TIMEOUT_MS)
    job_id, pattern = model.record(0).job_id, model.record(0).pattern
    first.ask_close = lambda running: CLOSE_KEEP  # the artist leaves the job rendering
    first.close()
    assert first.bridge.wait_stopped(30.0)

    other = EngineClient.connect(read_connection_file(str(running_engine)))
    try:
        theirs = other.submit({"source": str(media_dir / "908.mp4"), "output": str(tmp_path / "theirs"),
                               "frames": "1", "backend": "classic", "format": "png"})
        again = make_window(running_engine, store=QSettings(str(tmp_path / "panel-a.ini"),
                                                            QSettings.Format.IniFormat))
        stranger = make_window(running_engine)  # another panel, with its own settings
        for window in (again, stranger):
            connect(window, qtbot)
            qtbot.waitUntil(lambda w=window: {job_id, theirs} <= {r.job_id for r in w.queue_model.records()},
                            timeout=15_000)
        model = again.queue_model
        row = model.row_of_job(job_id)
        assert model.record(row).mine and model.data(model.index(row, NOTES_COLUMN)) != "sent by another client"
        assert not model.record(model.row_of_job(theirs)).mine  # another client's job stays another's
        assert not stranger.queue_model.record(stranger.queue_model.row_of_job(job_id)).mine
        assert again.queue.mine_active_job_ids() in ([job_id], [])  # closing asks about it while it runs
        qtbot.waitUntil(lambda: model.record(model.row_of_job(job_id)).status == "done", timeout=JOB_TIMEOUT_MS)
        record = model.record(model.row_of_job(job_id))
        assert record.pattern == pattern and record.done == record.total == 24  # the row and its results' folder
        assert len(pngs(out)) == 24
    finally:
        other.close()


def test_ids_a_panel_still_open_sent_stay_its_own(tmp_path):
    """Two panels of one user share the settings store: one started while another is open does not take
    that one's jobs (claimed only once their panel's process is gone); a bad value claims nothing."""
    store = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        store.setValue("queue/sent_jobs", json.dumps({"open1": sleeper.pid, "closed1": int(gone.stdout),
                                                      "mine1": os.getpid()}))
        settings = PanelSettings(store)
        assert sorted(settings.claim_sent_jobs()) == ["closed1", "mine1"]
        assert json.loads(store.value("queue/sent_jobs")) == {"open1": sleeper.pid, "closed1": os.getpid(),
                                                              "mine1": os.getpid()}
    finally:
        sleeper.kill()
        sleeper.wait()
    store.setValue("queue/sent_jobs", "{not json")
    assert PanelSettings(store).claim_sent_jobs() == []
