"""Item 1: picking a file picks that file (Browse, drag-and-drop), sequences only on purpose."""

from __future__ import annotations

import shutil

import pytest
from panel_helpers import connect, pngs, start_queue, wait_finished
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog


@pytest.fixture
def plates(tmp_path, media_dir):
    """908.mp4 between 907/909, sh010_plate_v001.mov beside v002, a 3-frame jpg sequence, photos."""
    folder = tmp_path / "plates"
    folder.mkdir()
    for name in ("907.mp4", "908.mp4", "909.mp4", "sh010_plate_v001.mov", "sh010_plate_v002.mov"):
        shutil.copyfile(media_dir / "908.mp4", folder / name)
    for n in (1001, 1002, 1003):
        shutil.copyfile(media_dir / "077436.jpg", folder / f"sh020.{n}.jpg")
    for name in ("077436.jpg", "077559.jpg"):
        shutil.copyfile(media_dir / name, folder / name)
    return folder


def _browse(window, monkeypatch, paths) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda *a, **k: ([str(p) for p in paths], "Media")))
    window.source_panel.browse_button.click()


def _drop(widget, paths) -> None:
    """A real drag enter + drop event carrying file URLs, as a file manager sends them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target refused the files"
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)


@pytest.mark.parametrize("name", ["908.mp4", "sh010_plate_v001.mov"])
def test_browse_queues_that_exact_file(make_window, plates, tmp_path, monkeypatch, name):
    window = make_window(tmp_path / "none.json")
    window.source_panel.confirm_sequence = lambda offer: pytest.fail("a video is never offered as a sequence")
    _browse(window, monkeypatch, [plates / name])
    assert window.source_panel.source_edit.text() == str(plates / name)
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    key = window.add_to_queue()
    assert window.queue_model.record(window.queue_model.row_of_key(key)).settings["source"] == str(plates / name)


@pytest.mark.parametrize("name", ["908.mp4", "sh010_plate_v001.mov"])
def test_drop_on_the_source_field_takes_that_exact_file(make_window, plates, tmp_path, name):
    window = make_window(tmp_path / "none.json")
    edit = window.source_panel.source_edit
    edit.setText("/somewhere/else.mp4")
    edit.setCursorPosition(5)  # Qt's default drop would insert the URL text here
    _drop(edit, [plates / name])
    assert edit.text() == str(plates / name)


def test_drop_on_the_queue_adds_those_exact_files(make_window, plates, tmp_path):
    window = make_window(tmp_path / "none.json")
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    _drop(window.queue_panel.table.viewport(), [plates / "908.mp4", plates / "sh010_plate_v001.mov"])
    assert [r.settings["source"] for r in window.queue_model.records()] == \
        [str(plates / "908.mp4"), str(plates / "sh010_plate_v001.mov")]


def test_a_still_becomes_its_sequence_only_when_confirmed(make_window, plates, tmp_path, monkeypatch):
    window = make_window(tmp_path / "none.json")
    asked = []
    window.source_panel.confirm_sequence = lambda offer: asked.append(offer) or False
    _browse(window, monkeypatch, [plates / "sh020.1002.jpg"])
    assert window.source_panel.source_edit.text() == str(plates / "sh020.1002.jpg")
    assert asked[0].pattern == str(plates / "sh020.####.jpg") and asked[0].frames == 3
    window.source_panel.confirm_sequence = lambda offer: True
    _browse(window, monkeypatch, [plates / "sh020.1002.jpg"])
    assert window.source_panel.source_edit.text() == str(plates / "sh020.####.jpg")
    _browse(window, monkeypatch, [plates / "sh020.1001.jpg", plates / "sh020.1003.jpg"])  # several frames
    assert window.source_panel.source_edit.text() == str(plates / "sh020.####.jpg")
    window.source_panel.confirm_sequence = lambda offer: pytest.fail("a photo named by number is one image")
    _browse(window, monkeypatch, [plates / "077436.jpg"])
    assert window.source_panel.source_edit.text() == str(plates / "077436.jpg")


@pytest.mark.slow
def test_the_picked_plate_is_what_the_engine_renders(make_window, running_engine, plates, tmp_path, qtbot,
                                                     monkeypatch):
    window = make_window(running_engine)
    connect(window, qtbot)
    _browse(window, monkeypatch, [plates / "sh010_plate_v001.mov"])
    panel = window.source_panel
    panel.wait_for_info()
    panel.set_frame_range(1, 2)
    panel.output_edit.setText(str(tmp_path / "out"))
    panel.format_combo.setCurrentText("png")
    window.style_panel.backend_combo.setCurrentText("classic")
    key = window.add_to_queue()
    start_queue(window)
    row = window.queue_model.row_of_key(key)
    wait_finished(window, qtbot, [row])
    assert window.queue_model.record(row).status == "done", window.queue_model.record(row).error
    assert [p.name for p in pngs(tmp_path / "out")] == ["sh010_plate_v001.0001.png", "sh010_plate_v001.0002.png"]


def test_a_file_dropped_on_the_output_field_means_its_folder(make_window, plates, tmp_path):
    window = make_window(tmp_path / "none.json")
    _drop(window.source_panel.output_edit, [plates / "908.mp4"])
    assert window.source_panel.output_edit.text() == str(plates)
    _drop(window.source_panel.output_edit, [tmp_path])
    assert window.source_panel.output_edit.text() == str(tmp_path)
