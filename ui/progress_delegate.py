"""Paints a progress bar in the queue's Progress column (the model gives the fraction)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFontMetrics, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from ui.queue_model import FractionRole


class ProgressBarDelegate(QStyledItemDelegate):
    """Draws the style's own progress bar so it matches the platform look."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        fraction = index.data(FractionRole)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = round(float(fraction) * 1000)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or f"{fraction:.0%}")
        bar.text = fitted_text(text, option.fontMetrics, bar.rect.width() - 8)
        bar.textVisible = True
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


def fitted_text(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` on one line of ``width`` pixels: the style's bar wraps a wider text onto lines the cell
    clips; elided in the middle instead, so the count at its end stays readable."""
    return metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, max(0, width))
