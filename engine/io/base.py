"""``FrameSource``: the one interface the frame loop reads from, whatever the media is.

Frames are addressed by *frame number* (a video's first frame is ``start_number``; an image sequence
keeps the numbers in its file names) and come back as uint8 [H, W, 3] display-sRGB RGB arrays.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import FrameRangeError

if TYPE_CHECKING:  # annotations only: typing.Self needs Python 3.11
    from typing_extensions import Self


MAX_FRAME_PIXELS = 1 << 26
"""Most pixels in one frame the engine stylizes: 67,108,864 (8192x8192; an 8K frame is about half of it).
Checked on the header, before any pixel is decoded: the face search and placement work on the whole frame,
and an all-black 16000x12000 PNG (577 KB on disk) took 141 s and 9.8 GB of memory."""


def check_frame_pixels(width: int, height: int, path_pattern: str, kind: str) -> None:
    """InputError for a frame above MAX_FRAME_PIXELS, with the oiiotool / ffmpeg command that downscales it
    (by the smallest power of two that fits). ``kind``: ``image``, ``sequence`` or ``video``."""
    import os
    import shlex

    from engine.errors import InputError

    pixels = int(width) * int(height)
    if pixels <= MAX_FRAME_PIXELS:
        return
    divisor = 2
    while pixels / (divisor * divisor) > MAX_FRAME_PIXELS:
        divisor *= 2
    name = os.path.basename(path_pattern)
    stem, ext = os.path.splitext(name)
    percent, scale = 100 // divisor, f"scale=iw/{divisor}:-2"
    if kind == "video":
        fix = (f"downscale it first, e.g. ffmpeg -i {shlex.quote(name)} -vf {scale} -c:v prores_ks "
               f"{shlex.quote(stem + '_small.mov')}")
    elif kind == "sequence":  # oiiotool reads and writes a #### pattern frame by frame, numbers kept
        fix = (f"downscale its frames first, e.g. oiiotool {shlex.quote(name)} --resize {percent}% "
               f"-o {shlex.quote('small_' + name)}")
    else:
        smaller = shlex.quote(f"{stem}_small{ext}")
        fix = (f"downscale it first, e.g. oiiotool {shlex.quote(name)} --resize {percent}% -o {smaller} "
               f"or ffmpeg -i {shlex.quote(name)} -vf {scale} {smaller}")
    raise InputError(f"{path_pattern} is {width}x{height} ({pixels:,} pixels) per frame, above the "
                     f"{MAX_FRAME_PIXELS:,} pixels (e.g. 8192x8192) the engine stylizes per frame", fix)


class FrameSource(abc.ABC):
    """Random-access frames of one shot. Use as a context manager so decoders are closed."""

    kind: str = ""
    """``'video'``, ``'sequence'`` or ``'image'``."""
    path_pattern: str = ""
    """The file (video, image) or the ``####`` pattern of a sequence."""
    fps: float | None = None
    """Frames per second for videos; None for images and sequences."""
    size: tuple[int, int] = (0, 0)
    """(W, H) of every frame."""
    parts: tuple[str, ...] = ()
    """The part (subimage) names of the first image file, one for an ordinary image, several for a multi-part
    EXR or multi-page TIFF, of which only the first is read; empty for videos."""

    @property
    @abc.abstractmethod
    def frame_numbers(self) -> list[int]:
        """Every readable frame number, ascending."""

    @abc.abstractmethod
    def read(self, frame_number: int) -> np.ndarray:
        """One frame as uint8 [H, W, 3] RGB; raises FrameRangeError / InputError."""

    def read_many(self, frame_numbers: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_number, rgb)`` in the given order (a video decodes consecutive numbers straight
        through, without seeking)."""
        for number in frame_numbers:
            yield number, self.read(number)

    def files(self) -> list[str]:
        """Every file the source reads (so writers can refuse to overwrite the source)."""
        return [self.path_pattern]

    def close(self) -> None:  # noqa: B027 - optional hook: sources without handles need no override
        """Release decoders and file handles (idempotent)."""

    def __len__(self) -> int:
        return len(self.frame_numbers)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _out_of_range(self, frame_number: int) -> FrameRangeError:
        numbers = self.frame_numbers
        span = f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
        return FrameRangeError(f"frame {frame_number} is not in {self.path_pattern} (frames {span})",
                               f"pick frames within {span}")


def describe_numbers(numbers: Iterable[int], limit: int = 20) -> str:
    """Compact text for a list of frame numbers: ``1003, 1005-1007`` (ranges joined, long lists cut)."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if len(parts) > limit:
        parts = parts[:limit] + [f"... ({len(parts) - limit} more gaps)"]
    return ", ".join(parts)
