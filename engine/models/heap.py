"""Keep freed heap memory for the next frame (Linux glibc; a no-op elsewhere).

By default glibc serves every allocation above 128 KiB-32 MiB with fresh ``mmap`` pages and unmaps
them on free, so each frame's large tensors (about 1.4 GB of them for a 1024x1024 output) are
page-faulted and zero-filled by the kernel again: 0.6-0.9 s of system time a frame on CPU, about a
quarter of the static network's time. Inside ``reused_heap()`` allocations up to ``KEEP_BYTES``
come from the heap and return to it, so the next frame reuses the same pages; on leaving, the free
memory is returned to the system (``malloc_trim``) and the thresholds go back to where glibc's own
dynamic rule settles (``SETTLED_MMAP_BYTES``).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30
"""Largest allocation served from (and kept on) the heap; glibc may refuse it, then 32 MiB."""
FALLBACK_BYTES = 32 << 20
SETTLED_MMAP_BYTES = 32 << 20
SETTLED_TRIM_BYTES = 64 << 20
"""The thresholds restored on leaving. glibc starts at 128 KiB and raises the mmap threshold to the
size of each freed mmapped block up to 32 MiB (the trim threshold to twice that), but any ``mallopt``
turns that rule off for good. Restoring a fixed 128 KiB left every later allocation over 128 KiB to
fresh pages: the reference VToonify forward (256x256) then took 20% longer than under glibc's own
rule (7.6 M vs 5.2 M minor faults over 5 frames); at 32/64 MiB it ran as under the rule
(4.3-4.9 M faults, same time within noise)."""

_lock = threading.Lock()
_users = 0


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, Windows, musl)
        return None


@contextlib.contextmanager
def reused_heap() -> Iterator[bool]:
    """Within: freed large blocks stay on the heap for reuse. Yields whether the setting took (glibc).
    Nests and may be entered from several threads; the defaults come back when the last one leaves."""
    global _users
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        _users += 1
        if _users == 1:
            libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1))
            if not libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(KEEP_BYTES)):
                libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(FALLBACK_BYTES))
    try:
        yield True
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(SETTLED_MMAP_BYTES))
                libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(SETTLED_TRIM_BYTES))
                libc.malloc_trim(ctypes.c_size_t(0))
