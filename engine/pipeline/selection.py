"""Which backend a job runs on, and with which model files.

``auto`` renders with VToonify when the style's files are in the models folder and otherwise falls
back to the classic backend with one warning that names the missing files and how to get them. A style
that exists nowhere (neither an official family nor a ``vtoonify_[dt]_<style>`` folder) is a typo, not
missing files: it is refused (ConfigError) naming the closest style names, never rendered as the classic
look. A file that is present but wrong is never skipped silently: loading it raises ModelFileError.
"""

from __future__ import annotations

import dataclasses
import difflib

from engine.errors import ConfigError, InputError, ModelFileError, marked, setting
from engine.pipeline.classic_backend import ClassicBackend


def models_dir_for(config) -> str:
    from engine.models.inventory import default_models_dir

    return str(config.models_dir or default_models_dir())


def choose_files(config):
    """(config with model-forced options applied, files dict) for the VToonify backend."""
    from engine.models.inventory import pick_checkpoint, scan_models

    inventory = scan_models(models_dir_for(config))
    backbone = config.backbone if config.backbone != "auto" else auto_backbone(inventory, config.style)
    custom = bool(config.exstyle_image)
    choice = pick_checkpoint(inventory, config.style, backbone, None if custom else config.style_id,
                             config.degree, config.color_transfer)
    note = choice.note
    if choice.backbone == "toonify":
        asked = toonify_ignored(config)
        note = (f"the {config.style} VToonify-T model ignores {', '.join(asked)}: only VToonify-D models take an "
                "exemplar, a degree or colour transfer" if asked else "")
    if choice.color_transfer != config.color_transfer:
        config = dataclasses.replace(config, color_transfer=choice.color_transfer)
    files = {"vtoonify": choice.checkpoint, "encoder": choice.encoder, "faceparsing": choice.face_parser}
    if choice.exstyle_codes:
        files["exstyle"] = choice.exstyle_codes
    return config, files, note


def auto_backbone(inventory, style: str) -> str:
    """``--backbone auto``: VToonify-D when it can render, else VToonify-T when it can; when neither can,
    the one the folder has (so a VToonify-T family still missing its model is named as such, not as an
    unknown VToonify-D style); VToonify-D when the style is not there at all."""
    for wanted in (inventory.usable_families(), inventory.families):
        found = {f.backbone for f in wanted if f.style == style}
        if found:
            return "dualstylegan" if "dualstylegan" in found else "toonify"
    return "dualstylegan"


def toonify_ignored(config) -> list[str]:
    """The VToonify-D controls this job asks for, as ``setting`` marks (a VToonify-T model has none of them).

    Only values other than the defaults count: the panel, the add-on and the farm templates always send
    style id, degree and colour transfer, so a default value is no request and earns no warning.
    """
    from engine.service.catalog import DEFAULTS

    asked = []
    if int(config.style_id) != DEFAULTS["style_id"] and not config.exstyle_image:
        asked.append(setting("style_id", int(config.style_id)))
    if float(config.degree) != DEFAULTS["degree"]:
        asked.append(setting("degree", float(config.degree)))
    if config.color_transfer:
        asked.append(setting("color_transfer", True))
    if config.exstyle_image:
        asked.append(setting("exstyle_image"))
    return asked


def check_exemplar_image(config) -> None:
    """InputError when ``--exstyle-image`` names no readable file: checked with the source, before anything
    is written, because the classic backend never reads it (a mistyped path would pass unnoticed and then
    split the folder's job key) and VToonify would find out only once the shot is analysed."""
    if not config.exstyle_image:
        return
    from engine.io.files import require_regular_file

    try:
        require_regular_file(config.exstyle_image)
    except InputError as exc:
        raise InputError(f"exemplar image ({setting('exstyle_image')}): {marked(exc)[0]}",
                         f"give a portrait photo to take the style from, or leave {setting('exstyle_image')} out") \
            from None


def check_style_id(config, codes_path: str, count: int) -> None:
    """ConfigError when ``config.style_id`` is past the ``count`` exemplar codes of ``codes_path``."""
    from pathlib import Path

    if 0 <= config.style_id < count:
        return
    asked = config.style_id
    raise ConfigError(f"style id {asked} ({setting('style_id', asked)}) is out of range for {config.style}: "
                      f"{Path(codes_path).name} holds {count} exemplar codes, ids 0 to {count - 1}",
                      f"pass {setting('style_id')} from 0 to {count - 1}, or an exemplar photo with "
                      f"{setting('exstyle_image')}")


def check_style_up_front(config) -> None:
    """A mistyped style (``auto``), and the style id against the exemplar codes file the job would use, checked
    without torch: the service refuses them in the reply to ``submit``, as the CLI refuses them before
    decoding, instead of only once the job starts. Anything else the models folder decides (files missing,
    damaged) is left to the job."""
    if config.backend == "classic":
        return
    from engine.models.checkpoints import read_exstyles

    try:
        _, files, _ = choose_files(config)
    except ModelFileError:
        if config.backend == "auto":
            check_style_known(config)  # a typo, not missing files: refused as make_backend refuses it
        return
    if config.exstyle_image or "exstyle" not in files:
        return  # an exemplar photo replaces the codes; VToonify-T has none (a style id it ignores is a warning)
    try:
        count = len(read_exstyles(files["exstyle"]))
    except (ModelFileError, OSError, ValueError):
        return
    check_style_id(config, files["exstyle"], count)


def check_style_known(config) -> None:
    """ConfigError when ``config.style`` is neither an official family nor a family folder in the models
    folder: ``auto`` falls back to the classic look only for a style whose files are missing, never for a
    mistyped name (the artist would get a look nobody asked for, labelled only by a warning)."""
    from engine.models.inventory import models_command, scan_models
    from engine.service.catalog import STYLE_FAMILIES

    folder = models_dir_for(config)
    known = sorted(set(STYLE_FAMILIES) | {f.style for f in scan_models(folder).families})
    if config.style in known:
        return
    by_lower = {name.lower(): name for name in known}
    close = [by_lower[n] for n in difflib.get_close_matches(config.style.lower(), list(by_lower), n=3, cutoff=0.6)]
    guess = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ConfigError(
        f"unknown style {config.style!r}: not an official style and no vtoonify_d_{config.style} or "
        f"vtoonify_t_{config.style} folder in {folder}{guess}",
        f"pass {setting('style', close[0] if close else 'cartoon')} (known styles: {', '.join(known)}); "
        f"`{models_command('list', models_dir=folder)}` lists them with what each still needs")


def make_backend(config, cache, cancel=None):
    """(backend, warnings) for a job; ``cancel`` ends a wait for its model loads (``ModelCache.get``)."""
    if config.backend == "classic":
        return ClassicBackend(config), []
    try:
        config, files, note = choose_files(config)
    except ModelFileError as exc:
        if config.backend == "vtoonify":
            raise
        check_style_known(config)
        problem, fix = marked(exc)  # its settings stay marked: each reader names them in their words
        warning = (f"using the classic (non-neural) backend: {problem}. "
                   f"For VToonify: {fix or 'add the official model files'}")
        return ClassicBackend(config), [warning]
    from engine.pipeline.backends import VToonifyBackend  # torch: imported only for a VToonify job

    backend = VToonifyBackend(config, files, cache, cancel)
    return backend, [note] if note else []
