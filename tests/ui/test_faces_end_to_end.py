"""The Faces choice and its "at most" count reach the engine's job: a real engine renders a plate with
two real portraits with ``faces=all`` capped at one face, set in the panel by keyboard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from panel_helpers import connect, set_shot, start_queue, wait_finished
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.io import open_source, write_png
from engine.pipeline.config import MAX_FACES_LIMIT
from ui.queue_model import JobQueueModel


def _two_portraits(media_dir, path) -> str:
    """One still, 1008x384: two portraits of the shared media side by side."""
    canvas = np.full((384, 1008, 3), 90, np.uint8)
    for name, x in (("077436.jpg", 0), ("038648.jpg", 508)):
        with open_source(str(media_dir / name)) as src:
            image = src.read(src.frame_numbers[0])
        canvas[:image.shape[0], x:x + image.shape[1]] = image
    write_png(path, canvas)
    return str(path)


def _mine(model: JobQueueModel):
    """This panel's rows (the engine's listing also brings the jobs earlier tests sent to it)."""
    rows = [r for r in model.records() if r.mine]
    assert len(rows) == 1, rows
    return rows[0]


def test_max_faces_is_offered_only_with_all_faces_on_the_plate(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    spin = panel.max_faces_spin
    assert (spin.minimum(), spin.maximum(), spin.value()) == (1, MAX_FACES_LIMIT, 8)
    assert not spin.isEnabled() and "all faces" in spin.toolTip()
    panel.faces_combo.setCurrentIndex(panel.faces_combo.findData("all"))
    assert spin.isEnabled() and "seen most often" in spin.toolTip()
    panel.output_space_combo.setCurrentText("crop")
    assert not spin.isEnabled() and "plate" in spin.toolTip()
    panel.output_space_combo.setCurrentText("plate")
    spin.setValue(3)
    window.save_settings()
    assert window.settings.load()["shot/max_faces"] == 3


def test_faces_all_with_max_faces_reaches_the_engine_job(make_window, running_engine, media_dir, tmp_path, qtbot):
    source = _two_portraits(media_dir, tmp_path / "two.png")
    window = make_window(running_engine)
    connect(window, qtbot)
    out = tmp_path / "out"
    set_shot(window, source, out)
    panel = window.source_panel
    panel.faces_combo.setFocus()
    QTest.keyClick(panel.faces_combo, Qt.Key.Key_Down)  # one -> all, as a keyboard user picks it
    assert panel.faces_combo.currentData() == "all"
    panel.max_faces_spin.setFocus()
    panel.max_faces_spin.selectAll()
    QTest.keyClicks(panel.max_faces_spin, "1")
    QTest.keyClick(panel.max_faces_spin, Qt.Key.Key_Return)  # Enter in the form queues the shot
    assert _mine(window.queue_model).settings["max_faces"] == 1
    start_queue(window)
    wait_finished(window, qtbot)
    record = _mine(window.queue_model)
    assert record.status == "done", record.error
    sidecar = json.loads((Path(record.sent["output"]) / "two.vtoonify.json").read_text())  # out/v001
    assert sidecar["version"] == 2 and len(sidecar["faces"]) == 1  # all faces, capped at one
    assert any("shows 2 faces" in w for w in record.warnings), record.warnings  # the engine's cap note


def test_follow_faces_reaches_the_engine_job(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    connect(window, qtbot)
    set_shot(window, media_dir / "529_2.mp4", tmp_path / "out", 1, 2)
    check = window.source_panel.follow_faces_check
    assert not check.isChecked() and "dlib on every frame" in check.toolTip()  # off: the official fixed crop
    check.setFocus()
    QTest.keyClick(check, Qt.Key.Key_Space)
    QTest.keyClick(check, Qt.Key.Key_Return)                  # Enter in the form queues the shot
    assert _mine(window.queue_model).settings["follow_faces"] is True
    start_queue(window)
    wait_finished(window, qtbot)
    record = _mine(window.queue_model)
    assert record.status == "done", record.error
    sidecar = json.loads((Path(record.sent["output"]) / "529_2.vtoonify.json").read_text())
    assert sidecar["follow"]["faces"] and sidecar["follow"]["step"] > 0  # the crops followed the face
    window.save_settings()
    assert window.settings.load()["shot/follow_faces"] is True
