"""What the style controls may offer, read from the engine's ``capabilities`` reply (plain Python).

The reply lists backends, devices and the style families found in the engine's models folder. The
panel only offers what the engine said it has, so a job never names a model that is not installed.
Lists of names and lists of ``{"name": ...}`` objects are both accepted because the add-on and the
panel must survive a protocol that grows fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# RenderConfig's default family; offered when the engine lists none (the classic backend needs no model).
DEFAULT_FAMILY = "cartoon"


@dataclass(frozen=True)
class StyleFamily:
    """One official model folder (``cartoon``, ``arcane``, ...)."""

    name: str
    backbones: tuple[str, ...] = ()
    style_ids: tuple[int, ...] = ()
    """Exemplar indices a job may use: every index of ``exstyle_code.npy`` when an any-exemplar
    checkpoint (``vtoonify_s_d.pt``) is installed, else the ones checkpoints are fixed to
    (``vtoonify_s026_d0.5.pt``). Empty for VToonify-T (no exemplars)."""
    style_names: tuple[str, ...] = ()
    """Exemplar names in index order, when the engine sent them."""
    any_style_id: bool = False
    """Exemplar codes are installed but their count is unknown: any index may be asked for."""


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
    families = _families(reply["styles"]) if "styles" in reply else _families(reply.get("models"))
    return Capabilities(backends=backends, devices=devices, families=families,
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
    """Read ``styles`` (usable families: ``{"style", "backbone", "checkpoints": [file names],
    "style_ids": [exemplar names]}``) or the inventory form ``{"families": [{..., "usable",
    "checkpoints": [{"style_id": ...}], "exstyle_codes"}]}``, or ``{family: {...}}`` / a list of names.
    Entries are per style and backbone; they are merged by style. Unusable families are left out."""
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
        family = _family_entry(name, info)
        old = merged.get(name)
        if old is not None:
            family = StyleFamily(
                name=name,
                backbones=old.backbones + tuple(b for b in family.backbones if b not in old.backbones),
                style_ids=tuple(sorted(set(old.style_ids) | set(family.style_ids))),
                style_names=old.style_names if len(old.style_names) >= len(family.style_names)
                else family.style_names,
                any_style_id=old.any_style_id or family.any_style_id)
        merged[name] = family
    return tuple(merged.values())


def _family_entry(name: str, info: dict) -> StyleFamily:
    """One style+backbone entry: which exemplar indices its installed checkpoints accept."""
    backbones = _names(info.get("backbones")) or _names([info["backbone"]] if info.get("backbone") else [])
    raw_ids = info.get("style_ids") or info.get("styles") or ()
    raw_ids = range(raw_ids) if isinstance(raw_ids, int) else raw_ids
    names = tuple(str(n) for n in raw_ids if isinstance(n, str) and not n.isdigit())
    listed = {int(i) for i in raw_ids if isinstance(i, int) or (isinstance(i, str) and i.isdigit())}
    fixed: set[int] = set()
    free = False
    for checkpoint in info.get("checkpoints") or ():
        style_id = checkpoint.get("style_id") if isinstance(checkpoint, dict) else _fixed_style_id(str(checkpoint))
        if style_id is None:
            free = True
        else:
            fixed.add(int(style_id))
    if names:
        exemplar_ids = set(range(len(names)))
        style_ids = exemplar_ids if free or not fixed else fixed & exemplar_ids or fixed
    else:
        style_ids = listed | fixed
    any_id = bool(info.get("exstyle_codes")) and free and not names and not listed
    return StyleFamily(name=name, backbones=backbones, style_ids=tuple(sorted(style_ids)), style_names=names,
                       any_style_id=any_id)


_FIXED_STYLE = re.compile(r"_s(\d+)_")


def _fixed_style_id(file_name: str) -> int | None:
    """``vtoonify_s026_d0.5.pt`` -> 26; ``vtoonify_s_d.pt`` (any exemplar) -> None."""
    match = _FIXED_STYLE.search(file_name)
    return int(match.group(1)) if match else None
