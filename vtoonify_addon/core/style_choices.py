"""The Style menu's entries: the families the connected engine has installed (its ``capabilities``
reply, so a studio's own ``engine train`` styles appear), else the official catalog. No bpy.

A value the artist chose earlier stays listed, marked ``(not installed)``, instead of being swapped
for another style behind their back.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKBONE_LABELS = {"dualstylegan": "VToonify-D", "toonify": "VToonify-T"}
NOT_INSTALLED = " (not installed)"


@dataclass(frozen=True)
class InstalledStyle:
    """One installed family: its backbones and, for VToonify-D, how many exemplar style ids it has."""

    name: str
    backbones: tuple[str, ...] = ()
    style_ids: int | None = None
    """Number of exemplars in the D family's ``exstyle_code.npy``; None when the reply gives none."""

    def description(self) -> str:
        parts = []
        for backbone in self.backbones:
            label = BACKBONE_LABELS.get(backbone, backbone)
            if backbone == "dualstylegan" and self.style_ids:
                label += f" ({self.style_ids} exemplar style ids)"
            parts.append(label)
        return f"{self.name}: installed, {', '.join(parts) or 'unknown backbone'}"


def installed_styles(caps: dict | None) -> tuple[InstalledStyle, ...]:
    """The ``styles`` of a capabilities reply, one entry per family in reply order."""
    found: dict[str, dict] = {}
    for entry in (caps or {}).get("styles") or ():
        name = str(entry.get("style") or "")
        if not name:
            continue
        slot = found.setdefault(name, {"backbones": [], "style_ids": None})
        backbone = str(entry.get("backbone") or "")
        if backbone and backbone not in slot["backbones"]:
            slot["backbones"].append(backbone)
        if isinstance(entry.get("style_ids"), list):
            slot["style_ids"] = len(entry["style_ids"])
    return tuple(InstalledStyle(name, tuple(v["backbones"]), v["style_ids"]) for name, v in found.items())


def style_items(installed: tuple[InstalledStyle, ...] | None, official: tuple[str, ...],
                current: str = "") -> list[tuple[str, str, str]]:
    """EnumProperty items ``(identifier, label, description)`` for the Style menu.

    ``installed`` None (no engine connected): the official families. Else the engine's installed
    families (``installed_styles(reply)``); when none is installed, the official ones marked not
    installed (the panel then shows how to fetch the chosen one). ``current`` is always listed,
    marked when it is not installed."""
    if installed is None:
        items = [(name, name.title(), f"{name} style family (official)") for name in official]
    else:
        items = [(s.name, s.name.title(), s.description()) for s in installed]
        if not items:
            items = [(name, name.title() + NOT_INSTALLED, f"{name}: not installed on the engine")
                     for name in official]
    if current and current not in (item[0] for item in items):
        items.append((current, current + NOT_INSTALLED,
                      f"{current}: chosen earlier, but the engine has no model files for it"))
    return items
