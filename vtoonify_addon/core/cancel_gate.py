"""Which Esc presses cancel a running render (no bpy).

The render's modal handler sees every Esc in the window, including one meant for the 3D viewport, a
text editor or a stray key press; a cancel deletes the render's new folder, so minutes of work would
go. Only an Esc with the pointer over a Sequencer area (where the render was started and its progress
shows) cancels; any other Esc passes on to Blender untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

SEQUENCER = "SEQUENCE_EDITOR"

HOW_TO_CANCEL = "Esc over the Sequencer or Strip > Cancel VToonify Render cancels"
"""Told with the progress, so the artist knows which Esc counts."""


def over_sequencer(x: int, y: int, areas: Iterable[tuple[str, int, int, int, int]]) -> bool:
    """Whether window point (x, y) lies in one of ``areas`` (type, x, y, width, height: Blender's
    window coordinates, origin bottom left) of type SEQUENCE_EDITOR."""
    return any(kind == SEQUENCER and ax <= x < ax + width and ay <= y < ay + height
               for kind, ax, ay, width, height in areas)


def esc_cancels(event_type: str, value: str, playing: bool, x: int | None, y: int | None,
                areas: Iterable[tuple[str, int, int, int, int]]) -> bool:
    """An Esc press cancels the render only with no playback running (then Esc stops the playback,
    as always) and the pointer over a Sequencer area; an event without a position never cancels."""
    if event_type != "ESC" or value != "PRESS" or playing or x is None or y is None:
        return False
    return over_sequencer(x, y, areas)
