"""OIIO's pending error message as text, never raising.

A damaged header can leave bytes that are not UTF-8 in OIIO's message (the garbled attribute name it
quotes); the Python binding's decode then raises UnicodeDecodeError, so a damaged file became an
"internal error" instead of "cannot read image ... (check the file is a complete image)".
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import OpenImageIO as oiio

GARBLED = "its header holds garbled text (bytes that are not UTF-8), so it is damaged"


def error_text(source=None) -> str:
    """``source.geterror()`` (an ImageInput/ImageBuf/ImageOutput), or OIIO's global ``geterror()``."""
    try:
        text = source.geterror() if source is not None else oiio.geterror()
    except UnicodeDecodeError:
        return GARBLED
    return text.strip() if isinstance(text, str) else ""


# --- libpng's own stderr lines ---------------------------------------------------------------------
# OIIO hands libpng an error callback that records the message and returns, so libpng's default handler
# also prints "libpng error: ..." (and "libpng warning: ...") straight to file descriptor 2. The engine
# already reports the same text in its own error (naming the file and the fix), so these raw lines are
# dropped: fd 2 points at a temp file while OIIO reads, and every other line written there meanwhile
# (by any thread) is copied back to the real stderr when the last reader is done, or after HOLD_LIMIT_S
# at most (a read stuck on a stalled network share must not keep the engine's stderr, which hosts read
# for crash reports; libpng lines of reads still running then pass through).

HOLD_LIMIT_S = 5.0
_LIBPNG_PREFIXES = (b"libpng error:", b"libpng warning:")
_held_lock = threading.Lock()
_held = {"depth": 0, "saved": -1, "capture": None, "since": 0.0, "watchdog": None}


@contextlib.contextmanager
def libpng_lines_dropped() -> Iterator[None]:
    """Run an OIIO read with libpng's raw ``libpng error:``/``libpng warning:`` stderr lines dropped.

    Nests and may be entered by several threads at once (fd 2 is swapped once, for the outermost).
    Where fd 2 cannot be swapped (closed), the read runs as it is."""
    entered = _hold_stderr()
    try:
        yield
    finally:
        if entered:
            _release_stderr()


def _hold_stderr() -> bool:
    with _held_lock:
        if _held["depth"] == 0:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            try:
                capture = tempfile.TemporaryFile()
                saved = os.dup(2)
            except OSError:
                return False
            try:
                os.dup2(capture.fileno(), 2)
            except OSError:
                os.close(saved)
                capture.close()
                return False
            _held.update(saved=saved, capture=capture, since=time.monotonic())
            if _held["watchdog"] is None:
                _held["watchdog"] = threading.Thread(target=_watch, name="stderr-hold-watchdog", daemon=True)
                _held["watchdog"].start()
        _held["depth"] += 1
        return True


def _release_stderr() -> None:
    with _held_lock:
        _held["depth"] -= 1
        if _held["depth"] > 0:
            return
        data = _give_back_locked()
    _write_kept(data)


def _give_back_locked() -> bytes:
    """Point fd 2 at the real stderr again; the captured bytes (caller holds the lock)."""
    if _held["saved"] < 0:
        return b""  # given back already by the watchdog
    try:
        sys.stderr.flush()  # what Python wrote meanwhile goes to the capture, then back in order
    except (OSError, ValueError, AttributeError):
        pass
    saved, capture = _held["saved"], _held["capture"]
    os.dup2(saved, 2)
    os.close(saved)
    _held.update(saved=-1, capture=None)
    try:
        capture.seek(0)
        return capture.read()
    finally:
        capture.close()


def _write_kept(data: bytes) -> None:
    kept = b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(_LIBPNG_PREFIXES))
    with contextlib.suppress(OSError):
        while kept:
            kept = kept[os.write(2, kept):]


def _watch() -> None:
    """Give stderr back once a hold has lasted HOLD_LIMIT_S (the reads go on; their depth still counts)."""
    while True:
        time.sleep(HOLD_LIMIT_S / 5)
        with _held_lock:
            data = (_give_back_locked() if _held["saved"] >= 0
                    and time.monotonic() - _held["since"] > HOLD_LIMIT_S else b"")
        _write_kept(data)
