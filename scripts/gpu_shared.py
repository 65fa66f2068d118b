"""Copy the reference goldens a GPU check needs into a folder that can travel to the device machine.

    python scripts/gpu_shared.py .gpu_shared              # golden parity: the VToonify-D/T goldens (54 MB)
    python scripts/gpu_shared.py .gpu_shared --weights-only   # backend renders, training, workers (51 MB)

A device call carries at most 64 MiB, and the four goldens are 93 MB, so one call runs one set:
``--weights-only`` keeps only the weights and configs the narrow models are built from (no stored cases,
no VToonify-T weights: its narrow model is built from the config) and writes a ``WEIGHTS_ONLY`` marker,
which tells ``scripts/gpu_check.sh`` to leave out the parity tests that need the cases. Training also needs
OpenImageIO on the device: carry its wheel in ``.whl/`` (docs/SPEED.md, "On a GPU").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

PARITY = ("vtoonify_d_golden.pt", "vtoonify_t_golden.pt")
WEIGHTS = ("vtoonify_d_golden.pt", "vtoonify_t_golden.pt", "psp_narrow_golden.pt", "bisenet_golden.pt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to fill (its reference/ is replaced)")
    parser.add_argument("--weights-only", action="store_true")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("VTOONIFY_SHARED", "../shared")))
    args = parser.parse_args()
    source = args.shared / "reference"
    names = WEIGHTS if args.weights_only else PARITY
    missing = [n for n in names if not (source / n).is_file()]
    if missing:
        print(f"gpu_shared: {', '.join(missing)} not in {source}: pass --shared or set VTOONIFY_SHARED",
              file=sys.stderr)
        return 2
    target = args.dest / "reference"
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        print(f"gpu_shared: {target} is not a folder this script made; remove it first", file=sys.stderr)
        return 2
    if target.is_dir():
        for old in (*WEIGHTS, "WEIGHTS_ONLY"):
            (target / old).unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if args.weights_only:
            import torch

            golden = dict(torch.load(source / name, weights_only=True))
            golden["cases"] = type(golden.get("cases", []))()
            if name.startswith("vtoonify_t"):
                golden.pop("state_dict", None)
            torch.save(golden, target / name)
        else:
            shutil.copyfile(source / name, target / name)
    if args.weights_only:
        (target / "WEIGHTS_ONLY").write_text("stored cases dropped: golden parity tests cannot run from here\n")
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"gpu_shared: {len(names)} goldens in {target} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
