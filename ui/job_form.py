"""Turn what the artist set in the panel into job settings the engine accepts (plain Python).

Settings are checked with ``RenderConfig`` here so an out-of-range value is reported in the panel
with its fix before anything is sent; the engine checks them again on ``submit``.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import ConfigError
from engine.pipeline.config import RenderConfig


def frame_range_text(first: int, last: int, whole_source: bool) -> str | None:
    """RenderConfig's ``frames`` text for the panel's first/last boxes (None = whole source)."""
    if whole_source:
        return None
    if last < first:
        raise ConfigError(f"last frame {last} is before first frame {first}",
                          "set the last frame to the first frame or later")
    return f"{first}-{last}" if last != first else str(first)


def build_job_settings(shot: dict, style: dict) -> dict:
    """Merge the shot and style sections into RenderConfig fields, checked.

    ``shot`` holds source/output/frames/format/mattes/output_space, ``style`` holds
    backend/style/style_id/degree/color_transfer/exstyle_image. Raises ConfigError.
    """
    merged = {**shot, **style}
    if not str(merged.get("source") or "").strip():
        raise ConfigError("no source picked", "pick a video, an image sequence or an image")
    if not str(merged.get("output") or "").strip():
        raise ConfigError("no output folder picked", "pick the folder the frames are written to")
    for field, what in (("source", "source"), ("output", "output folder")):
        merged[field] = full_path(str(merged[field]), what)
    return RenderConfig.from_dict(merged).to_dict()


def full_path(text: str, what: str) -> str:
    """``text`` as a whole path (``~`` expanded); a relative one is refused: it would be taken
    from the folder the panel happened to be started in (a typed ``renders`` rendered into the
    checkout the panel was launched from)."""
    path = os.path.expanduser(text.strip())
    if not os.path.isabs(path):
        raise ConfigError(f"{what} {text.strip()!r} is not a full path",
                          f"pick it with Browse… or type the whole path (e.g. {Path.home() / 'shots' / 'sh010'})")
    return path


def preview_settings(settings: dict) -> dict:
    """A preview renders one frame; it never needs mattes or a resume check."""
    return {**settings, "mattes": False, "matte_files": False, "resume": False}
