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
