"""Map a VSE strip's visible timeline frames to the source frame numbers the engine renders.

Blender's rule (``give_frame_index`` + the movie/image render path; the same in 4.2, 4.5 and 5.0,
all in single-precision floats): for timeline frame ``t``

    index = t - frame_start                (reversed: content_end - 1 - t), at least 0
    index = index * playback_rate          (media fps / scene fps when the strip was added with
                                            "adjust playback rate", else 1)
    index = clamp(index, 0, media_length - 1)
    index = index - fmod(index, strobe)    (strobe > 1 only)
    shown = animation_offset_start + floor(index + 0.5)   (round_fl_to_int)

so a 15 fps clip in a 24 fps scene shows media frames 0, 1, 1, 2, 3, 3, 4, 4, 5, ... and frames
past the content's ends hold the first / last frame. The engine numbers a video's first frame
``start_number`` (1 here); image sequences keep their own numbers.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass


def f32(value: float) -> float:
    """``value`` rounded to the nearest single-precision float (Blender computes frame indices in float)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def round_fl_to_int(value: float) -> int:
    """Blender's ``round_fl_to_int``: ``floor(value + 0.5)`` in single precision (halves round up)."""
    return math.floor(f32(value + 0.5))


@dataclass(frozen=True)
class StripTiming:
    """The strip attributes that decide which media frame each timeline frame shows."""

    frame_start: float
    """Timeline frame of the content's first frame (``strip.frame_start``, may lie before the cut)."""
    frame_final_start: int
    """First visible timeline frame (``strip.frame_final_start``, or a meta's cut)."""
    frame_final_end: int
    """One past the last visible timeline frame (``strip.frame_final_end``, or a meta's cut)."""
    frame_duration: int
    """Content length in timeline frames (``strip.frame_duration``)."""
    animation_offset_start: int = 0
    """Media frames cut from the head of the source (``strip.animation_offset_start``)."""
    playback_rate: float = 1.0
    """Media frames advanced per timeline frame (1.0, or media fps / scene fps when adjusted)."""
    media_length: int | None = None
    """Media frames in the content (Blender's ``len``); None = ``frame_duration`` (1:1 strips)."""
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

    @property
    def index_max(self) -> int:
        return (self.media_length if self.media_length is not None else self.frame_duration) - 1


def media_index(timing: StripTiming, timeline_frame: int) -> int:
    """0-based media frame Blender shows at ``timeline_frame`` (see the module docstring)."""
    start = f32(timing.frame_start)
    if timing.reverse:
        index = f32(f32(start + timing.frame_duration - 1) - timeline_frame)
    else:
        index = f32(timeline_frame - start)
    index = max(index, 0.0)
    index = f32(index * f32(timing.playback_rate))
    index = min(max(index, 0.0), float(timing.index_max))
    if timing.strobe > 1.0:
        index = f32(index - math.fmod(index, f32(timing.strobe)))
    return int(timing.animation_offset_start + round_fl_to_int(index))


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


def playback_factor(media_fps: float, scene_fps: float) -> float:
    """Blender's media-to-scene rate of an adjusted strip: ``media_fps / scene_fps`` in single precision."""
    return f32(f32(media_fps) / f32(scene_fps))


def content_length(media_length: int, factor: float) -> int:
    """Blender's ``frame_duration`` of a strip of ``media_length`` frames at ``factor`` (truncated)."""
    return int(f32(media_length / factor))


def media_length_from_probe(duration_probe: int, probe_factor: float) -> int | None:
    """The media length whose content length at ``probe_factor`` (< 1) is ``duration_probe``, or None.

    With a factor below one each media length gives a different content length, so the length is
    found without decoding the file (Blender 4.2.0 aborts when a movie is opened a second time).
    """
    guess = round(duration_probe * probe_factor)
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 1 and content_length(candidate, probe_factor) == duration_probe:
            return candidate
    return None


def retimed_movie_refusal(strip_name: str, keys: int) -> tuple[str, str]:
    """(problem, fix) for a movie strip with retiming keys. Blender's Python API (4.2 to 5.x) gives a
    retiming key only its timeline frame, never the media frame it holds, so the speed between keys,
    even an unchanged one (keys added but not moved), cannot be read; nor can the frames it shows.
    Image sequences are exempt: ``strip_elem_from_frame`` names each file Blender shows."""
    return (f"movie strip {strip_name!r} has {keys} retiming keys (Strip > Retiming). Blender tells add-ons "
            "only a key's place on the timeline, not the movie frame it holds, so the add-on cannot tell "
            "the strip's speed (even an unchanged one) or which frames it shows",
            "if the speed was never changed, remove the keys with Strip > Retiming > Reset Retiming (the "
            "picture stays the same); otherwise render the retimed strip to a movie or image sequence "
            "and stylize that")


def retimed_movie_blocker(strip_name: str, keys: int) -> tuple[str, str]:
    """``retimed_movie_refusal`` short enough for a greyed button's tooltip (Blender cuts poll messages
    at about 250 characters); clicking still reports the whole reason."""
    return (f"movie strip {strip_name!r} has {keys} retiming keys, whose speed the add-on cannot read",
            "Strip > Retiming > Reset Retiming (if the speed never changed), or stylize a render of it")
