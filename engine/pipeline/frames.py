"""Frame-range text (``1001-1100``, ``1-10,20-30``, ``7``) to a sorted list of frame numbers.

Frame numbers are the source's own (video frames numbered from ``start_number``; image sequences keep
theirs), so output frame N is always input frame N.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterator

from engine.errors import FrameRangeError, setting

_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?(?:x\s*(\d+)\s*)?$", re.ASCII)
"""0-9 only: ``int()`` also reads Arabic-Indic or full-width digits, which no log or farm can type back."""


MAX_FRAMES = 10_000_000
"""Most frames one range text may expand to without a source to check it against."""
MAX_FRAME_NUMBER = 1_000_000_000
"""Largest frame number (either sign) rendered: every file records its frame in 32-bit metadata, so
``--start-number 10**20`` or ``shot.100000000000000000000.png`` is refused up front, not mid-write."""


def parse_frame_parts(text: str) -> list[range]:
    """Parse ``a-b[xstep]`` parts separated by commas into ranges, without expanding them."""
    if text is None or not str(text).strip():
        raise FrameRangeError("empty frame range",
                              f"give frames like 1-10 or 1001-1100, or leave {setting('frames')} out")
    parts = []
    for part in str(text).split(","):
        if not part.strip():
            raise FrameRangeError(f"frame range {str(text).strip()[:80]!r} has an empty part (two commas in a row "
                                  "or a comma at an end)", "remove the extra comma, e.g. 1-10,20-30")
        m = _PART.match(part)
        if not m:
            raise FrameRangeError(f"cannot read frame range {part.strip()!r}",
                                  "use forms like 1-10, 20-30x2 or 7, separated by commas")
        if any(len(g.lstrip("-")) > 12 for g in m.groups() if g):  # 10**4000 would overflow range() / len()
            raise FrameRangeError(f"frame range {part.strip()[:40]!r} holds a number of more than 12 digits",
                                  f"ask for frame numbers within +-{MAX_FRAME_NUMBER:,}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3) or 1)
        if last < first:
            raise FrameRangeError(f"frame range {part.strip()!r} runs backwards", f"write it as {last}-{first}")
        if step < 1:
            raise FrameRangeError(f"frame step in {part.strip()!r} must be at least 1", "use x1 or more")
        parts.append(range(first, last + 1, step))
    return parts


def parse_frame_ranges(text: str, limit: int = MAX_FRAMES) -> list[int]:
    """Parse ``a-b[xstep]`` parts separated by commas; duplicates removed, order ascending.

    The size is checked before anything is expanded, so a typo like ``1-99999999999`` is an error, not
    an allocation of billions of numbers.
    """
    parts = parse_frame_parts(text)
    count = sum(len(r) for r in parts)
    if count > limit:
        raise FrameRangeError(f"frame range {str(text).strip()!r} asks for {count} frames",
                              f"ask for at most {limit} frames")
    frames: set[int] = set()
    for r in parts:
        frames.update(r)
    return sorted(frames)


def check_frame_numbers(frames: list[int]) -> list[int]:
    """``frames`` (ascending), or FrameRangeError when one lies beyond +-MAX_FRAME_NUMBER."""
    if frames and max(-frames[0], frames[-1]) > MAX_FRAME_NUMBER:
        worst = frames[0] if -frames[0] > frames[-1] else frames[-1]
        raise FrameRangeError(f"frame number {worst} is beyond the {MAX_FRAME_NUMBER:,} the engine numbers "
                              "files with", f"renumber the frames: {setting('start_number')} for a video, or rename "
                                            "the sequence's files")
    return frames


def select_frames(text: str | None, available: list[int]) -> list[int]:
    """Frames to render: all available ones (``text`` None), or the requested ones, each of which must
    exist. Each range is checked against the source's span before it is expanded."""
    if text is None:
        return check_frame_numbers(list(available))
    parts = parse_frame_parts(text)
    if not available:
        raise FrameRangeError("the source has no frames", "check the source")
    lo, hi = available[0], available[-1]
    outside = [piece for r in parts for piece in _outside(r, lo, hi) if len(piece)]
    if outside:
        shown = ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in outside[:5])
        single = len(outside) == 1 and len(outside[0]) == 1
        raise FrameRangeError(
            f"{'frame' if single else 'frames'} {shown}{' ...' if len(outside) > 5 else ''} "
            f"{'is' if single else 'are'} outside the source (it has frames {lo}-{hi}, {len(available)} in all)",
            f"ask for frames within {lo}-{hi}, or set {setting('start_number')} to renumber a video")
    # Every part lies within the source's span now, but a span may be huge (two files, shot.0001.png and
    # shot.900000000.png): walk the asked-for frames in order, never expanding them, and stop after 51
    # gaps, so the walk is bounded by the source's own frame count.
    have = set(available)
    wanted, gaps = [], []
    for frame in _ascending(parts):
        if frame in have:
            wanted.append(frame)
        else:
            gaps.append(frame)
            if len(gaps) > 50:
                break
    if gaps:
        raise FrameRangeError(
            f"{_frames_text(gaps)} missing from the source (a gap in its frames {lo}-{hi})",
            "render the missing frames upstream, or ask for a range without gaps")
    return check_frame_numbers(wanted)


