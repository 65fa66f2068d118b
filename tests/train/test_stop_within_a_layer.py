"""A training stop asked mid-iteration is honoured within a layer, not at the iteration's end."""

from __future__ import annotations

import contextlib
import io
import threading
import time

import pytest
import torch

from engine.cli import build_parser
from engine.errors import JobCancelled
from engine.train.cli import options_from_args
from engine.train.trainer import train


def _d_args(files, out) -> list[str]:
    """A tiny DualStyleGAN-backbone pretrain (as test_cli's runs), saved after every iteration."""
    paths = {
        "stylegan-path": files.dualstylegan,
        "faceparsing-path": files.faceparsing,
        "exstyle-path": files.exstyle,
        "style-encoder-path": files.encoder,
        "direction-path": files.directions,
    }
    args = [
        "train",
        "pretrain",
        "--backbone",
        "dualstylegan",
        "--out",
        str(out),
        "--name",
        "vtoonify_d_tiny",
        "--iter",
        "5",
        "--save-every",
        "1",
        "--batch",
        "1",
        "--no-progress",
    ]
    for flag, value in paths.items():
        if value is not None:
            args += [f"--{flag}", str(value)]
    return args


LAYER_S = 0.01


def test_a_stop_mid_iteration_ends_the_run_within_a_layer_and_keeps_the_last_save(tiny_teachers_128, tmp_path):
    """Every layer slowed to 10 ms makes an iteration last seconds (as a full-size one does on a CPU): the
    stop waited for the iteration to end; now it comes within a layer, nothing of the stopped iteration is
    written, and the save of iteration 1 stays whole and named as the resume point."""
    out = tmp_path / "out"
    options = options_from_args(build_parser().parse_args(_d_args(tiny_teachers_128, out)))
    cancel, layers, started = threading.Event(), [0], []

    def slow_layer(module, args):
        layers[0] += 1
        time.sleep(LAYER_S)

    def stop_during_the_second_iteration():
        while not list(out.rglob("*00001.pt")):
            time.sleep(0.01)
        started.append((time.monotonic(), layers[0]))
        time.sleep(0.3)
        cancel.set()
        started.append((time.monotonic(), layers[0]))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(slow_layer)
    stopper = threading.Thread(target=stop_during_the_second_iteration, daemon=True)
    begun = time.monotonic()
    try:
        stopper.start()
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(JobCancelled) as stopped:
            train(options, cancel=cancel)
    finally:
        handle.remove()
    ended = time.monotonic()
    first_iteration_s = started[0][0] - begun
    took = ended - started[1][0]
    assert first_iteration_s > 3, f"an iteration took {first_iteration_s:.2f} s: too fast to tell"
    print(f"stop answered after {took:.3f} s")
    assert took < 1.0, f"stop answered after {took:.2f} s (an iteration takes {first_iteration_s:.1f} s)"
    assert "during iteration 2" in str(stopped.value), stopped.value
    assert "00001.pt" in stopped.value.fix, stopped.value.fix
    saved = sorted(p.name for p in out.rglob("*.pt"))
    assert len(saved) == 1 and saved[0].endswith("00001.pt"), saved
    torch.load(next(out.rglob("*00001.pt")), weights_only=True)  # whole, readable


def test_without_a_save_of_the_iteration_before_the_stop_still_finishes_and_saves_it(tiny_teachers_128, tmp_path):
    """--save-every 0 (the default) keeps nothing on disk until the end: abandoning the iteration would
    lose the whole run, so the stop ends the iteration in progress and saves it, as before."""
    out = tmp_path / "out"
    args = _d_args(tiny_teachers_128, out)
    args[args.index("--save-every") + 1] = "0"
    options = options_from_args(build_parser().parse_args(args))
    cancel = threading.Event()

    def stop_in_the_second_iteration(module, args):
        if "iteration 2" in stopped_at:
            cancel.set()

    stopped_at: list[str] = []
    from engine.train import pretrain as pretrain_module

    real_step = pretrain_module.pretrain_step

    def step(session, i):
        stopped_at.append(f"iteration {i + 1}")
        return real_step(session, i)

    handle = torch.nn.modules.module.register_module_forward_pre_hook(stop_in_the_second_iteration)
    pretrain_module.pretrain_step = step
    try:
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(JobCancelled) as stopped:
            train(options, cancel=cancel)
    finally:
        handle.remove()
        pretrain_module.pretrain_step = real_step
    assert "after iteration 2 of 5" in str(stopped.value), stopped.value
    assert [p.name for p in out.rglob("*.pt")] == ["pretrain-00002.pt"]


def _tensors(value, prefix=""):
    """Every tensor of a checkpoint, by its path of keys (for an exact comparison of two runs)."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    if isinstance(value, dict):
        return {k: t for key, item in value.items() for k, t in _tensors(item, f"{prefix}/{key}").items()}
    return {}


def test_a_run_resumed_after_a_stop_within_a_layer_ends_as_an_uninterrupted_one(tiny_teachers_128, tmp_path):
    """The abandoned iteration leaves no trace: --resume auto from the save before it ends with exactly the
    weights of a run never stopped."""
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    cancel = threading.Event()

    def stop_in_the_second_iteration(module, args):
        if list(stopped.rglob("*00001.pt")):
            cancel.set()

    handle = torch.nn.modules.module.register_module_forward_pre_hook(stop_in_the_second_iteration)
    try:
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(JobCancelled, match="during iteration 2"):
            train(options_from_args(build_parser().parse_args(_d_args(tiny_teachers_128, stopped))), cancel=cancel)
    finally:
        handle.remove()
    with contextlib.redirect_stderr(io.StringIO()):
        args = _d_args(tiny_teachers_128, stopped) + ["--resume", "auto"]
        train(options_from_args(build_parser().parse_args(args)))
        train(options_from_args(build_parser().parse_args(_d_args(tiny_teachers_128, whole))))
    first = _tensors(torch.load(next(whole.rglob("pretrain.pt")), weights_only=True))
    second = _tensors(torch.load(next(stopped.rglob("pretrain.pt")), weights_only=True))
    assert first and list(first) == list(second)
    assert all(torch.equal(first[k], second[k]) for k in first)
