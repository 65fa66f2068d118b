"""Remove what a cancelled or failed job left behind, and only that."""

from __future__ import annotations

import os


def snapshot(directory: str) -> frozenset[str]:
    """Names of the files already in ``directory`` before a job starts (empty if it is absent)."""
    try:
        return frozenset(e.name for e in os.scandir(directory) if e.is_file())
    except FileNotFoundError:
        return frozenset()


def remove_new_files(directory: str, before: frozenset[str], existed: bool) -> list[str]:
    """Delete files created since ``before``; drop the folder too if the job created it empty."""
    removed = []
    for name in sorted(snapshot(directory) - before):
        path = os.path.join(directory, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    if not existed:
        try:
            os.rmdir(directory)
        except OSError:
            pass
    return removed
