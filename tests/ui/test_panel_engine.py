"""The real panel driving a real engine process (classic backend, no weights).

Shots are the official demo clips; frames land in tmp_path and are read back. A TickMonitor proves
the UI thread keeps running (no gap over GAP_LIMIT_S) while jobs render and previews compute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QImage

pytestmark = pytest.mark.slow

GAP_LIMIT_S = 0.25
JOB_TIMEOUT_MS = 240_000
SOURCE_SIZES = {"529_2.mp4": (376, 352), "651.mp4": (392, 360)}


def _connect(window, qtbot) -> None:
    window.connect_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)


def _set_shot(window, source: Path, output: Path, first: int, last: int | None) -> None:
    panel = window.source_panel
    panel.set_source(str(source))
    if last is None:
        panel.whole_source.setChecked(True)
    else:
        panel.set_frame_range(first, last)
    panel.output_edit.setText(str(output))
    panel.format_combo.setCurrentText("png")
    panel.output_space_combo.setCurrentText("plate")
    style = window.style_panel
    assert style.backend_combo.findText("classic") >= 0, "the engine's capabilities offer the classic backend"
    style.backend_combo.setCurrentText("classic")


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png") if ".matte" not in p.name)


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
    _set_shot(window, media_dir / "651.mp4", out, 1, None)  # all 62 frames
    window.add_to_queue()
    model = window.queue_model
    qtbot.waitUntil(lambda: model.record(0).done >= 1, timeout=JOB_TIMEOUT_MS)
    window.queue_panel.select_row(0)
    assert window.queue_panel.cancel_button.isEnabled()
    window.queue_panel.cancel_button.click()
    qtbot.waitUntil(lambda: model.record(0).finished, timeout=60_000)
    assert model.record(0).status == "cancelled"
    assert len(_pngs(out)) < 62
    first_id = model.record(0).job_id

    window.queue_panel.select_row(0)
    assert window.queue_panel.retry_button.isEnabled()
    window.queue_panel.retry_button.click()  # same row, a new engine job with the same settings
    qtbot.waitUntil(lambda: model.record(0).job_id not in (None, first_id) and model.record(0).done >= 1,
                    timeout=JOB_TIMEOUT_MS)
    assert model.rowCount() == 1 and model.record(0).settings["frames"] is None
    window.cancel_row(0)
    qtbot.waitUntil(lambda: model.record(0).finished, timeout=60_000)
    assert model.record(0).status == "cancelled"


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


def test_engine_errors_reach_the_status_area(make_window, running_engine, tmp_path, qtbot):
    window = make_window(running_engine)
    _connect(window, qtbot)
    _set_shot(window, tmp_path / "no_such_shot.mp4", tmp_path / "out", 1, 3)
    window.add_to_queue()
    qtbot.waitUntil(lambda: window.queue_model.record(0).finished, timeout=60_000)
    record = window.queue_model.record(0)
    assert record.status == "failed" and record.error
    assert any(record.error in m and m.startswith("error [") for m in window.status_log.messages())


def test_panel_starts_its_own_engine_and_stops_it(make_window, tmp_path, qtbot, monkeypatch):
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # the engine must be found from anywhere, not only the checkout
    window = make_window(tmp_path / "own-engine.json")
    window.start_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=120_000)
    process = window.bridge.started_process
    assert process is not None and process.poll() is None
    assert (tmp_path / "own-engine.json").exists()
    with qtbot.waitSignal(window.bridge.state_changed, check_params_cb=lambda s, _: s == "connected",
                          timeout=30_000):
        window.start_button.click()  # pressed again: joins the same engine instead of failing
    assert window.bridge.started_process is process
    window.close()
    qtbot.waitUntil(lambda: window.bridge.is_stopped, timeout=20_000)
    assert process.poll() is not None


def test_reconnect_picks_up_a_job_in_flight(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    _connect(window, qtbot)
    _set_shot(window, media_dir / "908.mp4", tmp_path / "reconnect", 1, 8)
    window.add_to_queue()
    model = window.queue_model
    qtbot.waitUntil(lambda: model.record(0).done >= 1, timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(window.bridge.state_changed, check_params_cb=lambda s, _: s == "connected",
                          timeout=30_000):
        window.connect_button.click()  # a new connection: the old one's subscription is gone
    qtbot.waitUntil(lambda: model.record(0).finished, timeout=JOB_TIMEOUT_MS)
    assert model.record(0).status == "done"
    assert len(_pngs(tmp_path / "reconnect")) == 8

