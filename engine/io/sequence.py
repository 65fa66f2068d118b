"""Numbered image sequences: ``shot.####.exr``, ``shot.%04d.png``, ``shot.@@@@.png`` or one member
file (``shot.1001.png``) whose siblings are found on disk.

Frame numbers are the ones in the file names. Gaps are allowed until a missing frame is asked for;
then the InputError lists every missing number in the sequence's span.
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.io.base import FrameSource, check_frame_pixels, describe_numbers
from engine.io.image import (
    alpha_channel,
    alpha_opaque,
    channels_read,
    display_window,
    part_names,
    read_rgb8,
    read_rgb8_and_alpha,
)
from engine.service import catalog  # the name grammar shared with the panel and the add-on


@dataclass(frozen=True)
class SequencePattern:
    """A sequence's folder, the text around the number, and the number's zero padding."""

    folder: Path
    prefix: str
    suffix: str
    padding: int

    def name_for(self, frame_number: int) -> str:
        return catalog.frame_name(self.prefix, frame_number, self.padding, self.suffix)

    def path_for(self, frame_number: int) -> Path:
        return self.folder / self.name_for(frame_number)

    @property
    def hash_pattern(self) -> str:
        """The pattern written with ``#`` per digit (``shot.####.exr``)."""
        return str(self.folder / catalog.pattern_name(self.prefix, self.padding, self.suffix))

    def number_of(self, name: str) -> int | None:
        """Frame number encoded in ``name``, or None if the name is not a member of this sequence."""
        return catalog.member_number(name, self.prefix, self.padding, self.suffix)


MAX_PADDING = 32
"""Most digits a sequence pattern may pad frame numbers to (frame numbers have at most 10)."""


def parse_pattern(path: str) -> SequencePattern | None:
    """``shot.####.exr`` / ``shot.%04d.exr`` / ``shot.@@@@.exr`` -> SequencePattern; None if no placeholder."""
    folder, name = os.path.split(path)
    parts = catalog.split_pattern(name)
    if parts is None:
        return None
    prefix, padding, suffix = parts
    if padding > MAX_PADDING:  # %0999999999999999999d would build a pattern string of 10**18 '#'
        raise InputError(f"sequence pattern {name[:60]!r} asks for {str(padding)[:20]}-digit frame numbers",
                         f"use at most {MAX_PADDING} digits, e.g. shot.####.exr or shot.%04d.exr")
    return SequencePattern(Path(folder or "."), prefix, suffix, padding)


def pattern_from_member(path: Path) -> SequencePattern | None:
    """``shot.1001.png`` -> its sequence pattern, if the stem ends with digits after a name.

    Names made only of digits (``077436.jpg``) are not taken as sequence members: folders of photos
    are often named that way; pass ``######.jpg`` explicitly for such a sequence.
    """
    parts = catalog.split_member(path.name)
    if parts is None:
        return None
    prefix, digits, suffix = parts
    return SequencePattern(path.parent, prefix, suffix, len(digits))


def scan(pattern: SequencePattern) -> dict[int, Path]:
    """Frame number -> file for every file on disk that belongs to ``pattern``."""
    try:
        names = os.listdir(pattern.folder)
    except OSError:
        return {}
    found: dict[int, Path] = {}
    for name in sorted(names):
        number = pattern.number_of(name)
        if number is not None and number not in found:
            found[number] = pattern.folder / name
    return found


