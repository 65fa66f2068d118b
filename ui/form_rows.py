"""Layout helper shared by the form sections."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QWidget


def hbox_row(parent: QWidget, *widgets: QWidget) -> QWidget:
    """Several widgets on one form row, without extra margins."""
    holder = QWidget(parent)
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return holder
