"""Keep the whole window, title bar and status bar included, on the screen when it first opens.

The first-start size (and a size restored from another screen) is of the window's inside; the
window manager's frame comes on top of it once the window maps, and on a 1080p screen at 200 % (960x540
logical pixels) it pushed the status bar, where notices show, below the screen's edge.
"""

from __future__ import annotations

from PySide6.QtCore import QRect


def frame_on_screen(frame: QRect, inside: QRect, available: QRect) -> QRect | None:
    """The inside rectangle (position and size) that puts ``frame`` wholly in ``available``: shrunk by
    what it sticks out, moved in from the edges; None when it fits already. ``frame`` and ``inside``
    are the window's frame and inside geometry (the frame's borders are their difference)."""
    if available.isEmpty() or available.contains(frame):
        return None
    left, top = inside.left() - frame.left(), inside.top() - frame.top()
    extra_w, extra_h = frame.width() - inside.width(), frame.height() - inside.height()
    width = min(inside.width(), available.width() - extra_w)
    height = min(inside.height(), available.height() - extra_h)
    x = min(max(frame.left(), available.left()), available.left() + available.width() - (width + extra_w))
    y = min(max(frame.top(), available.top()), available.top() + available.height() - (height + extra_h))
    return QRect(x + left, y + top, width, height)
