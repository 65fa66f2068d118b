"""Drops of files from a file manager (``text/uri-list``): a path field that takes a dropped file as
the exact path it names (never ``file://`` text pasted into what was already typed), and the same
for any widget. A drop that names something not on this machine (``https://``, ``smb://``, a file
URL of another host) is refused with a reason instead of being dropped silently."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from PySide6.QtCore import QMimeData, QTimer, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QLineEdit, QWidget

from ui.sources import local_path_of_drop

NOT_LOCAL_FIX = "download it first, or drop it from a local or mounted folder"


@dataclass
class Drop:
    """What a drag carries: local paths the panel can use, and one line per item it cannot."""

    paths: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _local_path(url: QUrl) -> str | None:
    """The path a ``file:`` URL of this machine names; None for any other URL."""
    if not url.isLocalFile() or url.host().lower() not in ("", "localhost", socket.gethostname().lower()):
        return None
    return url.toLocalFile() or None


def read_drop(mime: QMimeData) -> Drop:
    """File URLs first (what file managers send), else plain text lines taken as paths."""
    drop = Drop()
    if mime.hasUrls():
        for url in mime.urls():
            path = _local_path(url)
            if path:
                drop.paths.append(path)
            else:
                drop.refused.append(f"{url.toDisplayString()} is not a file on this machine: {NOT_LOCAL_FIX}")
        return drop
    if mime.hasText():
        for line in mime.text().splitlines():
            if "://" in line and not line.strip().startswith("file://"):
                drop.refused.append(f"{line.strip()} is not a file on this machine: {NOT_LOCAL_FIX}")
            elif path := local_path_of_drop(line):
                drop.paths.append(path)
    return drop


class PathDropMixin:
    """Drag-and-drop of local paths for any widget (put it before the Qt class in the bases): a drop
    carrying paths calls ``on_paths_dropped(paths)``, and ``on_drop_refused(lines, True)`` names what
    else it held that is not a file here. A drag of nothing but such items is refused as it enters
    (the file manager shows it cannot drop, and is told nothing was taken), with
    ``on_drop_refused(lines, False)`` saying why; text is never pasted. The drop's calls come just
    after it has returned to the file manager, so a question about it (a sequence?) never holds the
    file manager's drag."""

    def on_paths_dropped(self, paths: list[str]) -> None:
        raise NotImplementedError

    def on_drop_refused(self, lines: list[str], dropped: bool) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        drop = read_drop(event.mimeData())
        if drop.paths:
            event.acceptProposedAction()
            return
        event.ignore()
        if drop.refused:
            self.on_drop_refused(drop.refused, False)

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        drop = read_drop(event.mimeData())
        if not drop.paths:
            event.ignore()
            return
        event.acceptProposedAction()
        QTimer.singleShot(0, self, lambda: self._deliver(drop))

    def _deliver(self, drop: Drop) -> None:
        if drop.refused:
            self.on_drop_refused(drop.refused, True)
        self.on_paths_dropped(drop.paths)


class PathDropEdit(PathDropMixin, QLineEdit):
    """``paths_dropped(list)`` fires with the dropped paths, ``drop_refused(list, bool)`` with what was
    not taken (and whether it was dropped, or refused on entering); the text is not edited by Qt's
    default drop (which inserts the URL text at the cursor)."""

    paths_dropped = Signal(list)
    drop_refused = Signal(list, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)

    def on_paths_dropped(self, paths: list[str]) -> None:
        self.paths_dropped.emit(paths)

    def on_drop_refused(self, lines: list[str], dropped: bool) -> None:
        self.drop_refused.emit(lines, dropped)
