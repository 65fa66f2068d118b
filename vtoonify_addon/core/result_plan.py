"""Plan the strips that show a finished job: which files, which channel, which frames."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .sequence_files import frame_paths


@dataclass(frozen=True)
class SequenceStripPlan:
    """One image-sequence strip: a directory plus one file name per visible timeline frame."""

    name: str
    role: str
    channel: int
    frame_start: int
    directory: str
    files: tuple[str, ...]
    mute: bool = False

    @property
    def frame_end(self) -> int:
        """One past the last frame, like ``frame_final_end``."""
        return self.frame_start + len(self.files)


def _split(paths: list[str]) -> tuple[str, tuple[str, ...]]:
    dirs = {os.path.dirname(p) for p in paths}
    if len(dirs) != 1:
        raise ValueError(f"sequence files span several folders: {sorted(dirs)}")
    return dirs.pop(), tuple(os.path.basename(p) for p in paths)


def matte_strip_name(result_name: str, matte: str) -> str:
    """``plate.vtoonify`` + ``skin`` -> ``plate.vtoonify.matte_skin``: the result's name first, so the
    strips of one result sort together, then the matte's file tag (``<stem>.matte_skin.####.png``)."""
    return f"{result_name}.matte_{matte}"


def plan_result_strips(result: dict, source_numbers: list[int], frame_start: int, channel: int,
                       name: str, matte_channel: int | None = None) -> list[SequenceStripPlan]:
    """Result strip (then one muted strip per matte, in class order) for a ``job_done`` result.

    ``source_numbers[k]`` is the engine frame rendered for timeline frame ``frame_start + k``, so
    the new strip lines up frame for frame with the source strip's visible range. The mattes sit on
    the channels right above ``matte_channel`` (default: the result's), one block per result, so the
    editor selects and moves a result and its mattes as one.
    """
    pattern = result.get("pattern")
    if not pattern:
        raise ValueError("the engine's result names no output pattern")
    directory, files = _split(frame_paths(pattern, source_numbers))
    plans = [SequenceStripPlan(name, "result", channel, frame_start, directory, files)]
    first = (channel if matte_channel is None else matte_channel - 1) + 1
    for offset, (matte, matte_pattern) in enumerate(sorted((result.get("matte_patterns") or {}).items())):
        m_dir, m_files = _split(frame_paths(matte_pattern, source_numbers))
        plans.append(SequenceStripPlan(matte_strip_name(name, matte), f"matte_{matte}", first + offset,
                                       frame_start, m_dir, m_files, mute=True))
    return plans


def result_channels(occupied: list[tuple[int, int, int]], start: int, end: int, lowest: int, mattes: int,
                    result_channel: int | None = None) -> tuple[int, int]:
    """(result channel, first matte channel) for a result with ``mattes`` matte strips over [start, end).

    A new result takes the lowest block of ``1 + mattes`` free channels from ``lowest``, so its mattes
    are stacked right on it. A re-render keeps its result's channel (the editor may have moved it) and
    puts the mattes on the lowest free block right above it."""
    if result_channel is None:
        result_channel = free_channel(occupied, start, end, lowest, needed=1 + mattes)
        return result_channel, result_channel + 1
    if not mattes:
        return result_channel, result_channel + 1
    return result_channel, free_channel(occupied, start, end, result_channel + 1, needed=mattes)


def missing_files(plans: list[SequenceStripPlan]) -> list[str]:
    """Planned files that are not on disk (a strip would show them as missing media)."""
    missing = []
    for plan in plans:
        for f in sorted(set(plan.files)):
            path = os.path.join(plan.directory, f)
            if not os.path.isfile(path):
                missing.append(path)
    return missing


MAX_CHANNEL = 128
"""Blender's sequencer has channels 1..128 (in the editor and in every meta strip)."""


class NoFreeChannel(ValueError):
    """No block of free channels above a strip: ``problem`` and ``fix`` say so in an artist's words."""

    def __init__(self, needed: int, lowest: int, start: int, end: int) -> None:
        self.problem = (f"no {needed} free channel{'s' if needed > 1 else ''} above channel {lowest - 1} over "
                        f"frames {start}-{end - 1} (Blender's channels end at {MAX_CHANNEL})")
        self.fix = ("move the source strip to a lower channel, or clear (or unlock/unmute) channels above it "
                    "over these frames" + (", or turn Mattes off" if needed > 1 else ""))
        super().__init__(self.problem)


def free_channel(occupied: list[tuple[int, int, int]], start: int, end: int, lowest: int,
                 needed: int = 1, max_channel: int = MAX_CHANNEL) -> int:
    """Lowest channel >= ``lowest`` with ``needed`` free channels over [start, end); ``NoFreeChannel``
    when there is none below the top channel.

    ``occupied`` holds (channel, frame_final_start, frame_final_end) of the other strips.
    """
    def busy(ch: int) -> bool:
        return any(c == ch and s < end and start < e for c, s, e in occupied)

    for ch in range(lowest, max_channel - needed + 2):
        if not any(busy(ch + k) for k in range(needed)):
            return ch
    raise NoFreeChannel(needed, lowest, start, end)