def _ascending(parts: list[range]) -> Iterator[int]:
    """The numbers of ``parts`` in ascending order, each once, produced lazily."""
    last = None
    for frame in heapq.merge(*parts):
        if frame != last:
            yield frame
            last = frame


def _outside(r: range, lo: int, hi: int) -> tuple[range, range]:
    """The parts of ``r`` below ``lo`` and above ``hi`` (as ranges: never expanded)."""
    below = range(r.start, min(r.stop, lo), r.step)
    first_above = r.start + max(0, -(-(hi + 1 - r.start) // r.step)) * r.step
    return below, range(max(first_above, r.start), r.stop, r.step)


def check_decodable(source, requested: str | None) -> None:
    """Refuse frames a damaged video cannot decode, naming them; frames that decode render normally.

    Without a frame range every frame is asked for, so any damage is refused: rendering only the
    frames that decode would silently leave holes.
    """
    damaged = list(getattr(source, "damaged_frames", ()) or ())
    if not damaged:
        return
    span = sorted(set(source.frame_numbers) | set(damaged))
    hit = damaged if requested is None else sorted(set(select_frames(requested, span)) & set(damaged))
    if not hit:
        return
    from engine.errors import InputError

    good = [f for f in source.frame_numbers if f not in set(damaged)]
    raise InputError(
        f"frames {format_frame_ranges(hit)} of {source.path_pattern} cannot be decoded (the file is damaged)",
        f"re-export or re-copy the file, or render only frames that decode: "
        f"{setting('frames', format_frame_ranges(good))}"
        if good else "re-export or re-copy the file")


def _frames_text(frames: list[int]) -> str:
    if len(frames) == 1:
        return f"frame {frames[0]} is"
    return f"frames {format_frame_ranges(frames[:50])}{' ...' if len(frames) > 50 else ''} are"


def gaps_in(frames: list[int]) -> list[range]:
    """The runs of numbers missing between the first and last of ``frames`` (ascending; holes in an image
    sequence), as ranges: never expanded, as ``shot.0001.png`` + ``shot.900000000.png`` has a hole of
    900 million frames."""
    return [range(a + 1, b) for a, b in itertools.pairwise(frames) if b > a + 1]


def format_runs(runs: list[range]) -> str:
    """Compact text for runs of frames: [range(3, 5), range(6, 7)] -> '3-4,6'."""
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs if len(r))


def format_frame_ranges(frames: list[int]) -> str:
    """Compact text for a list of frames: [1,2,3,7] -> '1-3,7'."""
    parts, run = [], []
    for f in sorted(frames):
        if run and f == run[-1] + 1:
            run.append(f)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [f]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)
