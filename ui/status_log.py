"""Status area: the newest message on top; errors in red and warnings in orange, in the panel's words."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QSizePolicy, QWidget

from ui.control_tips import describe
from ui.wording import plain, titled

MAX_MESSAGES = 200


class StatusLog(QListWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(self.fontMetrics().lineSpacing() * 2 + 6)  # two messages, newest on top
        self.setAlternatingRowColors(True)
        # a long message is cut with "…" (its tooltip has it whole) instead of a scroll bar that hides a line
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        describe(self, "Messages, newest first; hover one to read it whole")

    def show_info(self, message: str) -> None:
        self._add(message, None)

    def show_error(self, code: str, message: str) -> None:
        self._add(titled(code, message), QColor(220, 70, 70))

    def show_warning(self, message: str) -> None:
        self._add(f"Warning: {plain(message)}", QColor(230, 150, 30))

    def messages(self) -> list[str]:
        """Newest first, without the time stamp."""
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def _add(self, text: str, colour: QColor | None) -> None:
        item = QListWidgetItem(f"{time.strftime('%H:%M:%S')}  {text}")
        item.setData(Qt.ItemDataRole.UserRole, text)  # the bare message, for messages()
        item.setToolTip(text)
        if colour is not None:
            item.setForeground(colour)
        self.insertItem(0, item)
        while self.count() > MAX_MESSAGES:
            self.takeItem(self.count() - 1)


class OneLineLabel(QLabel):
    """A status line (the status bar's notice, the preview's result) cut in the middle with "…" to the room
    there is (``text()`` and the tooltip keep it whole): a dropped file with a long path made the window 3685
    px wide, a failed preview naming a long path 5357, past the screen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """What the label shows at its present width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(Qt.AlignmentFlag.AlignLeft |
                                  Qt.AlignmentFlag.AlignVCenter), self.palette(), self.isEnabled(),
                                  self.shown_text(), QPalette.ColorRole.WindowText)
