"""The job journal: one JSON line per job state change, appended; compacted once mostly stale.

Appending makes a state change cost one short write (a whole-file rewrite on every change grew with
the number of jobs). Compaction rewrites only the live records (temp file + rename, atomic) once the
file holds COMPACT_FACTOR times more lines than live jobs, so it stays within a constant factor of
the jobs the engine keeps. On load the last line of each job wins; a torn last line (a crash in mid
write) or any other undecodable line is skipped. ``jobs.json`` (the whole-file journal of earlier
versions) is read once and replaced.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from pathlib import Path

from engine.host_name import host_tag

FILE_NAME = "jobs.jsonl"
LEGACY_FILE_NAME = "jobs.json"
COMPACT_FACTOR = 3
COMPACT_MIN_LINES = 64
_REWRITE_TEMP = re.compile(r"^\.jobs-(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)-[a-z0-9_]+\.tmp$")
"""A rewrite's temp, ``.jobs-<host>-<pid>-<random>.tmp``: whose it is, so a killed engine's can be removed."""


def read_journal(path: str | os.PathLike) -> list[dict]:
    """The latest record of every job in a journal file, in the order of their ``seq`` (oldest first).

    Only a regular file is read, never through a link (a journal swapped for a link between runs would
    feed the engine another file's lines; a FIFO would block start-up): anything else reads as empty,
    and the compaction that follows every load replaces it (the file a link points at is left alone)."""
    latest: dict[str, dict] = {}
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return []
    except OSError:
        if os.path.islink(path):
            return []
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        for line in handle:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # a torn line, or one nested past Python's limit
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                latest[record["id"]] = record
    return sorted(latest.values(), key=lambda r: r.get("seq", 0) if isinstance(r.get("seq"), int) else 0)


class Journal:
    """Append-only job records in ``<state dir>/jobs.jsonl``."""

    def __init__(self, state_dir: str | os.PathLike) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self.lines = 0

    def load(self) -> list[dict]:
        """Every job's latest record; a legacy ``jobs.json`` is read when there is no journal yet."""
        legacy = self.path.with_name(LEGACY_FILE_NAME)
        if not self.path.exists() and not self.path.is_symlink() and legacy.is_file() and not legacy.is_symlink():
            try:
                records = json.loads(legacy.read_text(encoding="utf-8")).get("jobs", [])
            except (OSError, ValueError, AttributeError, RecursionError):
                return []
            return [dict(r, seq=i) for i, r in enumerate(records) if isinstance(r, dict)]
        try:
            records = read_journal(self.path)
        except OSError:
            return []
        self.lines = len(records)  # compacted right after loading
        remove_killed_rewrites(self.path.parent)
        return records

    def append(self, record: dict) -> None:
        """One line at the end; a link planted at the journal's name is never written through: the
        write is skipped and the next ``needs_compaction`` asks for a rewrite, which replaces the link
        with the whole journal (every record is in memory)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError:
            if not self.path.is_symlink():
                raise
            self.lines = 1 << 62  # forces the rewrite
            return
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.lines += 1

    def needs_compaction(self, live: int) -> bool:
        return self.lines > max(COMPACT_MIN_LINES, COMPACT_FACTOR * live)

    def rewrite(self, records: list[dict]) -> None:
        """Replace the file with exactly these records (atomic); the legacy file is then retired."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".jobs-{host_tag()}-{os.getpid()}-"
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=str(self.path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(record) + "\n" for record in records)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.lines = len(records)
        try:
            self.path.with_name(LEGACY_FILE_NAME).unlink()
        except OSError:
            pass


def remove_killed_rewrites(folder: Path) -> None:
    """Delete rewrite temps of this host's engines that are gone: an engine killed while it compacted (every
    start compacts) never renamed its temp. Temps of live engines, of other hosts, of engines whose names
    carry no pid, and links stay."""
    from engine.service.connection import pid_alive  # stdlib-only; also knows Windows

    here = host_tag()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        m = _REWRITE_TEMP.match(entry.name)
        if not m or m.group("host") != here or pid_alive(int(m.group("pid"))) or entry.is_symlink():
            continue
        try:
            entry.unlink()
        except OSError:
            pass
