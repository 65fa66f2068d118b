"""Test helper: a second X client that starts a drag of ``text/uri-list`` items, as a file manager
does, so a drop onto the panel goes through XDND between two X clients.

Usage: python x_drag_source.py URI [URI ...]
A small window titled "VToonify drag source" is shown; a left button press in it starts the drag
(QDrag.exec: the pointer is grabbed and XDND messages go to the window under it), and the outcome
is printed on stdout as ``drag: <action>`` (the target's last answer while the pointer was over it:
CopyAction or IgnoreAction), after ``pressed`` as the drag starts. The window stays until the test
ends it: the drop target fetches the URIs from this process only after the button is released.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QLabel

TITLE = "VToonify drag source"


class Source(QLabel):
    def __init__(self, uris: list[str]) -> None:
        super().__init__("drag me")
        self.uris = uris
        self.setWindowTitle(TITLE)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #3060a0; color: white;")
        self.resize(160, 100)

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        mime = QMimeData()
        mime.setUrls([QUrl(uri) for uri in self.uris])
        drag = QDrag(self)
        drag.setMimeData(mime)
        print("pressed", flush=True)  # the test moves the pointer only once the drag is under way
        result = drag.exec(Qt.DropAction.CopyAction)
        print(f"drag: {result.name}", flush=True)
        # the drop target reads the data from this process after exec returns (XdndDrop, then a
        # selection request): a file manager stays running, and so does this window until killed


def main() -> int:
    app = QApplication(sys.argv[:1])
    source = Source(sys.argv[1:])
    source.move(int(app.primaryScreen().geometry().width()) - 200, 40)
    source.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
