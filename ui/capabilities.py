"""What the style controls may offer, read from the engine's ``capabilities`` reply (plain Python).

The reply lists backends, devices and the style families found in the engine's models folder. The
panel only offers what the engine said it has, so a job never names a model that is not installed.
Lists of names and lists of ``{"name": ...}`` objects are both accepted because the add-on and the
panel must survive a protocol that grows fields.
"""

from __future__ import annotations

from dataclasses import dataclass

# RenderConfig's default family; offered when the engine lists none (the classic backend needs no model).
DEFAULT_FAMILY = "cartoon"


@dataclass(frozen=True)
class StyleFamily:
    """One official model folder (``cartoon``, ``arcane``, ...)."""

    name: str
    backbones: tuple[str, ...] = ()
    style_ids: tuple[int, ...] = ()
    """Exemplar indices the installed checkpoints are fixed to (``vtoonify_s026_d0.5.pt``)."""
    any_style_id: bool = False
    """An ``exstyle_code.npy`` is installed, so any exemplar index works (VToonify-D)."""


@dataclass(frozen=True)
class Capabilities:
    backends: tuple[str, ...] = ("auto",)
    devices: tuple[str, ...] = ("auto",)
    families: tuple[StyleFamily, ...] = ()
    engine_version: str = ""

    def family(self, name: str) -> StyleFamily | None:
        return next((f for f in self.families if f.name == name), None)

    @property
    def family_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.families) or (DEFAULT_FAMILY,)


def parse_capabilities(reply: dict) -> Capabilities:
    """Turn the engine's reply into the choices the panel shows."""
    reply = reply if isinstance(reply, dict) else {}
    backends = _names(reply.get("backends")) or ("auto",)
    if "auto" not in backends:
        backends = ("auto", *backends)
    devices = _names(reply.get("devices")) or ("auto",)
    if "auto" not in devices:
        devices = ("auto", *devices)
    return Capabilities(backends=backends, devices=devices, families=_families(reply.get("models")),
                        engine_version=str(reply.get("engine_version", "")))


def _names(items) -> tuple[str, ...]:
    """``["cpu", "cuda"]``, ``[{"name": "cpu", ...}]`` or ``{"cpu": {...}}`` -> names in order."""
    if isinstance(items, dict):
        return tuple(str(k) for k in items)
    out: list[str] = []
    for item in items or ():
        name = item.get("name") if isinstance(item, dict) else item
        if name is not None and str(name) not in out:
            if isinstance(item, dict) and item.get("available") is False:
                continue
            out.append(str(name))
    return tuple(out)


def _families(models) -> tuple[StyleFamily, ...]:
    """Accept the inventory form ``{"families": [{"style", "backbone", "usable", "checkpoints",
    "exstyle_codes"}, ...]}`` (one entry per style and backbone, merged here by style), a
    ``{family: {...}}`` mapping, or a list of names. Families the engine marks unusable are left out."""
    if isinstance(models, dict) and "families" in models:
        models = models["families"]
    entries: list[tuple[str, dict]] = []
    if isinstance(models, dict):
        entries = [(str(k), v if isinstance(v, dict) else {}) for k, v in models.items()]
    elif isinstance(models, (list, tuple)):
        for item in models:
            if isinstance(item, str):
                entries.append((item, {}))
            elif isinstance(item, dict) and (item.get("style") or item.get("name") or item.get("family")):
                entries.append((str(item.get("style") or item.get("name") or item.get("family")), item))
    merged: dict[str, StyleFamily] = {}
    for name, info in entries:
        if info.get("usable") is False:
            continue
        backbones = _names(info.get("backbones")) or _names([info["backbone"]] if info.get("backbone") else [])
        ids = info.get("style_ids") or info.get("styles") or ()
        ids = range(ids) if isinstance(ids, int) else ids
        fixed = [c.get("style_id") for c in info.get("checkpoints") or () if isinstance(c, dict)]
        style_ids = {int(i) for i in (*ids, *fixed) if isinstance(i, int) or str(i).isdigit()}
        old = merged.get(name, StyleFamily(name=name))
        merged[name] = StyleFamily(
            name=name,
            backbones=old.backbones + tuple(b for b in backbones if b not in old.backbones),
            style_ids=tuple(sorted(set(old.style_ids) | style_ids)),
            any_style_id=old.any_style_id or bool(info.get("exstyle_codes")))
    return tuple(merged.values())
