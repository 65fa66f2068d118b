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


def _drop(widget, paths) -> bool:
    """A real drag enter + drop event carrying file URLs, as a file manager sends them (a str item
    is sent as the URL it spells); returns whether the drop was taken. The panel acts on it once
    the event loop runs again (after the drop returned to the file manager)."""
    mime = QMimeData()
    mime.setUrls([QUrl(p) if isinstance(p, str) else QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target refused the files"
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    QApplication.processEvents()
    return drop.isAccepted()


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


def test_a_drag_from_another_machine_is_refused_with_the_reason(make_window, plates, tmp_path):
    """An https:// item (a browser tab, a share the file manager did not mount) is not a file here:
    the drag is refused as it enters (the cursor says no, the file manager is told nothing was
    taken), the status bar says why and what to do, and nothing is typed into the field."""
    window = make_window(tmp_path / "none.json")
    edit = window.source_panel.source_edit
    edit.setText(str(plates / "908.mp4"))
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/shots/sh010.mov")])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(edit, enter)
    assert not enter.isAccepted()
    assert edit.text() == str(plates / "908.mp4")
    assert window.notice_label.text() == (
        "Cannot drop here: https://example.com/shots/sh010.mov is not a file on this machine: download it "
        "first, or drop it from a local or mounted folder")


def test_a_mixed_drop_on_the_queue_takes_the_shots_and_names_the_rest(make_window, plates, tmp_path):
    window = make_window(tmp_path / "none.json")
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    notes = plates / "notes.txt"
    notes.write_text("not a plate")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _drop(window.queue_panel.table.viewport(),
                 [plates / "908.mp4", notes, "smb://fileserver/plates/a.mov", plates / "gone.mov", empty,
                  plates / "sh020.1001.jpg", plates / "sh020.1003.jpg"])
    assert [r.settings["source"] for r in window.queue_model.records()] == \
        [str(plates / "908.mp4"), str(plates / "sh020.####.jpg")]
    refused = [m for m in window.status_log.messages() if m.startswith("Not added: ")]
    assert len(refused) == 4, refused
    text = "\n".join(refused)
    assert "smb://fileserver/plates/a.mov is not a file on this machine" in text
    assert f"{notes} is not a video or image the engine reads; use one of .mp4" in text
    assert f"{plates / 'gone.mov'} does not exist" in text
    assert f"{empty}: no videos or images in this folder" in text
    assert window.notice_label.text().endswith("(and 3 more: see the messages)")


def test_an_unreadable_file_is_named_not_taken(make_window, plates, tmp_path, monkeypatch):
    """A plate the artist may not read (root reads everything, so the permission check is faked)."""
    import ui.sources

    window = make_window(tmp_path / "none.json")
    locked = str(plates / "909.mp4")
    real_access = ui.sources.os.access
    monkeypatch.setattr(ui.sources.os, "access", lambda p, mode: False if str(p) == locked else real_access(p, mode))
    window.source_panel.source_edit.setText(str(plates / "908.mp4"))
    _drop(window.source_panel.source_edit, [plates / "909.mp4"])
    assert window.source_panel.source_edit.text() == str(plates / "908.mp4")
    assert window.status_log.messages()[0] == \
        f"Not added: {locked}: no permission to read this file; fix its permissions"
