"""A long source path with spaces and non-ASCII letters is shown sanely: the field shows its end (the
file name), the tooltip has it whole, the queue row shows the start and end of the file name (not a
name cut at both ends), and the job carries the exact path."""

from __future__ import annotations

import shutil

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

NAME = "sh010 plate ünïcode v001.mp4"


def test_a_long_unicode_path_with_spaces_is_shown_and_sent_whole(make_window, media_dir, tmp_path, qtbot):
    folder = tmp_path / "Projekt Ärger — 第3話" / ("a very long folder name " * 4).strip() / "plates"
    folder.mkdir(parents=True)
    source = folder / NAME
    shutil.copy(media_dir / "908.mp4", source)
    window = make_window(tmp_path / "none.json")
    window.resize(900, 600)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)  # Tab moves the focus in the active window
    panel = window.source_panel
    panel.source_edit.setFocus()
    QApplication.clipboard().setText(str(source))              # pasted (QTest types ASCII only), then Tab
    QTest.keyClick(panel.source_edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert panel.source_edit.text() == str(source)
    QTest.keyClick(panel.source_edit, Qt.Key.Key_Tab)
    panel.wait_for_info()
    QApplication.processEvents()
    assert panel.info is not None and panel.info.error is None and panel.info.count == 39
    assert panel.source_edit.toolTip().splitlines()[0] == str(source)   # whole, on the first line
    assert "Type or paste a source path" in panel.source_edit.toolTip()
    panel.output_edit.setText(str(folder / "renders"))
    assert panel.output_edit.toolTip().splitlines()[0] == str(folder / "renders")

    key = window.add_to_queue()
    model, table = window.queue_model, window.queue_panel.table
    row = model.row_of_key(key)
    assert model.record(row).settings["source"] == str(source)         # the exact path goes to the engine
    assert model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole).splitlines()[0] == f"Source: {source}"
    # the Shot cell is one line, elided in the middle: "sh010 p…001.mp4" keeps the version and extension
    assert not table.wordWrap()
    width = table.columnWidth(0) - 8
    shown = QFontMetrics(table.font()).elidedText(NAME, table.textElideMode(), width)
    assert shown.count("…") == 1 and shown.endswith(".mp4") and shown.startswith("sh010")
