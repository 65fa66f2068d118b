"""Always-visible engine state: a coloured dot and a line of text."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

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


class ConnectionIndicator(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = DISCONNECTED
        self._dot = _Dot(self)
        self._label = QLabel("Engine: disconnected", self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._dot)
        layout.addWidget(self._label, 1)

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self._dot.colour = STATE_COLOURS.get(state, STATE_COLOURS[FAILED])
        self._dot.update()
        self._label.setText(f"Engine: {state}" + (f" — {detail}" if detail else ""))
        self._label.setToolTip(detail)

    def text(self) -> str:
        return self._label.text()
