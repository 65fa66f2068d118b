"""Versioned output folders (``<root>/<source>/v003/``): every job writes into a folder of its own.

A cancelled or failed re-render then never mixes files with the previous result (whose strip keeps
pointing at its own version), and cleanup can delete the new version folder as a whole.
"""

from __future__ import annotations

import os
import re
import shutil

_VERSION = re.compile(r"^v(\d{3,})$")
_TAKEN = re.compile(r"^v(\d{3,})$", re.IGNORECASE)
"""A name a new version folder must avoid: ``V004`` is the very folder ``v004`` on a case-insensitive
disk (Windows, and macOS by default), and it is not the add-on's to write into or delete."""
BIN_NAME = ".purged"
"""The folder in ``<stem>`` where purged versions wait for the undo history to end (``version_bin``)."""


def existing_versions(stem_dir: str, links: bool = False) -> list[int]:
    """Version numbers of the ``vNNN`` folders already in ``stem_dir`` (ascending). A ``vNNN`` link is
    no version (the add-on lists, switches to and purges only folders the engine made); ``links``
    (the numbers a new version must avoid) counts them too, and names in another case (``V004``), so a
    new version is never given a linked or someone else's name."""
    if os.path.islink(stem_dir):  # planted: never listed (or purged) through
        return []
    try:
        names = [e.name for e in os.scandir(stem_dir) if e.is_dir(follow_symlinks=False) or (links and e.is_symlink())]
    except FileNotFoundError:
        return []
    pattern = _TAKEN if links else _VERSION
    return sorted({int(m.group(1)) for m in map(pattern.match, names) if m})


def stem_dir_problem(stem_dir: str) -> tuple[str, str] | None:
    """(problem, fix) when a strip's output folder (``<root>/<strip>``, the add-on's own) is a link: the
    add-on never writes or deletes through a link it did not make. The root itself may be a link (the
    artist's choice, e.g. to a bigger disk)."""
    if not os.path.islink(stem_dir):
        return None
    return (f"the output folder {stem_dir} is a link to {os.readlink(stem_dir)}, not a folder VToonify made",
            "remove the link (VToonify makes that folder itself), or point Output Folder in the add-on "
            "preferences at the real folder")


def output_root_problem(root: str) -> tuple[str, str] | None:
    """(problem, fix) when renders cannot be written under ``root`` (absolute): it, or the nearest
    folder above it that exists, is a file or is not writable; None when it can (missing folders are
    made by the engine)."""
    fix = "set Output Folder in the VToonify add-on preferences to a folder you can write to"
    probe = os.path.normpath(root)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        return f"the output folder {root} cannot be made: {probe} is a file", fix
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"the output folder {root} is not writable ({probe} refuses new files)", fix
    return None


def next_version_dir(stem_dir: str) -> str:
    """``stem_dir/vNNN`` one past the highest existing version (``v001`` in an empty folder)."""
    versions = sorted(existing_versions(stem_dir, links=True) + set_aside_numbers(stem_dir))
    return os.path.join(stem_dir, f"v{(versions[-1] + 1 if versions else 1):03d}")


def set_aside_numbers(stem_dir: str) -> list[int]:
    """Version numbers held in any session's ``.purged`` bin of ``stem_dir``: a new render never takes
    one, so an undo that brings one back never meets a newer folder of the same name."""
    holder = os.path.join(stem_dir, BIN_NAME)
    if os.path.islink(holder) or not os.path.isdir(holder):
        return []
    numbers: set[int] = set()
    for entry in os.scandir(holder):
        if entry.is_dir(follow_symlinks=False):
            numbers.update(existing_versions(entry.path))
    return sorted(numbers)


def remove_version_dir(version_dir: str) -> bool:
    """Delete a job's own version folder (never anything else); drop its parent if that is left empty.

    Only call once the engine has stopped writing. Refuses paths that are not ``.../vNNN``.
    """
    if not _VERSION.match(os.path.basename(os.path.normpath(version_dir))):
        raise ValueError(f"{version_dir!r} is not a versioned output folder")
    existed = os.path.isdir(version_dir)
    shutil.rmtree(version_dir, ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(os.path.normpath(version_dir)))
    except OSError:
        pass
    return existed


def version_number(version_dir: str) -> int | None:
    """3 for ``.../v003`` (trailing slash allowed), None for any other folder."""
    match = _VERSION.match(os.path.basename(os.path.normpath(version_dir)))
    return int(match.group(1)) if match else None


def shown_version_number(folder: str) -> int | None:
    """``version_number`` of a folder a strip names, in any case: a strip naming ``V002`` shows the
    folder ``v002`` on a case-insensitive disk (Windows, and macOS by default)."""
    match = _TAKEN.match(os.path.basename(os.path.normpath(folder)))
    return int(match.group(1)) if match else None


def version_dir(stem_dir: str, number: int) -> str:
    return os.path.join(stem_dir, f"v{number:03d}")


def missing_in_version(stem_dir: str, number: int, filenames: list[str]) -> list[str]:
    """Which of a strip's files version ``number`` lacks (a version with other frames or format)."""
    folder = version_dir(stem_dir, number)
    return [name for name in dict.fromkeys(filenames) if not os.path.isfile(os.path.join(folder, name))]


def same_folder(a: str, b: str) -> bool:
    """Whether two paths name one folder: equal, or the same folder on disk under another spelling
    (``Take`` and ``take`` on a case-insensitive disk: two strips whose names differ only in case
    share one output folder there)."""
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def versions_shown(stem_dir: str, folders: list[str]) -> set[int]:
    """The version numbers of ``stem_dir`` that some of ``folders`` (result strips' folders) show."""
    return {shown_version_number(folder) for folder in folders if shown_version_number(folder) is not None
            and same_folder(os.path.dirname(os.path.normpath(folder)), stem_dir)}


def purge_versions(stem_dir: str, keep: set[int]) -> list[str]:
    """Delete every ``vNNN`` folder of ``stem_dir`` whose number is not in ``keep``; returns them. (The
    add-on sets them aside instead, ``version_bin``, where an undo can still bring them back.)"""
    removed = []
    for number in existing_versions(stem_dir):
        if number not in keep:
            folder = version_dir(stem_dir, number)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
