"""CPU timings of the reference vs fast StyleGAN ops and of a VToonify-D forward (run by hand).

    .venv/bin/python benchmarks/bench_vtoonify.py [--full] [--threads N]

``--full`` also times the official-size VToonify-D (random weights, 256x256 input -> 1024x1024),
once with the reference ops and once with the fast ones. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from engine.models.stylegan import make_fir_kernel, set_ops_impl
from engine.models.vtoonify import VToonify
from engine.ops import fused_leaky_relu, upfirdn2d


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_ops(repeats: int) -> None:
    up_kernel = make_fir_kernel((1, 3, 3, 1), 4.0)  # [4,4]
    cases = [
        ("blur pad(1,1)   [1,32,513,513]", torch.randn(1, 32, 513, 513), {"pad": (1, 1)}),
        ("up2 pad(2,1)    [1,3,512,512]", torch.randn(1, 3, 512, 512), {"up": 2, "pad": (2, 1)}),
        ("down2 pad(1,1)  [1,64,256,256]", torch.randn(1, 64, 256, 256), {"down": 2, "pad": (1, 1)}),
    ]
    with torch.no_grad():
        for name, x, kwargs in cases:
            ref = best_of(lambda x=x, kw=kwargs: upfirdn2d(x, up_kernel, impl="ref", **kw), repeats)
            fast = best_of(lambda x=x, kw=kwargs: upfirdn2d(x, up_kernel, impl="fast", **kw), repeats)
            print(f"upfirdn2d {name}: ref {ref * 1e3:8.1f} ms  fast {fast * 1e3:8.1f} ms  x{ref / fast:.2f}")
        x = torch.randn(1, 32, 1024, 1024)
        bias = torch.randn(32)
        ref = best_of(lambda: fused_leaky_relu(x, bias, impl="ref"), repeats)
        fast = best_of(lambda: fused_leaky_relu(x, bias, impl="fast"), repeats)
        print(
            f"fused_leaky_relu [1,32,1024,1024]: ref {ref * 1e3:8.1f} ms  fast {fast * 1e3:8.1f} ms"
            f"  x{ref / fast:.2f}"
        )


def bench_model(repeats: int) -> None:
    torch.manual_seed(0)
    model = VToonify(backbone="dualstylegan").eval()
    x = torch.randn(1, 22, 256, 256).clamp(-1, 1)
    style = torch.randn(1, 18, 512)
    with torch.no_grad():
        for impl in ("ref", "fast"):
            set_ops_impl(model, impl)
            seconds = best_of(lambda: model(x, style, d_s=0.5), repeats)
            print(f"VToonify-D full size 256->1024, ops={impl}: {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the official-size VToonify-D")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_ops(args.repeats)
    if args.full:
        bench_model(max(1, args.repeats // 2))


if __name__ == "__main__":
    main()
