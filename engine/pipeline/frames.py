"""Frame-range text (``1001-1100``, ``1-10,20-30``, ``7``) to a sorted list of frame numbers.

Frame numbers are the source's own (video frames numbered from ``start_number``; image sequences keep
theirs), so output frame N is always input frame N.
"""

from __future__ import annotations

import re

from engine.errors import FrameRangeError

_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?(?:x\s*(\d+)\s*)?$")


def parse_frame_ranges(text: str) -> list[int]:
    """Parse ``a-b[xstep]`` parts separated by commas; duplicates removed, order ascending."""
    if text is None or not str(text).strip():
        raise FrameRangeError("empty frame range", "give frames like 1-10 or 1001-1100,1200")
    frames: set[int] = set()
    for part in str(text).split(","):
        m = _PART.match(part)
        if not m:
            raise FrameRangeError(f"cannot read frame range {part.strip()!r}",
                                  "use forms like 1-10, 20-30x2 or 7, separated by commas")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3) or 1)
        if last < first:
            raise FrameRangeError(f"frame range {part.strip()!r} runs backwards", f"write it as {last}-{first}")
        if step < 1:
            raise FrameRangeError(f"frame step in {part.strip()!r} must be at least 1", "use x1 or more")
        frames.update(range(first, last + 1, step))
    return sorted(frames)


def select_frames(text: str | None, available: list[int]) -> list[int]:
    """Frames to render: all available ones, or the requested ones, each of which must exist."""
    if text is None or not str(text).strip():
        return list(available)
    wanted = parse_frame_ranges(text)
    have = set(available)
    lo, hi = (available[0], available[-1]) if available else (None, None)
    outside = [f for f in wanted if f not in have and not (available and lo <= f <= hi)]
    if outside:
        raise FrameRangeError(
            f"{_frames_text(outside)} outside the source (it has frames {lo}-{hi}, {len(available)} in all)",
            f"ask for frames within {lo}-{hi}, or set --start-number to renumber a video")
    gaps = [f for f in wanted if f not in have]
    if gaps:
        raise FrameRangeError(
            f"{_frames_text(gaps)} missing from the source (a gap in its frames {lo}-{hi})",
            "render the missing frames upstream, or ask for a range without gaps")
    return wanted


def _frames_text(frames: list[int]) -> str:
    if len(frames) == 1:
        return f"frame {frames[0]} is"
    return f"frames {format_frame_ranges(frames[:50])}{' ...' if len(frames) > 50 else ''} are"


def gaps_in(frames: list[int]) -> list[int]:
    """Numbers missing between the first and last of ``frames`` (holes in an image sequence)."""
    have = set(frames)
    return [f for f in range(frames[0], frames[-1] + 1) if f not in have] if frames else []


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
