"""Every control says what it does, and a greyed-out one also says why it is greyed out.

An artist who meets a disabled button has no other way to learn what would enable it; so the panel
never calls ``setEnabled(False)`` on a control that matters without a reason. ``describe`` sets what a
control does (kept while its state changes), ``set_available`` enables it or greys it with the reason;
the tooltip and the status tip then read ``<what it does>`` + ``Unavailable: <why>``.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

UNAVAILABLE = "Unavailable: "
_BASE = "vtoonify_tip"
_WHY = "vtoonify_why_not"
_VALUE = "vtoonify_value"


def describe(widget: QWidget, tip: str) -> None:
    """What ``widget`` does; a reason set by ``set_available`` is kept under it."""
    widget.setProperty(_BASE, tip)
    _show(widget)


def base_tip(widget: QWidget) -> str:
    """What ``widget`` does, without the reason it is greyed out (its tooltip if never described)."""
    value = widget.property(_BASE)
    return str(value) if value is not None else widget.toolTip()


def set_available(widget: QWidget, why_not: str = "") -> None:
    """Enable ``widget`` when ``why_not`` is empty; else grey it out and say why in its tips."""
    if widget.property(_BASE) is None:
        widget.setProperty(_BASE, widget.toolTip())
    widget.setEnabled(not why_not)
    widget.setProperty(_WHY, why_not)
    _show(widget)


def why_not(widget: QWidget) -> str:
    """The reason ``widget`` is greyed out ('' when it is not, or was greyed without one)."""
    value = widget.property(_WHY)
    return str(value) if value and not widget.isEnabled() else ""


def show_value(widget: QWidget, value: str) -> None:
    """Put ``value`` (a path too long for its field) whole on the tooltip's first line."""
    widget.setProperty(_VALUE, value)
    if widget.property(_BASE) is None:
        widget.setProperty(_BASE, widget.toolTip())
    _show(widget)


def _show(widget: QWidget) -> None:
    base, why, value = base_tip(widget), str(widget.property(_WHY) or ""), str(widget.property(_VALUE) or "")
    text = "\n".join(t for t in (value, base, f"{UNAVAILABLE}{why}" if why else "") if t)
    widget.setToolTip(text)
    widget.setStatusTip(text.replace("\n", " — "))
