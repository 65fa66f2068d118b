"""The panel's keyboard shortcuts: one table, installed on the window and named in the tooltips of
the buttons they press, so a keyboard user finds them where the mouse user looks."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

SHORTCUTS = {
    "open_source": ("Ctrl+O", "pick the source"),
    "focus_source": ("Ctrl+L", "type a source path"),
    "open_output": ("Ctrl+Shift+O", "pick the output folder"),
    "toggle_queue": ("Ctrl+Return", "start or pause the queue"),
    "preview": ("Ctrl+P", "render a preview of the current frame"),
    "cancel": ("Ctrl+.", "stop the selected jobs (none selected: the running ones)"),
    "quit": ("Ctrl+Q", "close the panel"),
}
"""Action name -> (key, what it does). Enter (in the form: add the shot to the queue; in the queue: the
row's details) and Delete (remove the selected rows) are handled by the form and the queue table."""
SAME_ACTION = {"toggle_queue": ("Ctrl+Enter",)}
"""More keys for an action: the keypad's Enter is another key than Return (Ctrl+keypad Enter added the
shot instead of starting the queue)."""


def native_text(action: str) -> str:
    """The key as the platform writes it (``Ctrl+O``; ``⌘O`` on macOS)."""
    return QKeySequence(SHORTCUTS[action][0]).toString(QKeySequence.SequenceFormat.NativeText)


def install(window: QWidget, handlers: dict) -> dict[str, QShortcut]:
    """One window-wide QShortcut per action in ``handlers`` (action name -> callable)."""
    made = {}
    for action, handler in handlers.items():
        shortcut = QShortcut(QKeySequence(SHORTCUTS[action][0]), window)
        shortcut.activated.connect(handler)
        made[action] = shortcut
        for key in SAME_ACTION.get(action, ()):
            QShortcut(QKeySequence(key), window).activated.connect(handler)
    return made


def with_key(tooltip: str, action: str) -> str:
    """``tooltip`` followed by its shortcut: ``Pick the source (Ctrl+O)``."""
    return f"{tooltip} ({native_text(action)})"
