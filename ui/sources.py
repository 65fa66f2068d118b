"""What kind of source the artist picked, and which file shows its first frame (plain Python).

Sources are the forms RenderConfig accepts: a video file, an image sequence pattern
(``shot.####.png`` or ``shot.%04d.png``) or a single image. The thumbnail needs one real file.
"""

from __future__ import annotations

import re
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".bmp", ".webp", ".dpx")

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)(\.[^.]+)$")


def is_video(source: str) -> bool:
    return Path(source).suffix.lower() in VIDEO_SUFFIXES


def is_sequence_pattern(source: str) -> bool:
    name = Path(source).name
    return bool(_HASHES.search(name) or _PRINTF.search(name))


def sequence_glob(source: str) -> str:
    """``shot.####.png`` / ``shot.%04d.png`` -> ``shot.*.png`` (for listing the frames on disk)."""
    name = _PRINTF.sub("*", _HASHES.sub("*", Path(source).name))
    return name


def first_frame_file(source: str) -> Path | None:
    """The file holding the source's first frame: the video or image itself, or the lowest-numbered
    file of a sequence pattern; None when nothing matching exists."""
    path = Path(source)
    if not is_sequence_pattern(source):
        return path if path.is_file() else None
    matches = sorted(path.parent.glob(sequence_glob(source)), key=_frame_number)
    return matches[0] if matches else None


def sequence_pattern_for(picked_file: str) -> str:
    """An artist picked one frame ``shot.1001.png`` from a file dialog: offer ``shot.####.png``
    when its neighbours exist, else the single image."""
    path = Path(picked_file)
    match = _TRAILING_NUMBER.match(path.name)
    if not match:
        return picked_file
    stem, digits, suffix = match.groups()
    siblings = list(path.parent.glob(f"{_glob_escape(stem)}{'[0-9]' * len(digits)}{suffix}"))
    if len(siblings) < 2:
        return picked_file
    return str(path.parent / f"{stem}{'#' * len(digits)}{suffix}")


def _frame_number(path: Path) -> int:
    numbers = re.findall(r"\d+", path.name)
    return int(numbers[-1]) if numbers else -1


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
