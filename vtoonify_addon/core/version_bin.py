"""Purged versions set aside until the .blend's undo history is gone.

Purge Old VToonify Versions deletes files, which Blender's undo cannot bring back; a Ctrl+Z (or
Shift+Ctrl+Z) to a step whose result strip showed a purged version would lay a strip over frames that
no longer exist. So a purge moves each version into ``<stem>/.purged/<session>/vNNN`` (a rename in the
same folder: instant, no copy), an undo or redo that shows it again moves it back, and the bin is
emptied when the undo history ends: another file opened (or File > New, Revert), the add-on disabled,
Blender quit. Each Blender session has its own bin folder, so one session never empties another's;
a session that crashed leaves its bin, which the next one deletes (``orphan_bins``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable

from . import orphan_bins
from .output_versions import BIN_NAME, existing_versions, same_folder, shown_version_number, version_dir


class VersionBin:
    """This session's set-aside versions: ``set_aside`` on purge, ``bring_back`` on undo/redo,
    ``empty`` when the undo history ends. Holds paths only (no Blender data).

    ``records_dir`` (Blender's user folder for the add-on) keeps the list of stems this session has a
    bin in, so the next session finds a crashed one's bins; ``alive`` (pid -> running) lets a purge
    delete the bins of ended sessions it finds beside its own. Without them, nothing is swept."""

    def __init__(self, session: str | None = None, records_dir: str | None = None,
                 alive: Callable[[int], bool] | None = None) -> None:
        self.session = session or uuid.uuid4().hex[:12]
        self.records_dir = records_dir
        self.alive = alive
        self._stems: set[str] = set()

    def sweep_ended_sessions(self) -> list[str]:
        """Delete the bins of sessions that ended without emptying theirs (a crash); returns the
        version folders deleted. Never raises: a bin that cannot go now is tried again next time."""
        if self.alive is None or not self.records_dir:
            return []
        try:
            return orphan_bins.sweep_records(self.records_dir, self.session, self.alive)
        except OSError as exc:
            print(f"VToonify: old purge bins not cleaned ({exc}); tried again at the next start")
            return []

    def _open_bin(self, stem_dir: str) -> None:
        """Make this session's bin in ``stem_dir`` with its marker, and list the stem in the record."""
        folder = self.folder(stem_dir)
        os.makedirs(folder, exist_ok=True)
        marker = os.path.join(folder, orphan_bins.MARKER_NAME)
        if not os.path.lexists(marker):
            orphan_bins.write_json_new(marker, orphan_bins.marker_record(self.session))
        if stem_dir not in self._stems:
            self._stems.add(stem_dir)
            if self.records_dir:
                orphan_bins.write_record(self.records_dir, self.session, self._stems)

    def folder(self, stem_dir: str) -> str:
        return os.path.join(stem_dir, BIN_NAME, self.session)

    def set_aside(self, stem_dir: str, numbers: list[int]) -> list[str]:
        """Move versions ``numbers`` of ``stem_dir`` into this session's bin; returns the version
        folders moved. A ``.purged`` that is a link or a file is refused (never written through)."""
        stem_dir = next((stem for stem in sorted(self._stems) if same_folder(stem, stem_dir)), stem_dir)  # Take/take
        holder = os.path.join(stem_dir, BIN_NAME)
        if os.path.islink(holder) or (os.path.exists(holder) and not os.path.isdir(holder)):
            raise ValueError(f"{holder} is not a folder VToonify made (a link or a file): remove it, then purge again")
        if self.alive is not None:
            orphan_bins.sweep_stem(stem_dir, self.session, self.alive)
        moved = []
        for number in numbers:
            source = version_dir(stem_dir, number)
            if os.path.islink(source) or not os.path.isdir(source):
                continue
            self._open_bin(stem_dir)
            os.rename(source, version_dir(self.folder(stem_dir), number))
            moved.append(source)
        return moved

    def bring_back(self, wanted_dir: str) -> bool:
        """Move ``.../<stem>/vNNN`` back out of this session's bin when a strip shows it again and the
        folder is missing; False when it is there, was not set aside here, or is no version folder.

        Case-aware: a strip naming ``Plate/V002`` shows ``plate/v002`` on a case-insensitive disk, so
        the stem is matched as one folder on disk and the version goes back under its own name
        (``v002``, which the add-on lists and switches to)."""
        wanted_dir = os.path.normpath(wanted_dir)
        number, named_stem = shown_version_number(wanted_dir), os.path.dirname(wanted_dir)
        stem_dir = next((stem for stem in sorted(self._stems) if same_folder(stem, named_stem)), None)
        if number is None or stem_dir is None:
            return False
        home = version_dir(stem_dir, number)
        if os.path.lexists(home) or os.path.lexists(wanted_dir):
            return False
        held = version_dir(self.folder(stem_dir), number)
        if os.path.islink(held) or not os.path.isdir(held):
            return False
        os.rename(held, home)
        return True

    def held(self) -> list[str]:
        """The version folders in this session's bin now."""
        return [
            version_dir(self.folder(stem), n)
            for stem in sorted(self._stems)
            for n in existing_versions(self.folder(stem))
        ]

    def empty(self) -> list[str]:
        """Delete this session's bin folders (and ``.purged`` once no session's is left); returns the
        version folders deleted."""
        deleted = self.held()
        for stem_dir in self._stems:
            folder = self.folder(stem_dir)
            if os.path.isdir(folder) and not os.path.islink(folder):
                shutil.rmtree(folder, ignore_errors=True)
            try:
                os.rmdir(os.path.join(stem_dir, BIN_NAME))
            except OSError:  # another session's bin is still there, or it is already gone
                pass
        self._stems.clear()
        orphan_bins.remove_record(self.records_dir, self.session)
        return deleted
