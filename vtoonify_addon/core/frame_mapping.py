"""Map a VSE strip's visible timeline frames to the source frame numbers the engine renders.

Blender shows timeline frame ``t`` of a movie strip as media frame (0-based)
``animation_offset_start + floor((t - frame_start) * rate)`` where ``rate`` is the media-to-scene
playback rate (1.0 unless the strip was added with "adjust playback rate", then
``strip_fps / scene_fps``); reversed strips count back from the content end. Frames before the
content start hold the first frame and frames past the content end hold the last one (a handle
dragged past the media), as Blender's own ``frame_index`` clamp does. The engine numbers a
video's first frame ``start_number`` (1 here), image sequences keep their own numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class StripTiming:
    """The strip attributes that decide which media frame each timeline frame shows."""

    frame_start: float
    """Timeline frame of the content's first frame (``strip.frame_start``, may lie before the cut)."""
    frame_final_start: int
    """First visible timeline frame (``strip.frame_final_start``)."""
    frame_final_end: int
    """One past the last visible timeline frame (``strip.frame_final_end``, exclusive)."""
    frame_duration: int
    """Content length in timeline frames (``strip.frame_duration``)."""
    animation_offset_start: int = 0
    """Media frames cut from the head of the source (``strip.animation_offset_start``)."""
    playback_rate: float = 1.0
    """Media frames advanced per timeline frame (1.0, or strip fps / scene fps when adjusted)."""
    reverse: bool = False
    """``strip.use_reverse_frames``."""
    strobe: float = 1.0
    """``strip.strobe``: hold each frame this many timeline frames."""

    def __post_init__(self) -> None:
        if self.frame_final_end <= self.frame_final_start:
            raise ValueError(f"empty strip range {self.frame_final_start}..{self.frame_final_end}")
        if self.playback_rate <= 0:
            raise ValueError(f"playback rate {self.playback_rate} must be positive")

    @property
    def timeline_frames(self) -> range:
        """The visible frames, end exclusive, as Blender counts them."""
        return range(self.frame_final_start, self.frame_final_end)


def media_index(timing: StripTiming, timeline_frame: int) -> int:
    """0-based media frame shown at ``timeline_frame`` (mirrors Blender's give-frame-index)."""
    if timing.reverse:
        local = (timing.frame_start + timing.frame_duration - 1) - timeline_frame
    else:
        local = timeline_frame - timing.frame_start
    local = min(max(local, 0.0), timing.frame_duration - 1)  # hold the first / last content frame
    if timing.strobe > 1.0:
        local -= math.fmod(local, timing.strobe)
    index = math.floor(local * timing.playback_rate + 1e-6)
    return int(timing.animation_offset_start + index)


def source_frame_numbers(timing: StripTiming, start_number: int = 1) -> list[int]:
    """Engine frame number for every visible timeline frame, in timeline order."""
    return [media_index(timing, t) + start_number for t in timing.timeline_frames]


def range_text(numbers: list[int]) -> str:
    """Compact frame list text for the engine, e.g. ``[4, 5, 6, 9]`` -> ``"4-6,9"``."""
    unique = sorted(set(numbers))
    if not unique:
        raise ValueError("no frames to render")
    parts, first, prev = [], unique[0], unique[0]
    for n in unique[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(f"{first}-{prev}" if prev != first else f"{first}")
        if n is not None:
            first = prev = n
    return ",".join(parts)


def playback_rate(strip_fps: float, scene_fps: float, media_frames: int | None, frame_duration: int,
                  animation_offsets: int = 0) -> float:
    """Tell whether Blender stretches the media to scene time, and by how much.

    Blender does not expose its "adjust playback rate" flag to Python, so compare the content
    length with the media's own frame count: equal lengths mean 1:1, otherwise the rate is
    ``strip_fps / scene_fps`` (the only other rate Blender applies).
    """
    if media_frames is None or strip_fps <= 0 or scene_fps <= 0:
        return 1.0
    if media_frames - animation_offsets == frame_duration:
        return 1.0
    return strip_fps / scene_fps
