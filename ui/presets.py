"""Named presets of the style and output options, one JSON file each (plain Python, no Qt).

Sources and output folders are per shot, so they are never part of a preset. Files are written
atomically (temp name + rename) into the presets folder only; names are plain file stems.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from engine.errors import ConfigError
from engine.pipeline.config import RenderConfig

PER_SHOT = ("source", "output", "frames", "name")
"""Fields that belong to a shot, not to a look: never saved in a preset."""
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def preset_fields(values: dict) -> dict:
    """The part of the form a preset keeps."""
    return {k: v for k, v in values.items() if k not in PER_SHOT}


class PresetStore:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def names(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.folder.glob("*.json") if p.is_file())
        except OSError:
            return []

    def save(self, name: str, values: dict) -> Path:
        """Write the preset (checked against RenderConfig first); returns its file."""
        name = name.strip()
        if not _SAFE.match(name):
            raise ConfigError(f"preset name {name!r} is not usable",
                              "use letters, digits, spaces, '.', '_' or '-' (up to 64 characters)")
        fields = preset_fields(values)
        RenderConfig.from_dict({"source": "check", "output": "check", **fields})  # refuse a bad preset now
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.json"
        fd, tmp = tempfile.mkstemp(prefix=".preset-", suffix=".tmp", dir=str(self.folder))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "values": fields}, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return path

    def load(self, name: str) -> dict:
        path = self.folder / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            values = data["values"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ConfigError(f"preset {name!r} cannot be read ({str(exc)[:120]})", "save it again") from None
        if not isinstance(values, dict):
            raise ConfigError(f"preset {name!r} is damaged", "save it again")
        return preset_fields(values)

    def delete(self, name: str) -> None:
        path = self.folder / f"{name}.json"
        if path.is_file() and not path.is_symlink():
            path.unlink()
