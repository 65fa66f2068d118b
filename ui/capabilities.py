"""What the style controls may offer, read from the engine's ``capabilities`` reply (plain Python).

The reply is exactly what ``engine/pipeline/capabilities.py`` builds (plus the service's
``protocol`` and ``model_cache``): ``backends`` and ``devices`` as lists of names, and ``styles``
as one entry per usable family and backbone::

    {"style": "cartoon", "backbone": "dualstylegan",
     "checkpoints": ["vtoonify_s_d.pt", "vtoonify_s026_d0.5.pt"],
     "style_ids": ["Cartoons_00001.jpg", ...]}      # exemplar names; a name's index is its style_id

A family ``engine train`` left half done (a ``pretrain.pt`` or numbered saves, no model yet) is not in
``styles``; the reply's ``models`` inventory lists it with its ``missing`` and ``training_files``, and
the panel shows it greyed with the engine's own problem and fix (``not_ready``).

If the engine's pipeline cannot load, ``pipeline_error`` says why and the lists are empty. The panel
offers only what the engine said it has, so a job never names a model that is not installed, and it
can say before queueing which backend ``auto`` will pick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.service import catalog

DEFAULT_FAMILY = catalog.DEFAULTS["style"]


@dataclass(frozen=True)
class StyleFamily:
    """One official model family (``cartoon``, ``arcane``, ...) with what is installed of it."""

    name: str
    backbones: tuple[str, ...] = ()
    style_ids: tuple[int, ...] = ()
    """Exemplar indices a job may use: every exemplar when an any-exemplar checkpoint
    (``vtoonify_s_d.pt``) is installed, else the ones the fixed checkpoints were trained for
    (``vtoonify_s026_d0.5.pt`` -> 26). Empty for VToonify-T (no exemplars)."""
    style_names: tuple[str, ...] = ()
    """Exemplar names in index order."""


@dataclass(frozen=True)
class NotReadyFamily:
    """A family ``engine train`` has started but not finished: shown greyed, with what to run."""

    name: str
    backbone: str
    problem: str
    fix: str


@dataclass(frozen=True)
class Capabilities:
    backends: tuple[str, ...] = ("auto", "classic")
    devices: tuple[str, ...] = ("auto",)
    families: tuple[StyleFamily, ...] = ()
    engine_version: str = ""
    formats: tuple[str, ...] = catalog.FORMATS
    output_spaces: tuple[str, ...] = catalog.OUTPUT_SPACES
    models_dir: str = ""
    pipeline_error: str = ""
    not_ready: tuple[NotReadyFamily, ...] = ()
    truncated: str = ""
    """What the engine left out to keep its reply under the 1 MiB line limit (empty: nothing); shown as a warning."""

    def family(self, name: str) -> StyleFamily | None:
        return next((f for f in self.families if f.name == name), None)

    @property
    def family_names(self) -> tuple[str, ...]:
        """Installed families first; the classic backend needs none, so the default is offered too."""
        return tuple(f.name for f in self.families) or (DEFAULT_FAMILY,)

    def planned_backend(self, backend: str, style: str, backbone: str = "auto") -> tuple[str, str]:
        """(backend that will render, why) for a job's choices, as the engine decides it."""
        family = self.family(style)
        usable = family is not None and (backbone == "auto" or backbone in family.backbones)
        if backend == "classic":
            return "classic", "the classic backend needs no model files"
        if usable:
            return "vtoonify", f"VToonify models for {style} are installed"
        missing = f"no VToonify {style} models{'' if backbone == 'auto' else f' ({backbone})'} are installed"
        if backend == "vtoonify":
            return "vtoonify", f"{missing}: the engine will refuse the job (install them, or pick auto/classic)"
        return "classic", f"{missing}, so auto falls back to the classic look"


