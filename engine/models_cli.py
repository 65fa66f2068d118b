"""``vtoonify models list | verify | fetch``: what is in the models folder, and getting the rest."""

from __future__ import annotations

import json
import sys

from engine.errors import ModelFileError


def _models_dir(args) -> str:
    from engine.models.inventory import default_models_dir

    return str(args.models_dir or default_models_dir())


def cmd_list(args) -> int:
    from engine.models.inventory import scan_models

    inventory = scan_models(_models_dir(args))
    if args.json:
        print(json.dumps(inventory.to_dict(), indent=1))
        return 0
    print(f"models folder: {inventory.models_dir}")
    if inventory.shared_missing:
        print(f"  missing shared files: {', '.join(inventory.shared_missing)}")
    for family in inventory.families:
        state = "ready" if family.usable else "missing " + ", ".join(
            m for m in family.missing if m not in inventory.shared_missing) or "shared files"
        names = ", ".join(c.relpath.split("/")[-1] for c in family.checkpoints)
        print(f"  {family.style:<13} {family.backbone:<13} {state}" + (f"  [{names}]" if names else ""))
    usable = inventory.usable_families()
    print(f"{len(usable)} style families ready; the classic backend needs no files.")
    return 0


def cmd_verify(args) -> int:
    from engine.models.fetch import verify_models

    results = verify_models(_models_dir(args))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    elif not results:
        print("no SHA256SUMS in the models folder: fetch files with `vtoonify models fetch` to record checksums")
    for r in results if not args.json else ():
        print(f"  {r.status:<9} {r.relpath}")
    bad = [r for r in results if r.status != "ok"]
    if bad:
        raise ModelFileError(f"{len(bad)} model file(s) are missing or damaged: "
                             + ", ".join(r.relpath for r in bad[:5]),
                             "run `vtoonify models fetch` to download them again")
    return 0


class _FetchBar:
    def __init__(self) -> None:
        self.current = None

    def __call__(self, relpath: str, done: int, total: int | None) -> None:
        if relpath != self.current:
            if self.current is not None:
                sys.stderr.write("\n")
            self.current = relpath
        pct = f"{100 * done / total:5.1f}%" if total else "  ?  "
        sys.stderr.write(f"\r{relpath}: {pct} {done / 1e6:8.1f} MB")
        sys.stderr.flush()


def cmd_fetch(args) -> int:
    from engine.models.fetch import HF_BASE_URL, fetch_models
    from engine.models.inventory import official_files

    backbones = ("dualstylegan", "toonify") if args.backbone == "both" else (args.backbone,)
    files: list[str] = []
    for style in args.style or ["cartoon"]:
        for backbone in backbones:
            files += [f for f in official_files(style, backbone) if f not in files]
    bar = _FetchBar()
    results = fetch_models(_models_dir(args), files, base_url=args.base_url or HF_BASE_URL, progress=bar)
    sys.stderr.write("\n")
    for r in results:
        state = "already there" if r.skipped else ("verified" if r.verified else "recorded (no published checksum)")
        print(f"  {r.relpath}: {state} sha256={r.sha256[:12]}")
    return 0


def run(args) -> int:
    return {"list": cmd_list, "verify": cmd_verify, "fetch": cmd_fetch}[args.action](args)