class SequenceSource(FrameSource):
    """Frames from numbered image files; every frame must have the first frame's size."""

    kind = "sequence"

    def __init__(self, pattern: SequencePattern, files: dict[int, Path] | None = None) -> None:
        self.pattern = pattern
        self.path_pattern = pattern.hash_pattern
        self._files = dict(sorted((files if files is not None else scan(pattern)).items()))
        if not self._files:
            raise InputError(f"no files match the sequence {self.path_pattern}",
                             "check the path, the padding (#### = 4 digits) and the extension")
        self._numbers = list(self._files)
        self.fps = None
        x, y, w, h = display_window(self._files[self._numbers[0]])
        check_frame_pixels(w, h, self.path_pattern, self.kind)
        self.size = (w, h)
        self.display_origin = (x, y)
        """Top-left of the first frame's display window (EXR overscan / moved origin)."""
        self.parts = tuple(part_names(self._files[self._numbers[0]]))
        self.channels_read = channels_read(self._files[self._numbers[0]])
        """The first frame's channels read as the picture (``engine.io.image.channels_read``)."""
        self.plate_alpha = alpha_channel(self._files[self._numbers[0]])
        """The first frame's alpha channel name when it has one: only colour is read, the job says so
        unless it is opaque (``plate_alpha_opaque``)."""
        self.alpha_from: int | None = None
        """The first frame read whose alpha is not opaque everywhere (checked in the same decode as its
        colour, and only until one is found): a plate keyed or faded after an opaque first frame."""

    @functools.cached_property
    def plate_alpha_opaque(self) -> bool:
        """Whether the first frame's alpha (the frame the header facts come from) is 1 everywhere: read
        when the job asks, so opening the sequence decodes nothing."""
        return self.plate_alpha is None or alpha_opaque(self._files[self._numbers[0]])

    @property
    def frame_numbers(self) -> list[int]:
        return list(self._numbers)

    def files(self) -> list[str]:
        return [str(path) for path in self._files.values()]

    def frame_file(self, frame_number: int) -> Path | None:
        """The file of ``frame_number``, or None when the sequence has none."""
        return self._files.get(int(frame_number))

    def missing_text(self, limit: int = 20) -> str:
        """The numbers between the first and last frame that have no file, as text (``3, 5-7``): built from
        the runs between files, never expanded (``shot.0001.png`` + ``shot.900000000.png``)."""
        runs = [(a + 1, b - 1) for a, b in itertools.pairwise(self._numbers) if b > a + 1]
        parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:limit]]
        return ", ".join(parts + ([f"... ({len(runs) - limit} more gaps)"] if len(runs) > limit else []))

    def require(self, frame_numbers) -> None:
        """Raise one InputError listing every requested frame that has no file."""
        missing = [n for n in frame_numbers if n not in self._files]
        if missing:
            raise InputError(f"sequence {self.path_pattern} is missing frames {describe_numbers(missing)}",
                             "render those frames again upstream or choose a range without gaps")

    def read(self, frame_number: int) -> np.ndarray:
        number = int(frame_number)
        if number not in self._files:
            if self._numbers[0] <= number <= self._numbers[-1]:
                raise InputError(
                    f"frame {number} is missing from {self.path_pattern} "
                    f"(missing: {self.missing_text()})",
                    "render the missing frames upstream or choose a range without gaps")
            raise self._out_of_range(number)
        # The header first: a member that claims another (maybe huge) size is refused before decoding.
        x, y, width, height = display_window(self._files[number])
        if (width, height) == self.size and (x, y) != tuple(self.display_origin):
            # the output is placed on the first frame's display window: this frame would land shifted
            raise InputError(f"frame {number} of {self.path_pattern} has its display window at {x},{y} but the "
                             f"sequence's first frame at {self.display_origin[0]},{self.display_origin[1]}",
                             "render every frame of the sequence with the same display window (overscan)")
        rgb = None
        if (width, height) == self.size and self.plate_alpha is not None and self.alpha_from is None:
            rgb, opaque = read_rgb8_and_alpha(self._files[number])
            self.alpha_from = None if opaque else number
        elif (width, height) == self.size:
            rgb = read_rgb8(self._files[number])
        if rgb is None or (rgb.shape[1], rgb.shape[0]) != self.size:
            width, height = (width, height) if rgb is None else (rgb.shape[1], rgb.shape[0])
            raise InputError(f"frame {number} of {self.path_pattern} is {width}x{height} "
                             f"but the sequence is {self.size[0]}x{self.size[1]}",
                             "make every frame of the sequence the same resolution")
        return rgb
