"""``file_fingerprint``: a file's size and a hash of its first, middle and last blocks.

Why content only (never mtime or inode): every farm worker, whatever its mount, clock or OS, gets the same
value for the same file, so a plate is never taken for a changed one because another machine looked at it.
Why a few blocks and not the whole file: it is computed for every frame a job checks, and a plate frame can
be tens of MB; a re-render changes the size of any compressed frame, and its hashed blocks almost always.
"""

from __future__ import annotations

import hashlib
import os


def file_fingerprint(path: str | os.PathLike, block: int) -> str | None:
    """``SIZE:HASH`` of ``path`` (sha256 of up to ``block`` bytes at its start, middle and end, 16 hex
    digits), or None when it cannot be read (the job that reads the file reports that itself)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            for start in sorted({0, max(0, size // 2 - block // 2), max(0, size - block)}):
                file.seek(start)
                digest.update(file.read(block))
    except OSError:
        return None
    return f"{size}:{digest.hexdigest()[:16]}"
