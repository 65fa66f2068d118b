"""Always-visible engine state: a coloured dot and a line of text."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from ui.engine_bridge import CONNECTED, CONNECTING, DISCONNECTED, FAILED

STATE_COLOURS = {
    DISCONNECTED: QColor(130, 130, 130),
    CONNECTING: QColor(230, 170, 40),
    CONNECTED: QColor(60, 190, 90),
    FAILED: QColor(220, 60, 60),
}


class _Dot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = STATE_COLOURS[DISCONNECTED]
        self.setFixedSize(QSize(14, 14))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.colour)
        painter.drawEllipse(self.rect().adjusted(1, 1, -1, -1))


class _ElidedLabel(QLabel):
    """One line that ends in "…" when the row is too narrow (the whole text is in the tooltip): a long
    engine error must not make the window wider than the screen."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:  # the whole line where there is room
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 4, super().sizeHint().height())

    def resizeEvent(self, event) -> None:
        self._elide()
        super().resizeEvent(event)

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, self.width())))


class ConnectionIndicator(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = DISCONNECTED
        self._dot = _Dot(self)
        self._label = _ElidedLabel("Engine: disconnected", self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._dot)
        layout.addWidget(self._label, 1)

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self._dot.colour = STATE_COLOURS.get(state, STATE_COLOURS[FAILED])
        self._dot.update()
        self._label.set_full_text(f"Engine: {state}" + (f" — {detail}" if detail else ""))
        self._label.setToolTip(detail)

    def text(self) -> str:
        return self._label.full_text()
