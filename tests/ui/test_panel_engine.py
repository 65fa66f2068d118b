"""The real panel driving a real engine process (classic backend, no weights).

Shots are the official demo clips; frames land in tmp_path and are read back. A TickMonitor proves
the UI thread keeps running (no gap over GAP_LIMIT_S) while jobs render and previews compute.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from panel_helpers import connect as _connect
from panel_helpers import pngs as _pngs
from panel_helpers import set_shot as _set_shot
from panel_helpers import start_queue
from PySide6.QtGui import QImage

pytestmark = pytest.mark.slow

GAP_LIMIT_S = 0.7  # the stalls guarded against last >= 1 s; a loaded 2-core CI box adds ~0.3 s of noise
JOB_TIMEOUT_MS = 240_000
# frames land in <output>/v001 (the default "new version" policy); pngs() searches below the folder
SOURCE_SIZES = {"529_2.mp4": (376, 352), "651.mp4": (392, 360)}



def test_two_shots_render_with_progress_and_files_on_disk(make_window, running_engine, media_dir, tmp_path,
                                                          qtbot, tick_monitor):
    window = make_window(running_engine)
    window.show()
    _connect(window, qtbot)
    seen_done: dict[int, list[int]] = {0: [], 1: []}

    def record_progress(top_left, *_):
        row = top_left.row()
        seen_done.setdefault(row, []).append(window.queue_model.record(row).done)

    window.queue_model.dataChanged.connect(record_progress)
    tick_monitor.start()
    for name in ("529_2.mp4", "651.mp4"):
        _set_shot(window, media_dir / name, tmp_path / Path(name).stem, 1, 3)
        assert window.add_to_queue() is not None
    assert window.queue_model.rowCount() == 2
    assert [r.status for r in window.queue_model.records()] == ["waiting", "waiting"]  # built first
    start_queue(window)

    qtbot.waitUntil(lambda: all(r.finished for r in window.queue_model.records()), timeout=JOB_TIMEOUT_MS)
    tick_monitor.stop()
    records = window.queue_model.records()
    assert [r.status for r in records] == ["done", "done"], [r.error for r in records]
    for row, record in enumerate(records):
        moves = [d for d in seen_done[row] if 0 < d < 3]
        assert moves, f"no intermediate progress seen for row {row}: {seen_done[row]}"
        assert seen_done[row] == sorted(seen_done[row])
        assert record.fraction == 1.0
    for name, (width, height) in SOURCE_SIZES.items():
        files = _pngs(tmp_path / Path(name).stem)
        assert len(files) == 3, files
        for path in files:
            image = QImage(str(path))
            assert (image.width(), image.height()) == (width, height), path
    assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"


def test_cancel_a_long_job(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    _connect(window, qtbot)
    out = tmp_path / "long"
    _set_shot(window, media_dir / "651.mp4", out)  # all 62 frames
    key = window.add_to_queue()
    start_queue(window)
    model = window.queue_model

    def record():  # the engine's earlier jobs are rows too (the queue is the engine's)
        return model.record(model.row_of_key(key))

    qtbot.waitUntil(lambda: record().done >= 1, timeout=JOB_TIMEOUT_MS)
    window.queue_panel.select_row(model.row_of_key(key))
    assert window.queue_panel.cancel_button.isEnabled()
    window.queue_panel.cancel_button.click()
    qtbot.waitUntil(lambda: record().finished, timeout=60_000)
    assert record().status == "cancelled"
    assert len(_pngs(out)) < 62
    first_id = record().job_id

    window.queue_panel.select_row(model.row_of_key(key))
    assert window.queue_panel.retry_button.isEnabled()
    window.queue_panel.retry_button.click()  # same row and engine job, resumed: frames on disk are kept
    qtbot.waitUntil(lambda: record().status == "running" and record().skipped >= 1, timeout=JOB_TIMEOUT_MS)
    assert record().job_id == first_id and record().settings["frames"] is None
    window.queue.cancel_rows([model.row_of_key(key)])
    qtbot.waitUntil(lambda: record().finished, timeout=60_000)
    assert record().status == "cancelled"


def test_preview_shows_before_and_after(make_window, running_engine, media_dir, tmp_path, qtbot, tick_monitor):
    window = make_window(running_engine)
    window.show()
    _connect(window, qtbot)
    _set_shot(window, media_dir / "529_2.mp4", tmp_path / "preview", 1, 3)
    window.preview_panel.frame_spin.setValue(2)
    view = window.preview_panel.view
    tick_monitor.start()
    window.preview_panel.preview_button.click()
    qtbot.waitUntil(lambda: not view.after_pixmap().isNull(), timeout=JOB_TIMEOUT_MS)
    tick_monitor.stop()
    assert (view.after_pixmap().width(), view.after_pixmap().height()) == SOURCE_SIZES["529_2.mp4"]
    assert view.before_pixmap().size() == view.after_pixmap().size()
    assert view.before_pixmap().toImage() != view.after_pixmap().toImage()
    shot = view.grab().toImage()
    assert not shot.isNull() and shot.size() == view.size()
    assert tick_monitor.max_gap_s < GAP_LIMIT_S, f"UI thread stalled {tick_monitor.max_gap_s:.3f} s"


def test_engine_errors_reach_the_status_area(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    _connect(window, qtbot)
    shot = tmp_path / "no_such_shot.mp4"  # there when queued (a source the facts cannot read is refused
    shutil.copyfile(media_dir / "908.mp4", shot)  # at once), gone when the engine opens it
    _set_shot(window, shot, tmp_path / "out", 1, 3)
    key = window.add_to_queue()
    assert key is not None
    shot.unlink()
    start_queue(window)
    model = window.queue_model
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=60_000)
    record = model.record(model.row_of_key(key))
    assert record.status == "failed" and "no such file" in record.error
    assert any(record.error in m and m.startswith("Source cannot be read:") for m in window.status_log.messages())
    assert not any("[" in m for m in window.status_log.messages())


def test_panel_starts_its_own_engine_which_exits_when_idle(make_window, tmp_path, qtbot, monkeypatch):
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # the engine must be found from anywhere, not only the checkout
    window = make_window(tmp_path / "own-engine.json", engine_grace_s=2)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=120_000)
    process = window.bridge.started_process
    assert process is not None and process.poll() is None
    assert (tmp_path / "own-engine.json").exists()
    # connected, the button is greyed and says why (pressed, it only joined the same engine again)
    assert not window.start_button.isEnabled() and "already connected to the engine at" in window.start_button.toolTip()
    with qtbot.waitSignal(window.bridge.state_changed, check_params_cb=lambda s, _: s == "connected",
                          timeout=30_000):
        window.bridge.start_engine()  # asked again all the same: joins the same engine instead of failing
    assert window.bridge.started_process is process
    window.close()
    qtbot.waitUntil(lambda: window.bridge.is_stopped, timeout=20_000)
    # no job and no client left: the engine exits by itself after its grace time
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=20_000)
    assert not (tmp_path / "own-engine.json").exists()


def test_start_engine_joins_a_running_one_instead_of_failing(make_window, running_engine, qtbot):
    """Start engine (or ``--start-engine``) while an engine owns the connection file, e.g. the one
    the last panel started, still in its idle grace: the panel joins it; a second engine would exit
    with "an engine is already running" and the panel would show that as its error."""
    window = make_window(running_engine)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)
    assert window.bridge.started_process is None  # not ours: this panel never stops it
    assert not any("already running" in m for m in window.status_log.messages())


def test_reconnect_picks_up_a_job_in_flight(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    _connect(window, qtbot)
    _set_shot(window, media_dir / "908.mp4", tmp_path / "reconnect", 1, 8)
    key = window.add_to_queue()
    start_queue(window)
    model = window.queue_model
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).done >= 1, timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(window.bridge.state_changed, check_params_cb=lambda s, _: s == "connected",
                          timeout=30_000):
        window.connect_button.click()  # a new connection: the old one's subscription is gone
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=JOB_TIMEOUT_MS)
    assert model.record(model.row_of_key(key)).status == "done"
    assert len(_pngs(tmp_path / "reconnect")) == 8
