"""Text in Blender's panels wrapped where Blender would cut it: a label too wide for its line is cut in
the middle ("Add a movie or...Image/Sequence"), so long text is drawn as several labels, each measured
with Blender's UI font at the UI scale (the sidebar and the add-on preferences share this)."""

from __future__ import annotations

import blf

from .core.engine_status import wrap

_SIDES_PX = 50
"""A sidebar line's text room is the region's width less this (at UI scale 1): the panel's margins, a
box's, and a label's inset (estimated; a few px to spare)."""
_ICON_PX = 20
"""One UI unit: what a label's icon (or the blank beside a wrapped line) takes."""


class Room:
    """How much text fits a line of a panel (the sidebar, the preferences): its width and the UI scale
    (2 on a hi-DPI screen), text measured with Blender's UI font, so a line is wrapped where Blender
    would cut it."""

    def __init__(self, context, default_width: int = 300) -> None:
        prefs = context.preferences
        self.scale = prefs.system.ui_scale or prefs.view.ui_scale or 1.0  # 0 in background mode
        region = getattr(context, "region", None)
        self.width = region.width if region is not None else default_width * self.scale
        self.points = prefs.ui_styles[0].widget.points if len(prefs.ui_styles) else 11.0

    def _measure(self, text: str) -> float:
        blf.size(0, self.points * self.scale)
        return blf.dimensions(0, text)[0]

    def wrap(self, text: str, icon: bool) -> list[str]:
        room = self.width - (_SIDES_PX + (_ICON_PX if icon else 0)) * self.scale
        try:
            return wrap(text, room, measure=self._measure)
        except (RuntimeError, ValueError):  # no font to measure with: about 7 px a character
            return wrap(text, room, char_px=7.0 * self.scale)


def lines(layout, text: str, width: Room, icon: str = "NONE") -> None:
    """``text`` as wrapped labels (a label alone cuts long text in the middle)."""
    for index, line in enumerate(width.wrap(text, icon != "NONE")):
        layout.label(text=line, icon=icon if index == 0 else "BLANK1" if icon != "NONE" else "NONE")
