"""``vtoonify models list | verify | fetch``: what is in the models folder, and getting the rest."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from engine.errors import ModelFileError
from engine.models.inventory import models_command


def _print_json(args, data) -> None:
    """The command's JSON answer on stdout; noted, so a failure after it adds no second document."""
    print(json.dumps(data, indent=1))
    args.json_printed = True


def _models_dir(args) -> str:
    from engine.models.inventory import default_models_dir

    return str(args.models_dir or default_models_dir())


def cmd_list(args) -> int:
    from engine.errors import render_settings
    from engine.models.inventory import fetch_command, scan_models, unusable_reason

    inventory = scan_models(_models_dir(args))
    if args.json:
        _print_json(args, inventory.to_dict())
        return 0
    folder = Path(inventory.models_dir)
    exists = ("" if folder.is_dir() else " (does not exist yet)" if not folder.exists()
              else " (a file, not a folder: pass --models with the folder that holds the model files)")
    print(f"models folder: {inventory.models_dir}{exists}")
    if inventory.shared_missing:
        print(f"  missing shared files: {', '.join(inventory.shared_missing)}")
    for family in inventory.families:
        own = [m for m in family.missing if m not in inventory.shared_missing]
        state = "ready" if family.usable else f"missing {', '.join(own)}" if own else "missing the shared files"
        names = ", ".join(c.relpath.split("/")[-1] for c in family.checkpoints)
        print(f"  {family.style:<13} {family.backbone:<13} {state}" + (f"  [{names}]" if names else ""))
        if own and not family.official:  # fetch cannot help: say what can (finish training, copy files)
            print(f"  {'':<27} -> {render_settings(unusable_reason(family, inventory.models_dir)[1])}")
    usable = inventory.usable_families()
    print(f"{len(usable)} style families ready; the classic backend needs no files.")
    if inventory.shared_missing or any(f.official and not f.usable for f in inventory.families):
        command = fetch_command("NAME", "dualstylegan", inventory.models_dir)
        print(f"Get official styles with `{command} [--backbone toonify|both]` (--style repeatable; without it: "
              "cartoon, VToonify-D; the shared files come with any style).")
    return 0


UNREADABLE = "unreadable (permission denied)"
_NOT_A_FILE = ("a folder, not a file", "not a regular file (a FIFO, socket or device)")
"""verify's words for what `models fetch` refuses to replace (engine.models.fetch.not_a_file_status)."""


def _present_model_files(models_dir: str) -> list[str]:
    """Relative paths of every model file the inventory sees in the folder."""
    from engine.models.inventory import SHARED_FILES, scan_models

    inventory = scan_models(models_dir)
    files = [name for name in SHARED_FILES if name not in inventory.shared_missing]
    for family in inventory.families:
        files += [c.relpath for c in family.checkpoints]
        if family.exstyle_codes:
            files.append(family.exstyle_codes)
    return files


def _load_check(models_dir: str, relpath: str) -> str:
    """'loads' or the ModelFileError text, for a file whose checksum was never recorded."""
    from engine import models
    from engine.models.fetch import link_problem
    from engine.models.inventory import ENCODER_FILE, EXSTYLE_FILE, FACE_PARSER_FILE

    name = relpath.rsplit("/", 1)[-1]
    problem = link_problem(f"{models_dir}/{relpath}")
    if problem:
        return problem
    if not os.access(f"{models_dir}/{relpath}", os.R_OK):  # not damaged: fetching it again would not help
        return UNREADABLE
    loader = {ENCODER_FILE: models.load_style_encoder, FACE_PARSER_FILE: models.load_face_parser,
              EXSTYLE_FILE: models.load_exstyles}.get(name, models.load_vtoonify)
    try:
        loader(f"{models_dir}/{relpath}")
    except ModelFileError as exc:
        return exc.message
    return "loads"


def _not_files(models_dir: str) -> list[str]:
    """Model-looking names in the folder and its family folders where no file stands: links that lead
    nowhere, folders, FIFOs (the inventory, which asks ``is_file``, counts them as missing and lists none)."""
    from engine.models.inventory import what_is_in_the_way

    root = Path(models_dir)
    folders = [root, *sorted(p for p in root.glob("vtoonify_*") if p.is_dir())]
    return [p.relative_to(root).as_posix() for folder in folders for p in sorted(folder.iterdir())
            if p.suffix in (".pt", ".pth", ".npy") and what_is_in_the_way(p)]


def cmd_verify(args) -> int:
    """Checksums recorded by ``fetch``; files copied in by hand are checked by loading them."""
    from engine.models.fetch import VerifyResult, check_models_folder, link_problem, not_a_file_status, verify_models

    folder = str(check_models_folder(_models_dir(args)))  # missing / a file / a loop: an error, exit 2
    results = verify_models(folder)
    recorded = {r.relpath for r in results}
    for relpath in _present_model_files(folder):
        if relpath not in recorded:
            outcome = _load_check(folder, relpath)
            results.append(VerifyResult(relpath, "ok" if outcome == "loads" else outcome if outcome == UNREADABLE
                                        else f"corrupt: {outcome}"))
    for relpath in _not_files(folder):
        if relpath not in {r.relpath for r in results}:
            path = Path(folder, relpath)
            results.append(VerifyResult(relpath, link_problem(path) or not_a_file_status(path)))
    if not results:  # a wrong --models (a typo that exists, the share's parent) or an unfilled share
        raise ModelFileError(f"no model files in {folder}: nothing to verify",
                             f"pass --models with the folder that holds the model files, or fill this one with "
                             f"`{models_command('fetch', models_dir=folder)}` (the classic backend needs none)")
    if args.json:
        _print_json(args, [r.to_dict() for r in results])
    for r in results if not args.json else ():
        print(f"  {r.status:<9} {r.relpath}")
    bad = [r for r in results if r.status != "ok"]
    if bad and all(r.status.startswith("unreadable") for r in bad):
        raise ModelFileError(f"{len(bad)} model file(s) cannot be read: " + ", ".join(r.relpath for r in bad[:5]),
                             f"let the engine's user read them (e.g. `chmod -R a+rX {folder}`)")
    if bad:
        in_the_way = [str(Path(folder, r.relpath)) for r in bad if r.status in _NOT_A_FILE]
        first = (f"move {', '.join(in_the_way)} away (`models fetch` replaces no folder or FIFO), then "
                 if in_the_way else "")
        raise ModelFileError(f"{len(bad)} model file(s) are missing or damaged: "
                             + ", ".join(f"{r.relpath} ({r.status})" for r in bad[:5]),
                             f"{first}run `{models_command('fetch', models_dir=folder)}` (with the --style and "
                             "--backbone of those files) to download them again")
    return 0


