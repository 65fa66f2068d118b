"""The artist's last choices, kept in QSettings between sessions.

The app uses the native store (organisation ``VToonifyStudio``); tests pass an INI-file QSettings.
Values are written with explicit types because INI stores everything as text. Saved paths are
checked when they come back: a folder that is gone is not brought back silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "VToonifyStudio"
APPLICATION = "Panel"


def default_settings() -> QSettings:
    return QSettings(ORGANISATION, APPLICATION)


def restored_output(folder: str) -> tuple[str, str]:
    """The saved output folder to put back in the form, and a warning for the messages ('' for none).

    A folder that exists comes back. One that is gone while its parent is there (the artist deleted
    the renders) comes back with a note: the engine makes it again. One whose parent is gone too (a
    drive or share not mounted, a project moved) is left out: the engine would have made the whole
    path again on the local disk, and the renders gone where nobody looks. A file is left out too.
    """
    if not folder:
        return "", ""
    path = Path(os.path.expanduser(folder))
    if path.is_dir():
        return folder, ""
    if path.exists():  # a file (a clip typed or dropped there): no job can make a folder of it
        return "", f"the output folder {folder} from last time is a file, not a folder: pick the output " \
                   "folder again (Browse… next to Output)"
    if path.parent.is_dir():
        return folder, f"the output folder {folder} from last time is not there now; it is made again when a " \
                       "job starts (pick another with Browse… next to Output if the renders go elsewhere)"
    return "", f"the output folder {folder} from last time is gone, with the folder above it (a drive or share " \
               "not mounted, or a project moved?): pick the output folder again (Browse… next to Output)"


def restored_exemplar(image: str, origin: str = "from last time") -> str:
    """A warning when the saved exemplar image is not there now ('' when it is, or none was saved);
    ``origin`` says where it was saved (the last session, a preset)."""
    if not image or Path(os.path.expanduser(image)).is_file():
        return ""
    return f"the exemplar image {image} {origin} is not there now: pick it again, or clear the " \
           "Exemplar field (shots are not queued while it names a missing image)"


class PanelSettings:
    """Typed get/set over one QSettings object (no global store: the window is given one)."""

    _STRINGS = ("shot/source", "shot/output", "shot/format", "shot/output_space", "shot/exr_compression",
                "shot/name", "shot/policy", "shot/matte_classes", "shot/faces", "style/backend", "style/device",
                "style/style", "style/backbone", "style/exstyle_image")
    _BOOLS = ("shot/mattes", "shot/matte_files", "shot/cryptomatte", "shot/whole_source", "shot/follow_faces",
              "style/color_transfer")
    _INTS = ("shot/first_frame", "shot/last_frame", "shot/png_bits", "shot/start_number", "shot/max_faces",
             "style/style_id",
             "preview/frame")
    _FLOATS = ("shot/scale", "style/degree", "preview/split")

    def __init__(self, store: QSettings) -> None:
        self.store = store

    def load(self) -> dict:
        """Every saved value, keyed ``section/name``; keys never saved are absent."""
        out: dict = {}
        for key in self._STRINGS + self._BOOLS + self._INTS + self._FLOATS:
            if not self.store.contains(key):
                continue
            raw = self.store.value(key)
            try:
                if key in self._BOOLS:
                    out[key] = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1")
                elif key in self._INTS:
                    out[key] = int(raw)
                elif key in self._FLOATS:
                    out[key] = float(raw)
                else:
                    out[key] = "" if raw is None else str(raw)
            except (TypeError, ValueError):
                continue  # a hand-edited bad value falls back to the widget default
        return out

    def save(self, values: dict) -> None:
        for key, value in values.items():
            if value is None:
                self.store.remove(key)
            else:
                self.store.setValue(key, value)
        self.store.sync()

    def geometry(self, name: str = "geometry") -> QByteArray | None:
        """A saved window state: ``geometry`` (size and place) or a splitter's (its name)."""
        value = self.store.value(f"window/{name}")
        return value if isinstance(value, QByteArray) else None

    def save_geometry(self, geometry: QByteArray, name: str = "geometry") -> None:
        self.store.setValue(f"window/{name}", geometry)
        self.store.sync()

    def job_order(self) -> list[str]:
        """The engine job ids of the queue's rows, in the order the panel last showed them."""
        try:
            ids = json.loads(str(self.store.value("queue/job_order") or "[]"))
        except ValueError:
            return []  # a hand-edited bad value: the engine's order
        return [str(i) for i in ids if isinstance(i, str)] if isinstance(ids, list) else []

    def save_job_order(self, job_ids: list[str]) -> None:
        """Kept as JSON text: an INI file reads a one-item list back as a plain string."""
        self.store.setValue("queue/job_order", json.dumps(list(job_ids)))
        self.store.sync()

    def claim_sent_jobs(self) -> list[str]:
        """The engine job ids an earlier panel (now closed, or crashed) sent: this panel's own jobs, as the
        artist sees it. Ids a panel still open sent stay its own. The engine makes every job id (random) and
        nothing another client sends can add one here, so no other client's job is ever taken for ours."""
        claimed = [job_id for job_id, pid in self._sent_jobs().items() if pid == os.getpid() or not _alive(pid)]
        self.save_sent_jobs(claimed)  # ours now: a second panel opened next does not claim them too
        return claimed

    def save_sent_jobs(self, job_ids: list[str]) -> None:
        """Keep the ids this panel sent (after each submit, so a crash loses none), beside those of other
        panels still open; SENT_JOBS_MAX ids at most, the newest kept."""
        mine = set(job_ids)
        kept = {job_id: pid for job_id, pid in self._sent_jobs().items()
                if job_id not in mine and pid != os.getpid() and _alive(pid)}
        kept.update({str(job_id): os.getpid() for job_id in job_ids})
        self.store.setValue("queue/sent_jobs", json.dumps(dict(list(kept.items())[-SENT_JOBS_MAX:])))
        self.store.sync()

    def removed_jobs(self) -> list[str]:
        """Engine job ids whose rows the artist removed (Remove, Delete, Clear finished): the engine keeps
        listing them (its journal outlives panels and engines), a panel opened later leaves them out."""
        try:
            ids = json.loads(str(self.store.value("queue/removed_jobs") or "[]"))
        except ValueError:
            return []  # a hand-edited bad value: every job the engine lists is shown
        return [str(i) for i in ids if isinstance(i, str)] if isinstance(ids, list) else []

    def save_removed_jobs(self, job_ids) -> None:
        """Add ``job_ids`` to those kept (another panel open at the same time may have added its own);
        SENT_JOBS_MAX ids at most, the newest kept."""
        ids = list(dict.fromkeys([*self.removed_jobs(), *map(str, job_ids)]))
        self.store.setValue("queue/removed_jobs", json.dumps(ids[-SENT_JOBS_MAX:]))
        self.store.sync()

    def _sent_jobs(self) -> dict[str, int]:
        try:
            data = json.loads(str(self.store.value("queue/sent_jobs") or "{}"))
        except ValueError:
            return {}  # a hand-edited bad value: no row is claimed
        return {str(k): v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


SENT_JOBS_MAX = 2000
"""Job ids a panel remembers sending (the engine prunes old jobs itself)."""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a panel still open). Where that cannot be asked, False: the ids
    are claimed, as after a crash."""
    if os.name == "nt" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: running
    return True