def parse_capabilities(reply: dict) -> Capabilities:
    """Turn the engine's reply into the choices the panel shows."""
    reply = reply if isinstance(reply, dict) else {}
    backends = _strings(reply.get("backends"))
    backends = tuple(b for b in catalog.BACKENDS if b in backends or b in ("auto", "classic"))
    devices = ("auto", *(d for d in _strings(reply.get("devices")) if d != "auto" and d in catalog.DEVICES))
    families: dict[str, StyleFamily] = {}
    for entry in reply.get("styles") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("style"), str):
            continue
        family = _family_entry(entry)
        old = families.get(family.name)
        if old is not None:
            family = StyleFamily(
                name=family.name,
                backbones=old.backbones + tuple(b for b in family.backbones if b not in old.backbones),
                style_ids=tuple(sorted(set(old.style_ids) | set(family.style_ids))),
                style_names=max(old.style_names, family.style_names, key=len))
        families[family.name] = family
    return Capabilities(backends=backends, devices=devices, families=tuple(families.values()),
                        engine_version=str(reply.get("engine_version", "")),
                        formats=tuple(f for f in _strings(reply.get("formats")) if f in catalog.FORMATS)
                        or catalog.FORMATS,
                        output_spaces=tuple(s for s in _strings(reply.get("output_spaces"))
                                            if s in catalog.OUTPUT_SPACES) or catalog.OUTPUT_SPACES,
                        models_dir=str(reply.get("models_dir") or ""),
                        pipeline_error=str(reply.get("pipeline_error") or ""),
                        not_ready=_not_ready(reply.get("models")),
                        truncated=str(reply.get("truncated") or ""))


def _not_ready(models) -> tuple[NotReadyFamily, ...]:
    """The half-trained families of the reply's ``models`` inventory, with the problem and fix the engine
    sent (which file is missing and which ``engine train`` step writes it, as a command for the ENGINE's
    interpreter). Only an older engine that sends none gets them made here
    (``engine.models.inventory.unusable_reason``), naming this panel's interpreter."""
    from engine.errors import render_settings
    from engine.models.inventory import StyleFamily as InventoryFamily
    from engine.models.inventory import unusable_reason
    from ui.wording import control_words

    models = models if isinstance(models, dict) else {}
    found = []
    for entry in models.get("families") or ():
        if not isinstance(entry, dict) or entry.get("usable") or not _strings(entry.get("training_files")):
            continue
        try:
            family = InventoryFamily(style=str(entry["style"]), backbone=str(entry["backbone"]),
                                     folder=str(entry["folder"]), missing=_strings(entry.get("missing")),
                                     training_files=_strings(entry.get("training_files")))
        except KeyError:
            continue
        problem, fix = entry.get("problem"), entry.get("fix")
        if not (isinstance(problem, str) and problem and isinstance(fix, str) and fix):
            problem, fix = (render_settings(text, control_words)
                            for text in unusable_reason(family, str(models.get("models_dir") or "")))
        found.append(NotReadyFamily(family.style, family.backbone, problem, fix))
    return tuple(found)


def _strings(items) -> tuple[str, ...]:
    return tuple(str(i) for i in items) if isinstance(items, list) else ()


def _family_entry(entry: dict) -> StyleFamily:
    """One style+backbone entry: which exemplar indices its installed checkpoints accept."""
    backbone = str(entry.get("backbone") or "")
    names = _strings(entry.get("style_ids"))
    fixed: set[int] = set()
    free = False
    for checkpoint in _strings(entry.get("checkpoints")):
        style_id = _fixed_style_id(checkpoint)
        if style_id is None:
            free = True
        else:
            fixed.add(style_id)
    if backbone != "dualstylegan" or not names:
        style_ids: set[int] = set()
    else:
        everything = set(range(len(names)))
        style_ids = everything if free or not fixed else (fixed & everything)
    return StyleFamily(name=str(entry["style"]), backbones=(backbone,) if backbone else (),
                       style_ids=tuple(sorted(style_ids)), style_names=names)


_FIXED_STYLE = re.compile(r"_s(\d+)_")


def _fixed_style_id(file_name: str) -> int | None:
    """``vtoonify_s026_d0.5.pt`` -> 26; ``vtoonify_s_d.pt`` (any exemplar) -> None."""
    match = _FIXED_STYLE.search(file_name)
    return int(match.group(1)) if match else None
