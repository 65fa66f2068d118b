"""The Style menu's entries: the families the connected engine has installed (its ``capabilities``
reply, so a studio's own ``engine train`` styles appear), else the official catalog. No bpy.

A value the artist chose earlier stays listed, marked ``(not installed)``, instead of being swapped
for another style behind their back. A family ``engine train`` left half done is listed marked
``(not ready)`` with the engine's problem and fix as its tooltip (Blender cannot grey one enum item);
Stylize refuses it with the same words (``availability.stylize_blocker``).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKBONE_LABELS = {"dualstylegan": "VToonify-D", "toonify": "VToonify-T"}
NOT_INSTALLED = " (not installed)"
NOT_READY = " (not ready)"


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


@dataclass(frozen=True)
class NotReadyStyle:
    """A family ``engine train`` started but did not finish: why it cannot render and what to run."""

    name: str
    problem: str
    fix: str

    def reason(self) -> str:
        """The engine's problem and fix, for whoever trains the studio's styles (the panel's note)."""
        return f"{self.problem}; fix: {self.fix}"

    ARTIST_REASON = "its training has not written a model to render yet"
    """What an artist reads in a tooltip: the engine's fix is shell commands and docs for a TD."""


def not_ready_styles(caps: dict | None) -> tuple[NotReadyStyle, ...]:
    """The half-trained families of a capabilities reply's ``models`` inventory (unusable, with training
    files), with the problem and fix the engine wrote; one per family, none that also renders."""
    models = (caps or {}).get("models")
    usable = {s.name for s in installed_styles(caps)}
    found: dict[str, NotReadyStyle] = {}
    for entry in (models.get("families") or ()) if isinstance(models, dict) else ():
        if not isinstance(entry, dict) or entry.get("usable") or not entry.get("training_files"):
            continue
        name = str(entry.get("style") or "")
        if not name or name in usable or name in found:
            continue
        problem, fix = entry.get("problem"), entry.get("fix")
        if not (isinstance(problem, str) and problem and isinstance(fix, str) and fix):  # an older engine
            problem = f"style '{name}' has no finished model yet (its training stopped part way)"
            fix = "finish it with `engine train` (docs/TRAINING.md), then press Refresh"
        found[name] = NotReadyStyle(name, problem, fix)
    return tuple(found.values())


def style_items(installed: tuple[InstalledStyle, ...] | None, official: tuple[str, ...],
                current: str = "", not_ready: tuple[NotReadyStyle, ...] = ()) -> list[tuple[str, str, str]]:
    """EnumProperty items ``(identifier, label, description)`` for the Style menu.

    ``installed`` None (no engine connected): the official families. Else the engine's installed
    families (``installed_styles(reply)``); when none is installed, the official ones marked not
    installed (the panel then shows how to fetch the chosen one). ``current`` is always listed,
    marked when it is not installed. ``not_ready`` families follow, marked, their tooltip the engine's
    problem and fix."""
    if installed is None:
        items = [(name, name.title(), f"{name} style family (official)") for name in official]
    else:
        items = [(s.name, s.name.title(), s.description()) for s in installed]
        if not items:
            items = [(name, name.title() + NOT_INSTALLED, f"{name}: not installed on the engine")
                     for name in official]
    listed = {item[0] for item in items}
    items += [(s.name, s.name.title() + NOT_READY,
               f"Not ready: {s.ARTIST_REASON} (the VToonify panel says what is left to run)")
              for s in not_ready if s.name not in listed]
    if current and current not in (item[0] for item in items):
        items.append((current, current + NOT_INSTALLED,
                      f"{current}: chosen earlier, but the engine has no model files for it"))
    return items
