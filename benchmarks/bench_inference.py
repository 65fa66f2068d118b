"""Reference VToonify vs the per-shot static network, timed alternately in one process (run by hand).

    .venv/bin/python benchmarks/bench_inference.py [--size 256|400x320] [--backbone dualstylegan|toonify]
        [--precision fp32|bf16|fp16|auto] [--repeats 3] [--device cpu|cuda] [--compile auto|on|off]
        [--autotune env|on|off]

One full-size random VToonify (official widths, seed 0) and one random input; the reference path is
``model(x, style, d_s)`` in float32 (the general model, as the engine ran before), the fast path is
``static_vtoonify(model, style, d_s, precision)``, eager as the engine runs it by default, or with
``--compile on|auto`` compiled (the compile is timed on its own and, like the warm-up calls, left
out of the medians). By default each path runs as it is shipped: the reference under glibc's heap
thresholds where its own dynamic rule settles (as the official code runs), the fast path's forward
keeping its own freed feature maps for reuse within the frame (both: ``engine.models.heap``; the
fast path's heap is given back after each call, not kept for ``heap.LINGER_S``, so the reference that
runs next is not helped by it).
``--heap reused`` runs both under the engine's CPU render setting (freed pages kept across frames),
which removes most of the reference path's page faults too: that is the same-heap comparison of the
networks alone. Each repeat times both, one after the other, so machine load hits both alike.
Prints per-path median seconds per frame, GFLOP per frame and
achieved GFLOP/s, and as its last line exactly ``speedup: <ratio>x max_abs_diff: <value> psnr_db: <value>``
(difference and PSNR of the fast output against the reference; PSNR on the clamped [0,1] image).
The line before it names the conv routes autotune chose on the fast path's first (warm-up) call
(``engine.models.autotune``; that call's time includes the tuning).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import time

import torch

from engine.models.compiled import CompiledForward, should_compile
from engine.models.heap import release_now, reused_heap
from engine.models.static import static_vtoonify
from engine.models.vtoonify import VToonify
from engine.service.catalog import COMPILE_MODES, DEFAULTS


def parse_size(text: str) -> tuple[int, int]:
    """``256`` -> (256, 256); ``400x320`` -> (400, 320) as height x width (multiples of 8)."""
    h, _, w = text.lower().partition("x")
    size = (int(h), int(w or h))
    if size[0] % 8 or size[1] % 8:
        raise SystemExit(f"--size {text}: both sides must be multiples of 8")
    return size


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, cpu: list[float] | None = None) -> tuple[torch.Tensor, float]:
    """(fn(), wall seconds); the process CPU seconds are appended to ``cpu`` when given."""
    sync(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return out, time.perf_counter() - start


def gflop(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def to_unit(y: torch.Tensor) -> torch.Tensor:
    return (y.float().clamp(-1, 1) + 1) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256", help="input HxW (output is 4x): 256 or 400x320")
    parser.add_argument("--backbone", default="dualstylegan", choices=("dualstylegan", "toonify"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "auto"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--d-s", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = default)")
    parser.add_argument("--heap", default="default", choices=("default", "reused"),
                        help="default: each path as shipped (the static network reuses its freed pages within a "
                             "frame, the reference does not); reused: both under the engine's render setting")
    parser.add_argument("--compile", default=DEFAULTS["compile"], choices=COMPILE_MODES,
                        help="torch.compile the fast path (default: the engine's default; auto: on CPU when a "
                             "C++ compiler is found, as a long job would)")
    parser.add_argument("--autotune", default="env", choices=("env", "on", "off"),
                        help="choose each conv's route by timing it on the first frame (env: VTOONIFY_AUTOTUNE, "
                             "on unless 0); off: the fixed rules")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    h, w = parse_size(args.size)
    with reused_heap() if args.heap == "reused" else contextlib.nullcontext():
        run(args, device, h, w)


def run(args, device: torch.device, h: int, w: int) -> None:
    """Build, time and compare both paths; prints the report (last line: speedup, diff, PSNR)."""
    torch.manual_seed(0)
    with torch.device(device):
        model = VToonify(backbone=args.backbone).eval()
        rgb = torch.rand(1, 3, h, w) * 2 - 1
        parsing = torch.randn(1, 19, h, w) * 2
        x = torch.cat([rgb, parsing / 16], 1)  # [1,22,h,w]
    tune = {"env": None, "on": True, "off": False}[args.autotune]
    with torch.inference_mode():
        style = model.zplus2wplus(torch.randn(1, 18, 512, device=device))  # [1,18,512] W+
        (fast, t_build) = timed(lambda: static_vtoonify(model, style, args.d_s, args.precision, tune), device)
        compile_on = should_compile(args.compile, device, 10**6)  # as a long job would
        run_fast = CompiledForward(fast, warn=lambda m: print(f"  warning: {m}")) if compile_on else fast

        def reference():
            return model(x, style, d_s=args.d_s)

        def fast_path():
            out = run_fast(x)
            if args.heap == "default":
                release_now()  # the reference runs next: under glibc's own heap, not a lingering one of ours
            return out

        print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
              f"{args.backbone} {h}x{w} -> {4 * h}x{4 * w}, fast path {fast.precision}"
              f"{' compiled' if compile_on else ' eager'}, {args.heap} heap; static build {t_build:.2f} s")
        y_ref, t = timed(reference, device)
        print(f"  warm-up reference {t:.2f} s")
        y_fast, t = timed(fast_path, device)
        if compile_on:
            state = "failed, eager" if run_fast.failure else f"{run_fast.compile_seconds:.1f} s"
            print(f"  warm-up fast      {t:.2f} s (torch.compile: {state}; once per job and input shape)")
            y_fast, t = timed(fast_path, device)
            print(f"  warm-up fast      {t:.2f} s (compiled)")
        else:
            print(f"  warm-up fast      {t:.2f} s (conv routes chosen then: see the autotune line)")
        times: dict[str, list[float]] = {"reference": [], "fast": []}
        cpu: dict[str, list[float]] = {"reference": [], "fast": []}
        for k in range(args.repeats):
            y_ref, t_ref = timed(reference, device, cpu["reference"])
            y_fast, t_fast = timed(fast_path, device, cpu["fast"])
            times["reference"].append(t_ref)
            times["fast"].append(t_fast)
            print(f"  repeat {k + 1}: reference {t_ref:.3f} s  fast {t_fast:.3f} s")
        flops = {"reference": gflop(reference), "fast": gflop(lambda: fast(x))}

    medians = {name: statistics.median(values) for name, values in times.items()}
    for name in ("reference", "fast"):
        print(f"{name:>9}: {medians[name]:.3f} s/frame (median of {args.repeats}, warm-up excluded), "
              f"{flops[name]:.1f} GFLOP/frame, {flops[name] / medians[name]:.1f} GFLOP/s")
    pairs = [r / f for r, f in zip(times["reference"], times["fast"])]
    cpu_ratio = statistics.median(cpu["reference"]) / statistics.median(cpu["fast"])
    print(f"load check: 1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, per-repeat ratios "
          f"{' '.join(f'{r:.2f}' for r in pairs)}, process CPU-time ratio {cpu_ratio:.2f}x")
    print(fast.routes_summary())
    diff = (y_fast.float() - y_ref.float()).abs().max().item()
    mse = (to_unit(y_fast) - to_unit(y_ref)).pow(2).mean().item()
    psnr = math.inf if mse == 0 else 10 * math.log10(1 / mse)
    print(f"speedup: {medians['reference'] / medians['fast']:.2f}x max_abs_diff: {diff:.3g} psnr_db: {psnr:.1f}")


if __name__ == "__main__":
    main()
