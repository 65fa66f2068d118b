"""A path field that takes a dropped file as the exact path it names (never ``file://`` text
pasted into what was already typed)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLineEdit, QWidget

from ui.sources import local_path_of_drop


def dropped_paths(event: QDropEvent | QDragEnterEvent) -> list[str]:
    """Local paths carried by a drag (file URLs first, else plain text lines)."""
    mime = event.mimeData()
    if mime.hasUrls():
        return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]
    if mime.hasText():
        return [p for p in (local_path_of_drop(line) for line in mime.text().splitlines()) if p]
    return []


class PathDropMixin:
    """Drag-and-drop of local paths for any widget (put it before the Qt class in the bases): a drop
    carrying paths calls ``on_paths_dropped(paths)``; anything else is refused, never pasted as text."""

    def on_paths_dropped(self, paths: list[str]) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.on_paths_dropped(paths)
        else:
            event.ignore()


class PathDropEdit(PathDropMixin, QLineEdit):
    """``paths_dropped(list)`` fires with the dropped paths; the text is not edited by Qt's default
    drop (which inserts the URL text at the cursor)."""

    paths_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)

    def on_paths_dropped(self, paths: list[str]) -> None:
        self.paths_dropped.emit(paths)
