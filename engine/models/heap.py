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

LINGER_S = 2.0
"""How long ``reused_heap(linger=True)`` keeps the setting after its last user leaves. A caller that
runs ``forward`` alone in a loop (an API user, a benchmark) would otherwise give the frame's ~720 MiB
back at the end of each call and fault it in again in the next (185,000 minor faults, 12% of a
256x256 frame); a call that comes back within the linger finds the pages still there."""

_lock = threading.Lock()
_users = 0
_active = False
_release_timer: threading.Timer | None = None


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, Windows, musl)
        return None


def _restore(libc) -> None:
    """Back to glibc's settled thresholds and the free memory to the system (caller holds ``_lock``)."""
    global _active
    libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(SETTLED_MMAP_BYTES))
    libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(SETTLED_TRIM_BYTES))
    libc.malloc_trim(ctypes.c_size_t(0))
    _active = False


def _release_after_linger(libc, timer_box: list) -> None:
    global _release_timer
    with _lock:
        if _users == 0 and _release_timer is timer_box[0]:  # nobody came back, and no newer timer
            _release_timer = None
            _restore(libc)


def release_now() -> None:
    """Give a lingering heap back now (a pending linger is cancelled); nothing while a user is inside."""
    global _release_timer
    libc = _glibc()
    with _lock:
        if _release_timer is not None:
            _release_timer.cancel()
            _release_timer = None
        if libc is not None and _users == 0 and _active:
            _restore(libc)


@contextlib.contextmanager
def reused_heap(linger: bool = False) -> Iterator[bool]:
    """Within: freed large blocks stay on the heap for reuse. Yields whether the setting took (glibc).
    Nests and may be entered from several threads; the defaults come back when the last one leaves
    (``linger``: ``LINGER_S`` later, unless someone enters again before)."""
    global _users, _active, _release_timer
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        _users += 1
        if _release_timer is not None:  # came back within a linger: the setting is still on
            _release_timer.cancel()
            _release_timer = None
        if not _active:
            libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1))
            if not libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(KEEP_BYTES)):
                libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(FALLBACK_BYTES))
            _active = True
    try:
        yield True
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                if linger:
                    box: list = []
                    timer = threading.Timer(LINGER_S, _release_after_linger, (libc, box))
                    timer.daemon = True
                    box.append(timer)
                    _release_timer = timer
                    timer.start()
                else:
                    _restore(libc)
