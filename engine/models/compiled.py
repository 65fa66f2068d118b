"""Optional ``torch.compile`` of the per-shot static network, with a clean fall back to eager.

Inductor with ``freezing`` treats the shot's folded weights as constants: it prepacks them once
for oneDNN, runs each conv with its bias and leaky ReLU as one oneDNN call, and fuses the
elementwise rest (instance-norm statistics, skip adds, the fusion gate) into a few C++ loops, so
the large feature maps are read fewer times. The price is a one-off compile (a minute or two on
two cores). The frozen weights are bound when a compiled graph is loaded, not baked into it, so
another shot of the same input shape reuses inductor's cached kernels (seconds, in the same
process or a later one); a network's compiled entry goes when the network does. Pixels match the
eager network within float rounding, so the setting is not part of the job key.

Modes: ``off`` (default); ``on`` (compile; warn and stay eager where that fails); ``auto`` (CPU jobs with a
C++ compiler: the first batch runs eager and is timed, and the network compiles only if the frames
left would save more time than a compile costs, so short jobs and small models never compile).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from engine.errors import ConfigError
from engine.service.catalog import COMPILE_MODES

AUTO_GAIN = 0.05
"""Fraction of the eager time per frame that compiling is assumed to save. Measured on 2 CPU cores:
0-1% on an idle machine (fp32, 256x256, with ``engine.models.heap``), 35-40% while other
processes kept the cores busy; hence ``off`` by default and a cautious ``auto``."""
AUTO_COMPILE_S = 60.0
"""What one compile costs ``auto`` is assumed to cost (seconds; 45-100 s measured on two busy cores)."""


def compile_problem(device: str | torch.device) -> str | None:
    """Why ``torch.compile`` cannot build kernels for ``device`` here, or None when it can."""
    device = torch.device(device)
    if device.type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        except Exception:  # missing compiler or an inductor without this helper: both mean "cannot"
            return "no C++ compiler found for torch.compile (install g++ or clang, or set CXX)"
        return None
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "triton is not installed (torch.compile needs it on CUDA)"
        return None
    return f"torch.compile has no kernels for device {device.type!r}"


def should_compile(mode: str, device: str | torch.device, frames: int | None) -> bool:
    """Whether a job of ``frames`` frames (None: unknown, e.g. a preview) may compile its network
    (``auto`` then still asks ``CompiledForward`` whether it pays)."""
    if mode not in COMPILE_MODES:
        raise ConfigError(f"unknown compile mode {mode!r}", f"use one of {', '.join(COMPILE_MODES)}")
    if mode == "on":
        return True  # an impossible compile warns and runs eager (CompiledForward)
    if mode == "off" or frames is None or frames < 2:
        return False
    return torch.device(device).type == "cpu" and compile_problem(device) is None


class CompiledForward:
    """``net(x)`` through ``torch.compile`` for the input shape of the first call (compiled then; the
    time is kept in ``compile_seconds``); other shapes, such as a shorter last batch, run the eager
    ``net`` rather than pay for a second compile. When compiling fails, ``warn`` gets one message
    and the eager ``net`` runs from then on, so a job never fails for want of a compiler.

    ``frames`` (``auto``): the job's frame count; the first call then runs eager, timed, and the
    network compiles on the second call only if ``AUTO_GAIN`` of the eager time over the frames left
    exceeds ``AUTO_COMPILE_S`` (``skipped`` says why not)."""

    def __init__(self, net: torch.nn.Module, warn: Callable[[str], None] | None = None,
                 backend: str | Callable = "inductor", frames: int | None = None) -> None:
        self.net = net
        self.warn = warn
        self.compile_seconds = 0.0
        self.failure: str | None = None
        self.skipped: str | None = None
        self.frames_left = frames
        self._shape: tuple | None = None
        options = {"freezing": True} if backend == "inductor" else None
        self._compiled = torch.compile(net, backend=backend, dynamic=False, options=options)
        if backend == "inductor":
            problem = compile_problem(next(net.buffers()).device)
            if problem is not None:
                self._fall_back(problem)

    def _fall_back(self, reason: str) -> None:
        self.failure = reason
        if self.warn is not None:
            self.warn(f"torch.compile is not available, the network runs uncompiled: {reason}")

    def _worth_compiling(self, x: torch.Tensor) -> torch.Tensor:
        """Run ``x`` eager, timed, and decide from it whether the frames left pay for a compile."""
        start = time.perf_counter()
        y = self.net(x)
        per_frame = (time.perf_counter() - start) / x.shape[0]
        left, self.frames_left = self.frames_left - x.shape[0], None
        if per_frame * left * AUTO_GAIN < AUTO_COMPILE_S:
            self.skipped = (f"{left} frames at {per_frame:.2f} s would save less than a compile costs "
                            f"({AUTO_COMPILE_S:.0f} s)")
        return y

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.frames_left is not None:
            return self._worth_compiling(x)
        shape = (tuple(x.shape), x.dtype, x.device)
        eager = self.failure or self.skipped or (self._shape is not None and shape != self._shape)
        if eager:
            return self.net(x)
        if shape == self._shape:
            return self._compiled(x)
        start = time.perf_counter()
        try:
            y = self._compiled(x)
        except Exception as exc:  # any compile failure: the eager network gives the same pixels
            self._fall_back(_root_cause(exc))
            return self.net(x)
        self.compile_seconds += time.perf_counter() - start
        self._shape = shape
        return y


def _root_cause(exc: BaseException) -> str:
    """``Type: first line`` of the innermost cause (dynamo wraps a backend's error in its own)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "inner_exception", None) or exc.__cause__
        if inner is None:
            break
        exc = inner
    first_line = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first_line.strip()[:300]}"
