"""What this engine can do right now: backends, devices, and the styles in its models folder."""

from __future__ import annotations

from engine import __version__


def capabilities(models_dir: str | None = None) -> dict:
    """JSON-ready description sent by the service's ``capabilities`` request.

    ``styles`` lists each usable family with its backbone and, for VToonify-D, the exemplar names
    (their index is the ``style_id``); the classic backend is always available. ``models`` is the whole
    inventory; each family that cannot render also carries ``problem`` and ``fix``, made here because the
    fix names commands as this engine's interpreter runs them (a client's would name its own).
    """
    from engine.errors import field_words, named_settings, render_settings
    from engine.models.inventory import default_models_dir, scan_models, unusable_reason
    from engine.pipeline.device import available_devices

    folder = str(models_dir or default_models_dir())
    inventory = scan_models(folder)
    styles = []
    for family in inventory.usable_families():
        entry = {"style": family.style, "backbone": family.backbone,
                 "checkpoints": [c.relpath.rsplit("/", 1)[-1] for c in family.checkpoints]}
        if family.exstyle_codes:
            entry["style_ids"] = _style_names(f"{inventory.models_dir}/{family.exstyle_codes}")
        styles.append(entry)
    backends = ["auto", "classic"] + (["vtoonify"] if styles else [])
    models = inventory.to_dict()
    for family, entry in zip(inventory.families, models["families"], strict=True):
        if not family.usable:  # said here: its fix names THIS engine's command (engine.commands), not a client's
            said = unusable_reason(family, folder)  # the settings it names, as the protocol's fields
            entry["problem"], entry["fix"] = (render_settings(text, field_words) for text in said)
            entry.update({"settings": named_settings(*said)} if named_settings(*said) else {})
    return {
        "engine_version": __version__,
        "backends": backends,
        "devices": available_devices(),
        "models_dir": folder,
        "styles": styles,
        "models": models,
        "formats": ["exr", "png"],
        "output_spaces": ["plate", "crop"],
    }


def _style_names(path: str) -> list[str]:
    from engine.errors import ModelFileError
    from engine.models.checkpoints import read_exstyles  # the names, checked as a job checks them; no torch

    try:
        return list(read_exstyles(path))
    except ModelFileError:
        return []
