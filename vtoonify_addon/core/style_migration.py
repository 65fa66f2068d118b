"""Carry the Style choice of .blend files saved before ``style_name`` existed (no bpy).

Those files stored the choice in the old static Style enum: an ID property ``style`` holding the
item's index into the official families, in catalog order (the default, ``cartoon``, was not stored
at all). The Style menu is now built from the engine's reply and keeps its value in ``style_name``,
so without this an old file silently came back as ``cartoon``.
"""

from __future__ import annotations

LEGACY_KEY = "style"
"""The ID property the old Style enum wrote."""


def legacy_style(stored, official: tuple[str, ...]) -> str | None:
    """The family an old file's stored ``style`` value means, or None when there is nothing usable.

    ``stored`` is the raw ID property: the old enum's item index (an int), or, defensively, a name."""
    if isinstance(stored, bool):
        return None
    if isinstance(stored, int):
        return official[stored] if 0 <= stored < len(official) else None
    if isinstance(stored, str) and stored in official:
        return stored
    return None


def style_to_keep(style_name_set: bool, style_name: str, stored, official: tuple[str, ...]) -> str:
    """The style the scene means: ``style_name`` once it was written, else the old file's choice,
    else ``style_name``'s default."""
    if style_name_set:
        return style_name
    return legacy_style(stored, official) or style_name
