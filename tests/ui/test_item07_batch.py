"""Item 7: batch work. Many shots at once (multi-select, drops of files and folders), remove,
clear, reorder, duplicate, apply the current style to selected rows, a queue built first and
started later (Start/Pause), a total progress and a finish notice."""

from __future__ import annotations

import shutil

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, set_shot
from PySide6.QtWidgets import QFileDialog


def _sources(window):
    return [r.settings["source"] for r in window.queue_model.records()]


def test_many_shots_at_once_and_row_editing(make_window, media_dir, tmp_path, monkeypatch):
    window = make_window(tmp_path / "none.json")
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    window.style_panel.backend_combo.setCurrentText("classic")
    picked = [str(media_dir / n) for n in ("529_2.mp4", "651.mp4", "908.mp4")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (picked, "")))
    window.source_panel.browse_button.click()
    assert _sources(window) == picked
    assert all(r.status == "waiting" and r.settings["frames"] is None for r in window.queue_model.records())
    # rows added to an idle queue wait for Start, and the message says so, as for one shot
    assert window.status_log.messages()[0] == "added 3 shots to the queue (press Start queue to render)"

    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copyfile(media_dir / "908.mp4", folder / "sh030.mp4")
    shutil.copyfile(media_dir / "077436.jpg", folder / "still.jpg")
    window.add_dropped([str(folder)])
    assert _sources(window)[3:] == [str(folder / "sh030.mp4"), str(folder / "still.jpg")]

    panel = window.queue_panel
    panel.select_row(4)
    panel.remove_button.click()
    assert len(_sources(window)) == 4
    panel.select_row(3)
    panel.up_button.click()
    assert _sources(window)[2] == str(folder / "sh030.mp4") and panel.selected_row() == 2
    panel.duplicate_button.click()
    assert _sources(window)[-1] == str(folder / "sh030.mp4") and len(_sources(window)) == 5

    window.style_panel.backend_combo.setCurrentText("auto")
    panel.select_row(0)  # not QTableView.selectRow: a Ctrl left in the modifiers by an earlier test toggles
    panel.table.selectionModel().select(window.queue_model.index(1, 0),
                                        panel.table.selectionModel().SelectionFlag.Select |
                                        panel.table.selectionModel().SelectionFlag.Rows)
    assert panel.selected_rows() == [0, 1]
    panel.apply_button.click()
    assert [r.settings["backend"] for r in window.queue_model.records()] == \
        ["auto", "auto", "classic", "classic", "classic"]
    window.queue_model.cancel_here(4)
    panel.clear_button.click()
    assert len(_sources(window)) == 4


@pytest.mark.slow
def test_start_pause_total_and_finish_notice(make_window, engines, media_dir, tmp_path, qtbot):
    engines.start()
    window = make_window(engines.connection_file)
    connect(window, qtbot)
    for name in ("529_2.mp4", "908.mp4"):
        set_shot(window, media_dir / name, tmp_path / "out", 1, 2)
        window.add_to_queue()
    model, panel = window.queue_model, window.queue_panel
    qtbot.wait(500)
    assert [r.status for r in model.records()] == ["waiting", "waiting"]  # built first, nothing sent
    assert panel.total_bar.format() == "0/4 frames"
    panel.start_button.click()
    assert panel.start_button.text() == "Pause queue"
    qtbot.waitUntil(lambda: model.record(0).job_id is not None, timeout=30_000)
    panel.start_button.click()   # pause: the running job finishes, the next one waits
    qtbot.waitUntil(lambda: model.record(0).finished, timeout=JOB_TIMEOUT_MS)
    qtbot.wait(800)
    assert model.record(1).status == "waiting" and window.finish_notice == ""
    panel.start_button.click()
    qtbot.waitUntil(lambda: window.finish_notice != "", timeout=JOB_TIMEOUT_MS)
    assert window.finish_notice == "Queue finished: 2 done"
    assert window.notice_label.text() == "Queue finished: 2 done"
    assert (panel.total_bar.value(), panel.total_bar.maximum()) == (4, 4)
    assert panel.total_label.text() == "2/2 jobs finished"


def test_rows_dropped_on_a_long_queue_are_scrolled_into_view(make_window, media_dir, tmp_path, qtbot):
    """Twelve rows fill the table; shots dropped on it landed below its end, out of sight. The
    table now scrolls to them (the first new row when they do not all fit)."""
    window = make_window(tmp_path / "none.json")
    window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    model, table = window.queue_model, window.queue_panel.table
    for n in range(12):
        model.add_job({"source": f"/m/sh{n:03d}.mp4", "output": str(tmp_path / "out"), "frames": "1-4"})
    qtbot.wait(50)
    assert table.rowAt(table.viewport().height() - 1) < 11, "the table shows every row: nothing to scroll"

    def in_view(row: int) -> bool:
        rect = table.visualRect(model.index(row, 0))
        return rect.isValid() and table.viewport().rect().contains(rect)

    window.add_dropped([str(media_dir / "529_2.mp4"), str(media_dir / "651.mp4")])
    qtbot.waitUntil(lambda: in_view(12) and in_view(13), timeout=2000)

    for n in range(12):  # many dropped at once: the first of them shows, with those after it that fit
        (tmp_path / f"plate{n:02d}.mp4").write_bytes((media_dir / "908.mp4").read_bytes())
    window.add_dropped([str(tmp_path / f"plate{n:02d}.mp4") for n in range(12)])
    qtbot.waitUntil(lambda: in_view(14) and not in_view(13), timeout=2000)
