"""In-process cache of video frame indexes, keyed by the file's identity on disk.

Why: indexing demuxes every packet (a 10-hour clip, 200k frames: ~5 s), and the engine service opens
the same clip again and again (preview, then render, then a resumed render). A file is taken as unchanged
while its (path, device, inode, size, mtime_ns, ctime_ns) are; a write or replacement changes them and the
file is indexed again. Damaged (truncated) indexes are never kept: such a file may still be arriving.
Bounded by entries and by frames held (each frame costs two Python ints), least recently used out first.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

MAX_ENTRIES = 16
MAX_FRAMES = 2_000_000
"""Frames held across all entries (~10 ten-hour clips at 50 fps, ~150 MB at most)."""


def file_key(path: Path) -> tuple | None:
    """What identifies this version of the file, or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class IndexCache:
    """``get_or_build(path, build, frames, keep)``: ``build(path)``'s result for this version of the file."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_frames: int = MAX_FRAMES) -> None:
        self.max_entries = max_entries
        self.max_frames = max_frames
        self._entries: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._frames = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._frames = 0

    def get_or_build(self, path: Path, build: Callable[[Path], T], frames: Callable[[T], int],
                     keep: Callable[[T], bool]) -> T:
        key = file_key(path)
        if key is not None:
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None:
                    self._entries.move_to_end(key)
                    return hit[0]
        value = build(path)  # outside the lock: two jobs indexing two clips run side by side
        size = frames(value)
        if key is None or not keep(value) or size > self.max_frames or file_key(path) != key:
            return value  # changed while it was read (still being copied?): not kept
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (value, size)
                self._frames += size
            while len(self._entries) > self.max_entries or self._frames > self.max_frames:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._frames -= dropped
        return value
