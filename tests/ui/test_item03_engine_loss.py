"""Item 3 (+ item 4's retry): ``kill -9`` of the engine turns rows "interrupted" within 2 s, the
panel reconnects by itself to the engine that comes back, and Retry resumes the job to completion
keeping the frames rendered before the crash. Cancel never waits on a dead engine."""

from __future__ import annotations

import os
import signal
import time

import pytest
from panel_helpers import JOB_TIMEOUT_MS, pngs, set_shot, start_queue

pytestmark = pytest.mark.slow
FRAMES = 8


def test_kill_9_interrupts_rows_and_a_restarted_engine_resumes_them(make_window, engines, media_dir, tmp_path,
                                                                    qtbot):
    first = engines.start()
    window = make_window(engines.connection_file)
    window.connect_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)
    out = tmp_path / "out"
    set_shot(window, media_dir / "908.mp4", out, 1, FRAMES)
    key = window.add_to_queue()
    waiting = window.add_to_queue()  # a second row, held behind the first
    start_queue(window)
    model = window.queue_model

    def record(k=key):
        return model.record(model.row_of_key(k))

    qtbot.waitUntil(lambda: record().done >= 2, timeout=JOB_TIMEOUT_MS)
    job_id = record().job_id
    os.kill(first.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    qtbot.waitUntil(lambda: record().status == "interrupted", timeout=5_000)
    assert time.monotonic() - killed < 2.0
    assert window.indicator.state == "disconnected"
    assert "Retry" in record().error and "[" not in record().error
    rendered_before = len(pngs(out))
    assert 2 <= rendered_before < FRAMES

    began = time.monotonic()
    window.queue.cancel_rows([model.row_of_key(waiting)])  # no engine: cancelled here, at once
    assert time.monotonic() - began < 0.5 and record(waiting).status == "cancelled"

    engines.start()  # same state dir: its journal knows the job as interrupted
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)  # reconnected by itself
    assert record().status == "interrupted" and record().job_id == job_id
    window.queue_panel.select_row(model.row_of_key(key))
    assert window.queue_panel.retry_button.isEnabled()
    window.queue_panel.retry_button.click()
    qtbot.waitUntil(lambda: record().status == "done", timeout=JOB_TIMEOUT_MS)
    assert record().job_id == job_id
    assert record().skipped == rendered_before, "frames rendered before the crash were kept"
    names = [p.name for p in pngs(out)]
    assert names == [f"908.{n:04d}.png" for n in range(1, FRAMES + 1)]
