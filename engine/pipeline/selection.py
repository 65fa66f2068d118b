"""Which backend a job runs on, and with which model files.

``auto`` renders with VToonify when the style's files are in the models folder and otherwise falls
back to the classic backend with one warning that names the missing files and how to get them. A file
that is present but wrong is never skipped silently: loading it raises ModelFileError.
"""

from __future__ import annotations

import dataclasses

from engine.errors import ModelFileError
from engine.pipeline.backends import ClassicBackend, VToonifyBackend


def models_dir_for(config) -> str:
    from engine.models.inventory import default_models_dir

    return str(config.models_dir or default_models_dir())


def choose_files(config):
    """(config with model-forced options applied, files dict) for the VToonify backend."""
    from engine.models.inventory import pick_checkpoint, scan_models

    inventory = scan_models(models_dir_for(config))
    backbone = config.backbone
    if backbone == "auto":
        usable = {f.backbone for f in inventory.usable_families() if f.style == config.style}
        backbone = "dualstylegan" if "dualstylegan" in usable or "toonify" not in usable else "toonify"
    custom = bool(config.exstyle_image)
    choice = pick_checkpoint(inventory, config.style, backbone, None if custom else config.style_id,
                             config.degree, config.color_transfer)
    if choice.color_transfer != config.color_transfer:
        config = dataclasses.replace(config, color_transfer=choice.color_transfer)
    files = {"vtoonify": choice.checkpoint, "encoder": choice.encoder, "faceparsing": choice.face_parser}
    if choice.exstyle_codes:
        files["exstyle"] = choice.exstyle_codes
    return config, files, choice.note


def make_backend(config, cache):
    """(backend, warnings) for a job."""
    if config.backend == "classic":
        return ClassicBackend(config), []
    try:
        config, files, note = choose_files(config)
    except ModelFileError as exc:
        if config.backend == "vtoonify":
            raise
        warning = (f"using the classic (non-neural) backend: {exc.message}. "
                   f"For VToonify: {exc.fix or 'add the official model files'}")
        return ClassicBackend(config), [warning]
    backend = VToonifyBackend(config, files, cache)
    return backend, [note] if note else []
