"""Frame count, frame numbers, fps, resolution and duration of a source (plain Python, no Qt).

Read with the engine's own readers (``engine.io.open_source``), so the numbers the panel shows and
clamps the frame range to are the numbers the engine will render; videos are indexed from their
container, which takes milliseconds, not a decode of every frame.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceInfo:
    source: str
    kind: str
    """``video``, ``sequence`` or ``image``."""
    first: int
    last: int
    count: int
    width: int
    height: int
    fps: float | None = None
    error: str | None = None
    """Why the source cannot be read (the other fields are then zero)."""
    timecode: dict | None = None
    """The source's start timecode as the engine reads it and stamps on every output frame
    (``SourceTimecode.to_dict()``: start, rate, fps, drop_frame, first_frame); None when it has none."""
    timecode_error: str | None = None
    """Why the source's timecode could not be read (the frames are still readable)."""
    frame_grid: dict | None = None
    """Variable-frame-rate video: how its pictures map onto the frame numbers (``FrameGrid.to_dict()``)."""

    @property
    def timecode_text(self) -> str:
        """``TC 01:00:59;28 @ 29.97 (DF)``, or empty."""
        if not self.timecode:
            return ""
        text = f"TC {self.timecode['start']}"
        if self.timecode.get("fps"):
            text += f" @ {float(self.timecode['fps']):g}"
        return text + (" (DF)" if self.timecode.get("drop_frame") else "")

    @property
    def duration_s(self) -> float | None:
        return self.count / self.fps if self.fps else None

    def describe(self) -> str:
        """For the panel: ``39 frames (1-39) · 392x360 · 15 fps · 2.6 s``, the start timecode below."""
        if self.error:
            return self.error
        parts = [f"{self.count} frame{'s' if self.count != 1 else ''} ({self.first}-{self.last})",
                 f"{self.width}x{self.height}"]
        if self.fps:
            parts.append(f"{self.fps:g} fps")
            parts.append(f"{self.duration_s:.1f} s")
        text = " · ".join(parts)
        if self.timecode_text:  # a line of its own: a wrapped "TC" apart from its value reads badly
            text += f"\n{self.timecode_text}"
        elif self.timecode_error:
            text += f"\ntimecode unreadable: {self.timecode_error}"
        if self.frame_grid:
            text += (f"\nvariable frame rate: {self.frame_grid.get('pictures')} pictures, numbered on the "
                     f"{float(self.frame_grid.get('fps') or 0):g} fps grid as Blender shows them")
        return text


def probe_source(source: str, start_number: int = 1) -> SourceInfo:
    """Open the source the way the engine will; an unreadable one gives ``error`` with the reason."""
    try:
        from engine.io import open_source
    except ImportError as exc:
        return SourceInfo(source, "", 0, 0, 0, 0, 0, error=f"cannot read sources here ({exc})")
    try:
        with open_source(source, start_number) as opened:
            numbers = opened.frame_numbers
            width, height = opened.size
            timecode, timecode_error = _timecode(opened)
            return SourceInfo(source, str(getattr(opened, "kind", "")), numbers[0], numbers[-1], len(numbers),
                              int(width), int(height), opened.fps, timecode=timecode,
                              timecode_error=timecode_error, frame_grid=_frame_grid(opened))
    except Exception as exc:  # any reader failure is shown on the form, never raised into Qt
        message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
        return SourceInfo(source, "", 0, 0, 0, 0, 0, error=message)


def _frame_grid(opened) -> dict | None:
    grid = getattr(opened, "frame_grid", None)
    return grid.to_dict() if grid is not None else None


def _timecode(opened) -> tuple[dict | None, str | None]:
    """(start timecode dict, None) read as the engine reads it, or (None, why) for a broken label:
    a bad timecode is told next to the facts, it does not hide them (the render refuses it later)."""
    from engine.io.timecode import source_timecode

    try:
        found = source_timecode(opened)
    except Exception as exc:  # a broken label must not hide the source's other facts
        return None, getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return (found.to_dict() if found is not None else None), None
