"""One training iteration in fp32 vs ``--precision bf16``, timed alternately in one process (run by hand).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_train.py [--stage full|pretrain] [--size 256|128]
        [--batch 2] [--repeats 3] [--device cpu|cuda] [--no-perceptual]

Teachers: the random narrow teacher files of the training tests (``tests/train/conftest.py``: widths
20-48, 48-wide styles), written to a temp folder, plus random LPIPS-VGG weights (full VGG16 widths). The
full stage is timed at an iteration of the second half of a 100-iteration run, so every term is on
(flicker, colour jitter, LPIPS, mask, D step). Both sessions run the same iteration index, i.e. the same
random choices; each repeat times both, alternating which goes first, so machine load hits both alike.
Prints the median (and fastest) seconds per iteration of each, the weighted losses of both, and as its
last line exactly ``speedup: <median ratio>x fastest: <ratio of the fastest runs>x rec_fp32: <value>
rec_bf16: <value>`` (on a busy shared machine the medians swing; the fastest runs are the steadier
ratio). Narrow teachers understate what bf16 gains on the official 512-wide ones: most of their
convolutions are too thin to be compute-bound.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from engine.train.options import TrainOptions
from engine.train.pretrain import prepare_pretrain, pretrain_step
from engine.train.trainer import full_step, prepare_full, train

REPO = Path(__file__).resolve().parents[1]
ITERS = 100


def _writers():
    """``tests/train/conftest.py`` as a module (its writers make the official file layouts)."""
    spec = importlib.util.spec_from_file_location("train_conftest", REPO / "tests" / "train" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("full", "pretrain"), default="full")
    parser.add_argument("--size", type=int, default=256, choices=(128, 256), help="teacher resolution")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-perceptual", action="store_true", help="full stage without the LPIPS term")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # the folder this script made


def run(args: argparse.Namespace, root: Path) -> None:
    writers = _writers()
    files = writers.write_teacher_files(root / "teachers", size=args.size)
    lpips = None if args.no_perceptual else writers.write_perceptual_weights(root / "lpips")
    base = TrainOptions(
        stage="pretrain", backbone="dualstylegan", stylegan_path=str(files.dualstylegan),
        faceparsing_path=str(files.faceparsing), exstyle_path=str(files.exstyle),
        style_encoder_path=str(files.encoder), direction_path=str(files.directions), out=str(root / "models"),
        name="vtoonify_d_bench", iter=ITERS, batch=args.batch, device=args.device, progress=False,
        perceptual_weights=lpips, perc_loss=0.0 if lpips is None else 0.01, overwrite=True,
    )
    with contextlib.redirect_stderr(io.StringIO()):
        if args.stage == "full":  # the full stage starts from a pre-trained encoder: one step is enough
            train(replace(base, iter=1))
        sessions = {}
        for precision in ("fp32", "bf16"):
            options = replace(base, stage=args.stage, precision=precision)
            prepare = prepare_full if args.stage == "full" else prepare_pretrain
            sessions[precision] = prepare(options)
    step = full_step if args.stage == "full" else pretrain_step
    index = ITERS - 2  # second half: flicker ramp and colour jitter on
    device = sessions["fp32"].device
    times: dict[str, list[float]] = {p: [] for p in sessions}
    losses: dict[str, dict] = {}
    for repeat in range(args.repeats + 1):  # the first round warms up (allocator, oneDNN kernels)
        order = list(sessions.items())
        for precision, session in order if repeat % 2 else order[::-1]:  # alternate who goes first
            _sync(device)
            start = time.perf_counter()
            values = step(session, index)
            _sync(device)
            if repeat:
                times[precision].append(time.perf_counter() - start)
            losses[precision] = {k: round(float(v), 5) for k, v in values.items()}
    median = {p: statistics.median(t) for p, t in times.items()}
    print(f"{args.stage} stage, {args.size}-px narrow random teachers, batch {args.batch}, {device}, "
          f"threads {torch.get_num_threads()}" + (f", LPIPS {'off' if lpips is None else 'on'}"
                                                    if args.stage == "full" else ""))
    for precision in sessions:
        print(f"  {precision}: {median[precision]:.3f} s/it  (runs {', '.join(f'{t:.3f}' for t in times[precision])})"
              f"  losses {losses[precision]}")
    rec = "emse" if args.stage == "pretrain" else "rec"
    fastest = {p: min(t) for p, t in times.items()}
    print(f"  fastest runs: fp32 {fastest['fp32']:.3f} s, bf16 {fastest['bf16']:.3f} s")
    print(f"speedup: {median['fp32'] / median['bf16']:.2f}x fastest: {fastest['fp32'] / fastest['bf16']:.2f}x "
          f"rec_fp32: {losses['fp32'][rec]} rec_bf16: {losses['bf16'][rec]}")


if __name__ == "__main__":
    main()
