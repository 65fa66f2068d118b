"""Frames per second of the static network by batch size on one device (run by hand; scripts/gpu_check.sh).

    .venv/bin/python benchmarks/bench_batches.py [--size 256|400x320] [--precision bf16] [--device cuda]
        [--batches 1,2,4,8,16] [--repeats 5] [--strips engine|whole|cpu]

One full-size random VToonify-D (official widths, seed 0), its static network at ``--precision``, timed
on random input of each batch size (warm-up excluded, CUDA synchronised around each call). ``--strips``:
``engine`` runs the frame as a render does (``tiled`` with the device's strip budget,
``engine.models.static.strip_pixels_for``), ``whole`` with no strips, ``cpu`` with the CPU's strips (to
see what GPU_STRIP_PIXELS saves). Prints one line per batch and, last, exactly
``best: batch <n> <fps> frames/s (batch 1: <fps> frames/s)``. A batch the device cannot hold is
reported as out of memory and ends the sweep.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from engine.models.static import STRIP_PIXELS, static_vtoonify, strip_pixels_for, tiled
from engine.models.vtoonify import VToonify


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16", "auto"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strips", default="engine", choices=("engine", "whole", "cpu"))
    args = parser.parse_args()
    device = torch.device(args.device)
    h, w = parse_size(args.size)
    torch.manual_seed(0)
    with torch.device(device):
        model = VToonify(backbone="dualstylegan").eval()
    budget = {"engine": strip_pixels_for(device), "whole": 1 << 62, "cpu": STRIP_PIXELS}[args.strips]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rates: dict[int, float] = {}
    with torch.inference_mode():
        style = model.zplus2wplus(torch.randn(1, 18, 512, device=device))
        net = static_vtoonify(model, style, 0.5, args.precision)
        print(
            f"torch {torch.__version__}, device {device}, {h}x{w} -> {4 * h}x{4 * w}, {net.precision}, "
            f"strips: {args.strips} ({budget if budget < 1 << 62 else 'none'} px)"
        )
        for batch in (int(b) for b in args.batches.split(",")):
            x = torch.cat(
                [torch.rand(batch, 3, h, w, device=device) * 2 - 1, torch.randn(batch, 19, h, w, device=device) / 8], 1
            )
            try:
                tiled(net, x, strip_pixels=budget)  # warm-up (cuDNN picks its algorithms)
                times = []
                for _ in range(args.repeats):
                    sync()
                    start = time.perf_counter()
                    tiled(net, x, strip_pixels=budget)
                    sync()
                    times.append(time.perf_counter() - start)
            except torch.OutOfMemoryError:
                print(f"  batch {batch:>3}: out of memory")
                break
            per_frame = statistics.median(times) / batch
            rates[batch] = 1 / per_frame
            peak = f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else ""
            print(
                f"  batch {batch:>3}: {per_frame * 1000:.2f} ms/frame, {rates[batch]:.1f} frames/s "
                f"(median of {args.repeats}){peak}"
            )
            del x
    best = max(rates, key=rates.get)
    print(f"best: batch {best} {rates[best]:.1f} frames/s (batch 1: {rates.get(1, 0.0):.1f} frames/s)")


if __name__ == "__main__":
    main()
