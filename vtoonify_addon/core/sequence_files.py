"""File names of numbered image sequences (``DIR/stem.####.png``) in both directions."""

from __future__ import annotations

import os
import re

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


def frame_path(pattern: str, number: int) -> str:
    """Expand ``####`` (or ``%04d``) in ``pattern`` to ``number``, zero padded to the hash count."""
    if _HASHES.search(pattern):
        return _HASHES.sub(lambda m: _digits(number, len(m.group(0))), pattern, count=1)
    if _PRINTF.search(pattern):
        return _PRINTF.sub(lambda m: _digits(number, int(m.group(1) or 0)), pattern, count=1)
    raise ValueError(f"sequence pattern {pattern!r} has no #### or %0Nd frame field")


def _digits(number: int, width: int) -> str:
    """``width`` digits after the sign of a negative frame (``-0005``), as the engine names its files."""
    return f"{'-' if number < 0 else ''}{abs(int(number)):0{width}d}"


def frame_paths(pattern: str, numbers: list[int]) -> list[str]:
    """One path per frame number, in the given order (repeats kept: held frames)."""
    return [frame_path(pattern, n) for n in numbers]


def pattern_from_file(filename: str) -> tuple[str, int]:
    """``shot.0101.png`` -> (``shot.####.png``, 101): the sequence a single member belongs to."""
    head, tail = os.path.split(filename)
    match = _TRAILING_NUMBER.match(tail)
    if not match:
        raise ValueError(f"{filename!r} has no frame number")
    stem, digits, ext = match.groups()
    return os.path.join(head, f"{stem}{'#' * len(digits)}{ext}"), int(digits)
