"""A large screen's height goes to the job form first: at 1600x1000 the whole form shows without
scrolling (it used to scroll while the queue under it had ~200 px of empty rows)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QWidget


def _form_controls(window):
    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit)
    return [
        w
        for w in window.form_scroll.widget().findChildren(QWidget)
        if isinstance(w, kinds)
        and w.isVisibleTo(window.form_scroll.widget())
        and not isinstance(w.parent(), (QAbstractSpinBox, QComboBox))
    ]


@pytest.mark.parametrize("size", [QSize(1600, 1000), QSize(1366, 768)])
def test_every_form_control_is_in_view_on_a_large_screen(make_window, tmp_path, qtbot, size):
    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(size)
    qtbot.wait(50)
    viewport = window.form_scroll.viewport()
    controls = _form_controls(window)
    assert len(controls) > 20
    outside = [
        (
            type(w).__name__,
            w.objectName() or getattr(w, "text", lambda: "")(),
            QRect(w.mapTo(viewport, QPoint(0, 0)), w.size()),
        )
        for w in controls
        if not viewport.rect().contains(QRect(w.mapTo(viewport, QPoint(0, 0)), w.size()))
    ]
    assert outside == [], (viewport.size(), window.form_scroll.widget().sizeHint(), outside)
    assert window.form_scroll.verticalScrollBar().maximum() == 0
    table = window.queue_panel.table
    assert table.viewport().height() >= 4 * table.verticalHeader().defaultSectionSize()


def test_the_wide_layouts_column_comes_back_where_it_was_dragged(make_window, ini_settings, tmp_path, qtbot):
    """In a wide window the queue and the messages share the preview's column; the messages start at two
    lines (they took a third of it), and where the artist dragged them is kept for the next start."""
    from PySide6.QtCore import QSettings

    first = make_window(tmp_path / "none.json", store=ini_settings)
    first.show()
    first.resize(QSize(1600, 1000))
    qtbot.waitUntil(lambda: first.wide_layout and first.side_splitter.sizes()[2] == first.status_log.minimumHeight())
    preview, queue, log = first.side_splitter.sizes()
    assert queue >= 0.35 * (preview + queue) and preview > queue
    total = preview + queue + log
    first.side_splitter.setSizes([300, total - 300 - 120, 120])
    dragged = first.side_splitter.sizes()
    first.close()
    second = make_window(tmp_path / "none.json", store=QSettings(ini_settings.fileName(), QSettings.Format.IniFormat))
    second.show()
    second.resize(QSize(1600, 1000))
    qtbot.wait(50)
    assert second.wide_layout and second.side_splitter.sizes() == dragged


def test_messages_place_the_engine_buttons_where_they_are(make_window, tmp_path, qtbot):
    """'press Connect or Start engine (top left)' sent the artist to the wrong corner: the engine buttons sit
    in the window's top row, right of the engine's status."""
    from ui.main_window import NOT_CONNECTED
    from ui.queue_controller import LOST_MESSAGE

    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(QSize(1600, 1000))
    qtbot.wait(50)
    for button in (window.connect_button, window.start_button):
        top_left = button.mapTo(window, QPoint(0, 0))
        assert top_left.y() < 60 and top_left.x() > window.width() // 2, (button.text(), top_left)
    for text in (NOT_CONNECTED, LOST_MESSAGE):
        assert "(top left)" not in text and "(top of the window)" in text, text


@pytest.mark.parametrize("size", [QSize(960, 540), QSize(1024, 600)])
def test_a_small_windows_stacked_layout_gives_the_form_the_room(make_window, tmp_path, qtbot, size):
    """In the stacked layout (under ~1250 px wide) the queue took 2/5 of the height: at 960x540 the form
    scrolled in a ~195 px viewport over a queue with empty rows. The queue now keeps its least (header,
    four rows, its buttons) and the form and the preview take the rest."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(size)
    qtbot.wait(50)
    assert not window.wide_layout
    queue, table = window.queue_panel, window.queue_panel.table
    assert table.viewport().height() >= 4 * table.verticalHeader().defaultSectionSize()
    assert queue.height() <= queue.minimumSizeHint().height() + 4, (queue.height(), queue.minimumSizeHint())
    assert window.status_log.height() <= window.status_log.minimumHeight() + 4
    # all that is left goes to the form's row: window height less the top row, the queue, the messages
    viewport = window.form_scroll.viewport().height()
    assert viewport >= size.height() - queue.minimumSizeHint().height() - 150, viewport


def test_the_stacked_layout_keeps_where_the_queue_was_dragged(make_window, tmp_path, qtbot):
    """The form-first share is only the start: a dragged splitter stays where the artist put it."""
    window = make_window(tmp_path / "none.json")
    window.show()
    window.resize(QSize(960, 540))
    qtbot.wait(50)
    splitter = window.main_splitter
    top, queue, _log = splitter.sizes()
    splitter.moveSplitter(top - 30, 1)  # what a drag does (emits splitterMoved)
    dragged = splitter.sizes()
    assert dragged[1] >= queue + 25, dragged
    window.resize(QSize(1000, 560))
    qtbot.wait(50)
    assert splitter.sizes()[1] >= dragged[1] - 4, (dragged, splitter.sizes())


def test_an_undragged_stacked_layout_is_not_saved_over_the_form_first_share(make_window, ini_settings, tmp_path, qtbot):
    """Closing saved the stacked splitter's sizes even when nobody dragged it, and restored sizes win:
    a window closed at 960x540 and opened at 1200x1100 grew the queue and the form still scrolled."""
    from PySide6.QtCore import QSettings

    first = make_window(tmp_path / "none.json", store=ini_settings)
    first.show()
    first.resize(QSize(960, 540))
    qtbot.wait(50)
    first.close()
    second = make_window(tmp_path / "none.json", store=QSettings(ini_settings.fileName(), QSettings.Format.IniFormat))
    second.show()
    second.resize(QSize(1200, 1100))  # still stacked: room for the whole form, the queue the rest
    qtbot.wait(50)
    assert not second.wide_layout
    assert second.form_scroll.verticalScrollBar().maximum() == 0, second.main_splitter.sizes()
