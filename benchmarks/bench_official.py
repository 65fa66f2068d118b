"""The official VToonify code vs this engine, in one process, on the same weights (run by hand).

    git clone https://github.com/williamyang1991/VToonify /path/to/VToonify   # yours, never vendored
    .venv/bin/python benchmarks/bench_official.py --official /path/to/VToonify
        [--size 256|400x320] [--backbone dualstylegan|toonify] [--precision fp32|bf16|auto]
        [--d-s 0.5] [--repeats 3] [--device cpu|cuda] [--threads N]

What a studio would check before trusting the engine with its official checkpoint:

1. Builds the official ``model.vtoonify.VToonify`` from that checkout with random weights (seed 0).
   On CPU the official code needs its own ``model/stylegan/op_cpu`` ops instead of the CUDA
   extension (its ``op_cpu/readme.md`` says to edit three imports); here the import is aliased in
   this process instead, so the checkout stays unmodified.
2. Saves its ``state_dict`` as ``{"g_ema": ...}`` (the official checkpoint layout) in a temp folder
   and loads that file with ``engine.models.load_vtoonify`` (strict keys and shapes, weights_only).
3. Times, alternately on the same input and style: the official forward as its scripts call it
   (``torch.no_grad``, ``model(x, style, d_s=d_s)``), the engine's general model (its reference path)
   and the engine's per-shot static network (what ``engine render`` runs, at ``--precision``).

Prints per-path median seconds per frame, each path's ratio against the official one, and as the
LAST line exactly ``speedup: <official / engine fast>x max_abs_diff: <value> psnr_db: <value>``
(engine fast output against the official output; PSNR on the clamped [0,1] image). No weights or
code are downloaded; nothing of the checkout is copied.
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_inference import parse_size, to_unit  # the sibling script (run from benchmarks/)

from engine.models import load_vtoonify
from engine.models.static import static_vtoonify


def official_vtoonify_class(root: Path):
    """``model.vtoonify.VToonify`` from an official checkout, with its CPU ops standing in for the
    CUDA extension (imported under the name the official modules ask for)."""
    if not (root / "model" / "vtoonify.py").is_file() or not (root / "model" / "stylegan" / "op_cpu").is_dir():
        raise SystemExit(f"--official {root}: no model/vtoonify.py and model/stylegan/op_cpu there; "
                         "pass the root of a checkout of github.com/williamyang1991/VToonify")
    sys.path.insert(0, str(root))
    sys.modules["model.stylegan.op"] = importlib.import_module("model.stylegan.op_cpu")
    return importlib.import_module("model.vtoonify").VToonify


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> tuple[torch.Tensor, float]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, type=Path, help="root of a VToonify checkout (yours)")
    parser.add_argument("--size", default="256", help="input HxW (output is 4x): 256 or 400x320")
    parser.add_argument("--backbone", default="dualstylegan", choices=("dualstylegan", "toonify"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "auto"))
    parser.add_argument("--d-s", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    h, w = parse_size(args.size)
    official_class = official_vtoonify_class(args.official.resolve())

    torch.manual_seed(0)
    official = official_class(backbone=args.backbone).to(device).eval()
    with tempfile.TemporaryDirectory(prefix="bench_official_") as tmp:
        ckpt = Path(tmp) / ("vtoonify_s_d.pt" if args.backbone == "dualstylegan" else "vtoonify_t.pt")
        torch.save({"g_ema": official.state_dict()}, ckpt)
        engine_model = load_vtoonify(ckpt, device)
    with torch.device(device):
        x = torch.cat([torch.rand(1, 3, h, w) * 2 - 1, torch.randn(1, 19, h, w) / 8], 1)  # [1,22,h,w]
        zplus = torch.randn(1, 18, 512)
    with torch.no_grad():
        style = official.zplus2wplus(zplus)  # [1,18,512] W+, the official helper
        d_s = args.d_s if args.backbone == "dualstylegan" else None
        fast, t_build = timed(lambda: static_vtoonify(engine_model, style, args.d_s, args.precision), device)
        paths = {
            "official": lambda: official(x, style, d_s=d_s),
            "engine reference": lambda: engine_model(x, style, d_s=args.d_s),
            f"engine fast ({fast.precision})": lambda: fast(x),
        }
        print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, {args.backbone} "
              f"{h}x{w} -> {4 * h}x{4 * w}; official checkpoint layout loaded by engine.models.load_vtoonify; "
              f"static build {t_build:.2f} s")
        outputs = {}
        for name, fn in paths.items():
            outputs[name], t = timed(fn, device)
            print(f"  warm-up {name:<20} {t:.2f} s")
        times: dict[str, list[float]] = {name: [] for name in paths}
        for k in range(args.repeats):
            for name, fn in paths.items():
                outputs[name], t = timed(fn, device)
                times[name].append(t)
            print(f"  repeat {k + 1}: " + "  ".join(f"{name} {times[name][-1]:.3f} s" for name in paths))

    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["official"]
    y_official = outputs["official"].float()
    for name in paths:
        diff = (outputs[name].float() - y_official).abs().max().item()
        print(f"{name:>24}: {medians[name]:.3f} s/frame (median of {args.repeats}), {base / medians[name]:.2f}x "
              f"the official, max_abs_diff {diff:.3g}")
    fast_name = list(paths)[-1]
    y_fast = outputs[fast_name].float()
    diff = (y_fast - y_official).abs().max().item()
    mse = (to_unit(y_fast) - to_unit(y_official)).pow(2).mean().item()
    psnr = math.inf if mse == 0 else 10 * math.log10(1 / mse)
    print(f"speedup: {base / medians[fast_name]:.2f}x max_abs_diff: {diff:.3g} psnr_db: {psnr:.1f}")


if __name__ == "__main__":
    main()
