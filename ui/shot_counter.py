"""Counts the frames of shots added several at a time (a drop, a multi-file Browse) in the background.

The form reads the facts of the one source typed into it; rows added by a drop or a multi-pick had
no frame count until the engine reported one, so the total bar could read full while they waited.
Each source is read here as the form reads it (``probe_source``, off the UI thread: a long image
sequence takes a while to list), and ``counted`` gives the row its whole clip's length.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ui.source_info import probe_source


class _CountJob(QRunnable):
    def __init__(self, owner: ShotCounter, key: int, source: str, start_number: int) -> None:
        super().__init__()
        self._owner, self._key, self._source, self._start = owner, key, source, start_number

    def run(self) -> None:
        info = probe_source(self._source, self._start)
        if info.error or not info.count:
            return  # left uncounted: the engine counts it (the total bar says a shot is not counted yet)
        try:
            self._owner.counted.emit(self._key, info.count)
        except RuntimeError:
            pass  # the panel was closed while the file was read


class ShotCounter(QObject):
    counted = Signal(int, int)  # row key, frames in the whole source

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one file read at a time: the form's own reads and the engine go on

    def count(self, key: int, source: str, start_number: int = 1) -> None:
        self._pool.start(_CountJob(self, key, source, start_number))

    def wait(self, timeout_ms: int = 10000) -> bool:
        return self._pool.waitForDone(timeout_ms)

    def stop(self) -> None:
        """Drop the reads not started yet (the panel is closing: nobody will see their counts)."""
        self._pool.clear()
