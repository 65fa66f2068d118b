"""Frame numbers of a variable-frame-rate (VFR) video, as editing hosts count them.

A phone clip's pictures do not sit one per frame: the camera drops to 24 fps in low light, skips a
frame, or stamps with jitter. Hosts built on FFmpeg do not number such a clip picture by picture;
they lay a constant rate over it (FFmpeg's guessed rate, ``av_guess_frame_rate``) and show at frame
k the picture on screen at time k / rate: the last picture whose timestamp is at or before it.
Measured in Blender 4.2.23 and 5.0.1 (``tests/blender/test_vfr_frames.py``): a clip of 32 pictures at
30 then 20 fps is a 60 fps strip of 74 frames, frame 3 repeating picture 2.

The engine numbers VFR videos the same way, so output frame N is the picture the host shows at its
frame N and a result strip sits over its plate frame for frame. Frames that repeat a picture are
stylized once and written under each number (``render.held_pictures``); ``FrameGrid.advice`` says how
to conform the clip so every frame is a new picture.
"""

from __future__ import annotations

import bisect
import math
import shlex
from dataclasses import dataclass
from fractions import Fraction

STANDARD_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                  Fraction(50), Fraction(60000, 1001), Fraction(60))


def grid_target(k: int, origin: int, time_base: Fraction, rate: Fraction) -> int:
    """Timestamp (stream ticks, nearest; halves up) of grid frame ``k``: ``origin + k / rate``."""
    return origin + math.floor(Fraction(k) / (rate * time_base) + Fraction(1, 2))


def grid_frame_count(pts: list[int], origin: int, end: int | None, time_base: Fraction, rate: Fraction) -> int:
    """Frames the host lists: the stream's duration at ``rate`` (nearest whole frame), and at least
    enough to reach the last picture. ``end``: the stream's end time in ticks (None: unknown)."""
    last = math.ceil((pts[-1] - origin) * time_base * rate)
    while last > 0 and grid_target(last - 1, origin, time_base, rate) >= pts[-1]:
        last -= 1  # the last picture shows from the first grid frame at or after its timestamp
    while grid_target(last, origin, time_base, rate) < pts[-1]:
        last += 1
    count = last + 1
    if end is not None and end > origin:
        count = max(count, math.floor((end - origin) * time_base * rate + Fraction(1, 2)))
    return count


def host_grid(pts: list[int], origin: int, count: int, time_base: Fraction, rate: Fraction) -> list[int]:
    """For each grid frame 0..count-1, the position in ``pts`` (ascending presentation timestamps) of
    the picture shown then: the last one stamped at or before the frame's time (the first before it)."""
    return [max(0, bisect.bisect_right(pts, grid_target(k, origin, time_base, rate)) - 1) for k in range(count)]


def conform_rate(average: float | None) -> Fraction | None:
    """The standard rate nearest a clip's average rate (what to conform it to), None when unknown."""
    if not average or average <= 0:
        return None
    return min(STANDARD_RATES, key=lambda r: abs(float(r) - average))


@dataclass(frozen=True)
class FrameGrid:
    """How a VFR video's pictures map onto its frame numbers (see the module docstring)."""

    rate: Fraction
    """Frames per second of the grid (FFmpeg's guessed rate: Blender's strip fps)."""
    pictures: int
    """Pictures in the file."""
    frames: int
    """Frame numbers on the grid."""
    repeats: int
    """Frames that show the same picture as the frame before them."""
    unshown: int
    """Pictures no grid frame shows (shorter than one grid frame)."""
    average_rate: float | None = None
    """Pictures per second over the clip, for the conform advice."""

    def to_dict(self) -> dict:
        """Sidecar / protocol form (``rate`` as ``"num/den"``, like the timecode's)."""
        return {"timing": "variable", "rate": f"{self.rate.numerator}/{self.rate.denominator}",
                "fps": round(float(self.rate), 3), "pictures": self.pictures, "frames": self.frames,
                "repeats": self.repeats, "unshown": self.unshown,
                "rule": "frame k shows the picture on screen at time k / fps (Blender, FFmpeg-based hosts)"}

    def advice(self, path: str) -> str:
        """A conform command for the artist who wants one new picture per frame."""
        target = conform_rate(self.average_rate) or self.rate
        shown = f"{target.numerator}/{target.denominator}" if target.denominator != 1 else str(target.numerator)
        return (f"to get one new picture per frame, conform it to a constant rate before editing, e.g. "
                f"ffmpeg -i {shlex.quote(path)} -vf fps={shown} -c:v libx264 -crf 12 -c:a copy conformed.mp4")

    def warning(self, path: str) -> str:
        """The job warning for a VFR source: what the numbers mean, and the way out."""
        return (f"{path} has a variable frame rate ({self.pictures} pictures): its frames are numbered on its "
                f"{float(self.rate):g} fps grid as Blender and other FFmpeg-based hosts show it ({self.frames} "
                f"frames; {self.repeats} repeat the picture before them"
                + (f", {self.unshown} pictures fall between frames" if self.unshown else "")
                + f"), so output frame N matches the host's frame N; {self.advice(path)}")