class _FetchBar:
    """Download progress on stderr: one redrawn line per file on a terminal; elsewhere (a farm log, a
    pipeline's pipe) a line at most every 5 s and one when a file is done, never a bar redrawn with '\r'
    per 64 KiB read (thousands of updates for the 1.2 GB encoder)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.current: str | None = None
        self.done = 0
        self.ended = True
        self.last = 0.0

    def __call__(self, relpath: str, done: int, total: int | None) -> None:
        from engine.progress import write_out

        if relpath != self.current:
            self.finish()
            self.current, self.ended, self.last = relpath, False, time.monotonic()
        self.done = done
        pct = f"{100 * done / total:5.1f}%" if total else "  ?  "
        text = f"{relpath}: {pct} {done / 1e6:8.1f} MB"
        if self.tty:
            write_out(self.stream, "\r" + text)
        elif total and done >= total:
            self.finish()
        elif time.monotonic() - self.last >= 5.0:
            self.last = time.monotonic()
            write_out(self.stream, text + "\n")

    def finish(self) -> None:
        """End the current file's line (on a terminal) or say it is done (elsewhere)."""
        from engine.progress import write_out

        if self.current is None or self.ended:
            return
        self.ended = True
        write_out(self.stream, "\n" if self.tty else f"{self.current}: {self.done / 1e6:.1f} MB done\n")


WEIGHTS_LICENCE_NOTICE = (
    "note: the official VToonify weights are the authors' work under the S-Lab License 1.0, which allows "
    "non-commercial use only; for commercial use contact the VToonify authors "
    "(https://github.com/williamyang1991/VToonify). This engine's own code is MIT-licensed.")


def cmd_fetch(args) -> int:
    from engine.models.fetch import HF_BASE_URL, fetch_models
    from engine.models.inventory import official_files

    backbones = ("dualstylegan", "toonify") if args.backbone == "both" else (args.backbone,)
    files: list[str] = []
    for style in args.style or ["cartoon"]:
        _check_official(style, backbones)
        for backbone in backbones:
            files += [f for f in official_files(style, backbone) if f not in files]
    sys.stderr.write(WEIGHTS_LICENCE_NOTICE + "\n")
    bar = _FetchBar()
    try:
        results = fetch_models(_models_dir(args), files, base_url=args.base_url or HF_BASE_URL, progress=bar,
                               replace_modified=getattr(args, "replace_modified", False))
    finally:
        bar.finish()  # an error then starts on a line of its own
    if args.json:
        _print_json(args, [r.to_dict() for r in results])
        return 0
    for r in results:
        state = "already there" if r.skipped else ("verified" if r.verified else "recorded (no published checksum)")
        print(f"  {r.relpath}: {state} sha256={r.sha256[:12]}"
              + (f" (the different file that was there, not downloaded by fetch, is kept as {r.kept_as})"
                 if r.kept_as else ""))
    return 0


def _check_official(style: str, backbones: tuple[str, ...]) -> None:
    """ModelFileError for a style the authors did not publish with these backbones (without it a typo, or
    a style trained here, would download the shared files only and look fetched)."""
    from engine.models.inventory import OFFICIAL_FILES

    if any((style, backbone) in OFFICIAL_FILES for backbone in backbones):
        return
    published = sorted({s for s, b in OFFICIAL_FILES if b in backbones})
    other = [b for s, b in OFFICIAL_FILES if s == style]
    fix = (f"use --backbone {other[0]}" if other else
           f"choose from {', '.join(published)}; a style trained here comes from `engine train` (docs/TRAINING.md)")
    raise ModelFileError(f"no official style {style!r} with {' or '.join(backbones)} to fetch", fix)


def run(args) -> int:
    """Run the action; with --json a failure is also said on stdout, as ``{"error": {code, message, fix}}``
    (a pipeline parsing stdout got nothing before). The stderr line and exit code come from the caller."""
    try:
        return {"list": cmd_list, "verify": cmd_verify, "fetch": cmd_fetch}[args.action](args)
    except Exception as exc:
        if args.json and not getattr(args, "json_printed", False):
            _print_json_error(exc)
        raise


def _print_json_error(exc: Exception) -> None:
    from engine.errors import EngineError, InternalError, cli_words
    from engine.failures import as_transient

    error = as_transient(exc) or exc
    error = error if isinstance(error, EngineError) else InternalError.of(exc)
    with contextlib.suppress(OSError):  # a reader gone: the caller's handling of the first error stands
        print(json.dumps({"error": error.to_dict(cli_words)}, indent=1), flush=True)
