"""Purge bins a crashed Blender left behind, cleaned by the next session.

A session empties its own ``<stem>/.purged/<session>`` when its file closes cleanly; a crash (or a
kill) skips that, and the set-aside versions would fill the disk for ever. Each bin therefore carries
a marker naming its session, process and machine, and each session lists the stems it set versions
aside in (a small record in Blender's own user folder). The next session deletes a bin only when its
marker is the add-on's, names that very bin, this machine and a process that no longer runs: a bin of
a running Blender, of another machine sharing the folder, one without a marker, a link, or anything
that is no version folder is left as it is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
from collections.abc import Callable, Iterable

from .output_versions import BIN_NAME

MARKER_NAME = ".vtoonify-bin.json"
"""The file in a session's bin that says the add-on made it, for which session, process and machine."""
_VERSION = re.compile(r"^v\d{3,}$")
_MARKER_MAX_BYTES = 4096


def marker_record(session: str) -> dict:
    return {"vtoonify_bin": 1, "session": session, "pid": os.getpid(), "host": socket.gethostname()}


def write_json_new(path: str, record: dict) -> None:
    """Write ``record`` to ``path`` created exclusively (a planted file or link there is never written
    through: FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8") as handle:
        json.dump(record, handle)


def read_json_file(path: str) -> dict | None:
    """The JSON object in the regular file ``path`` (not a link), or None."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MARKER_MAX_BYTES * 64:
            return None
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_real_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _dead_owner(record: dict | None, session: str, alive: Callable[[int], bool]) -> bool:
    if not record or record.get("vtoonify_bin") != 1 or record.get("session") != session:
        return False
    pid = record.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or record.get("host") != socket.gethostname():
        return False
    return not alive(pid)


def remove_dead_bin(stem_dir: str, session: str, alive: Callable[[int], bool]) -> list[str]:
    """Delete ``<stem_dir>/.purged/<session>`` when its marker says a process of this machine that has
    ended made it; returns the version folders deleted. Only ``vNNN`` folders and the marker are
    removed: a bin holding anything else (a link, a file) is left whole."""
    holder = os.path.join(stem_dir, BIN_NAME)
    folder = os.path.join(holder, session)
    if not _is_real_folder(stem_dir) or not _is_real_folder(holder) or not _is_real_folder(folder):
        return []
    marker = os.path.join(folder, MARKER_NAME)
    if not _dead_owner(read_json_file(marker), session, alive):
        return []
    with os.scandir(folder) as entries:
        held = sorted(entries, key=lambda e: e.name)
    versions = [e.path for e in held if _VERSION.match(e.name) and e.is_dir(follow_symlinks=False)]
    if len(versions) != len(held) - 1:  # something the add-on did not put there (a link, a file): all stays
        return []
    for path in versions:
        shutil.rmtree(path)
    os.unlink(marker)  # last: a sweep cut short finds the marker again next time
    for path in (folder, holder):
        try:
            os.rmdir(path)
        except OSError:  # another session's bin is still there
            break
    return versions


def sweep_stem(stem_dir: str, own_session: str, alive: Callable[[int], bool]) -> list[str]:
    """Every dead session's bin in ``<stem_dir>/.purged`` (a purge there finds them, record or not)."""
    holder = os.path.join(stem_dir, BIN_NAME)
    if not _is_real_folder(stem_dir) or not _is_real_folder(holder):
        return []
    deleted = []
    for entry in sorted(os.scandir(holder), key=lambda e: e.name):
        if entry.name != own_session and entry.is_dir(follow_symlinks=False):
            deleted += remove_dead_bin(stem_dir, entry.name, alive)
    return deleted


def sweep_records(records_dir: str, own_session: str, alive: Callable[[int], bool]) -> list[str]:
    """Every bin listed by the record of a session that no longer runs; the record goes once none of
    its bins is left. Returns the version folders deleted."""
    if not records_dir or not _is_real_folder(records_dir):
        return []
    deleted = []
    for entry in sorted(os.scandir(records_dir), key=lambda e: e.name):
        session = entry.name[: -len(".json")]
        if not entry.name.endswith(".json") or session == own_session:
            continue
        record = read_json_file(entry.path)
        if not _dead_owner(record, session, alive):
            continue
        stems = [s for s in record.get("stems", ()) if isinstance(s, str)]
        for stem_dir in stems:
            deleted += remove_dead_bin(stem_dir, session, alive)
        if not any(_is_real_folder(os.path.join(s, BIN_NAME, session)) for s in stems):
            os.unlink(entry.path)
    return deleted


def write_record(records_dir: str, session: str, stems: Iterable[str]) -> None:
    """This session's record: the stems whose ``.purged`` holds a bin of it (replaced atomically)."""
    os.makedirs(records_dir, exist_ok=True)
    record = dict(marker_record(session), stems=sorted(stems))
    final = os.path.join(records_dir, f"{session}.json")
    temp = os.path.join(records_dir, f".{session}.{os.getpid()}.tmp")
    if os.path.lexists(temp):
        os.unlink(temp)
    write_json_new(temp, record)
    os.replace(temp, final)


def remove_record(records_dir: str | None, session: str) -> None:
    if records_dir:
        path = os.path.join(records_dir, f"{session}.json")
        if os.path.isfile(path) and not os.path.islink(path):
            os.unlink(path)
