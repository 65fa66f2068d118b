"""Conv route choice by measurement: each distinct conv shape of a shot's static network is timed
once, on the first frame's own tensors, and the fastest route is kept.

The decoder's upsampling convs are timed the same way (oneDNN's deconvolution or two row-phase
convs, ``engine.ops.upconv``; ``StaticStage``).

Why: which route wins (oneDNN's direct conv, Winograd F(2x2,3x3) or F(4x4,3x3)) depends on the
map size, the widths, the thread count and how busy the machine is. Fixed rules tuned on a quiet
2-core AVX2 EPYC lost there once the machine was loaded (load average 14: the Winograd routes' many
small parallel passes wait on barriers, 0.94x the reference path). Timing on the real tensors picks
the direct conv on such a machine and Winograd where it pays.

The choice is made per ``(route set, conv shape, input shape, dtype, threads)`` and cached in the
process, so later frames, strips of the same size and later shots of the same input size reuse it;
after ``MAX_AGE_S`` it is timed again (the load may have changed).
The first call of a new shape runs every candidate once (a warm-up, also timed: candidates over
``PRUNE`` times the best are dropped, never the fixed rules' route), then ``ROUNDS`` interleaved timed
rounds; the lowest time wins, and it must beat the fixed rules' route by ``1 - MARGIN`` (timing noise
leaves the rule's choice, measured on a quiet machine, in place).
Runs are timed on the real tensor when it is small, else on its top rows (``SAMPLE_PIXELS``), so
tuning costs about the same at any input size. The frame is computed by the winner, so a tuned
frame's pixels are the winner's. A network spends at most about ``BUDGET_S`` seconds tuning; shapes
met after that take the fixed rules untimed.

``VTOONIFY_AUTOTUNE=0`` (or ``static_vtoonify(..., autotune=False)``) turns it off: the fixed rules
of ``engine.ops.winograd.tile_for`` then choose, the same way every run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

ENV = "VTOONIFY_AUTOTUNE"
ROUNDS = 2
"""Timed rounds after the warm-up round (interleaved, so a burst of load hits every route alike)."""
PRUNE = 2.0
"""Candidates whose warm-up took more than this times the best warm-up are not timed again, except the
fixed rules' route: a burst of load (or its one-off set-up) during its single warm-up run dropped it on a
busy machine, and the direct conv then ran 256x256 maps at 2-3x F(6x6,3x3)'s time."""
MARGIN = 0.85
"""Another route replaces the fixed rules' route only if its time is under ``MARGIN`` times that one's.
The rules are measured (``engine.ops.winograd.tile_for``): on the 256x256 and 400x320 networks no other
route beat them by more than 10% on any shape (one thread, thread CPU time), while timings taken on a
busy machine (load 6-9 on 2 cores) swapped routes that were 1.3-2x apart; at 0.95 such a machine's
tuned network ran 1.10x slower than the untuned one. A clear win still replaces the rule: the direct
conv where barrier waits of the Winograd passes grow (load 14: 0.94x), the row-phase upsampling on
AVX2 (20-25% faster)."""
BUDGET_S = 10.0
"""Tuning seconds one network may spend before the fixed rules take the shapes left. Measured on the
2-core EPYC, VToonify-D, 8 shapes: 2.4 s at 256x256 and 2.1 s at 400x320 at load average 1-2 (once
per job and input size); 5-9 s at load average 4-9."""
SAMPLE_PIXELS = 64 * 64
"""Output pixels a timed run computes at most: larger inputs are timed on their first frame's top
rows (the real widths, channels and map width; a conv's cost grows with its rows), so tuning costs
the same whatever the input size. Maps up to 64x64 are timed whole: on 16 of 64 rows F(4x4,3x3)
read its transformed weights for a quarter of the work and timed 4x slower than the direct conv,
where the whole map runs it faster (quiet 2-core EPYC)."""
DIRECT = "direct"

MAX_AGE_S = 600.0
"""A choice older than this is timed again when next asked for (the machine's load changes: a long
job or a long-lived engine service follows it, at a cost of about 1% of the frames' time)."""

_CHOICES: dict[tuple, tuple[str, float]] = {}
"""key -> (route, when it was chosen, on the tuner's clock)."""


def enabled(flag: bool | None = None) -> bool:
    """``flag`` when given, else ``VTOONIFY_AUTOTUNE`` (on unless ``0``, ``off``, ``false`` or ``no``)."""
    if flag is not None:
        return bool(flag)
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def forget() -> None:
    """Drop every cached choice (tests; a changed machine load)."""
    _CHOICES.clear()


def shape_key(x: torch.Tensor) -> tuple[int, int, int, int]:
    """``x``'s shape for a choice's key, its height rounded up to a power of two: the strips of one
    frame (first, middle, last: a few rows apart) share one timing instead of one each."""
    n, c, h, w = x.shape
    return n, c, 1 << max(0, h - 1).bit_length(), w


def sample(x: torch.Tensor, pixels: int = SAMPLE_PIXELS) -> torch.Tensor:
    """``x`` itself when it has at most ``pixels`` pixels in all, else its first frame's top rows
    (at least 8, a dilation-4 Winograd tile's height) holding about that many."""
    n, _, h, w = x.shape
    if n * h * w <= pixels:
        return x
    return x[:1, :, : max(8, pixels // w)]


class Tuner:
    """One network's tuning: the choices it made (``chosen``), the seconds it spent, its budget."""

    def __init__(self, budget_s: float = BUDGET_S, clock: Callable[[], float] = time.perf_counter) -> None:
        self.budget_s = budget_s
        self.clock = clock
        self.spent = 0.0
        self.timed = 0
        self.chosen: dict[tuple, str] = {}
        self.seconds: dict[tuple, dict[str, float]] = {}  # each timed key's best time per route
        self._window = clock()  # the budget is per MAX_AGE_S window

    def choose(self, key: tuple, x: torch.Tensor, routes: dict[str, Callable[[torch.Tensor], torch.Tensor]],
               fallback: str, prepare: Callable[[], None] | None = None,
               sample_pixels: int = SAMPLE_PIXELS) -> tuple[str, torch.Tensor | None]:
        """(route, its output for ``x`` or None) for the conv shape ``key``; ``routes`` maps a name
        to the route's function of the input (``DIRECT`` among them). Without a cached choice the
        routes are timed on ``sample(x)``; when that is all of ``x`` the winner's output is returned,
        so the frame is not computed again. ``fallback`` (the fixed rules' route) keeps its place
        unless another route beats it by ``1 - MARGIN``, and is taken untimed once the budget is
        spent; ``prepare`` runs before any timing (the routes' one-off set-up: transformed weights);
        ``sample_pixels``: the most pixels a timed run is given (``sample``)."""
        if len(routes) == 1:
            return next(iter(routes)), None
        start = self.clock()
        if start - self._window > MAX_AGE_S:
            self.spent, self._window = 0.0, start
        cached, when = _CHOICES.get(key, (None, 0.0))
        if cached in routes and (start - when <= MAX_AGE_S or self.spent >= self.budget_s):
            self.chosen[key] = cached
            return cached, None
        if self.spent >= self.budget_s:
            self.chosen[key] = fallback
            return fallback, None
        if prepare is not None:
            prepare()
        part = sample(x, sample_pixels)
        best: dict[str, float] = {}
        outputs: dict[str, torch.Tensor] = {}
        for name, run in routes.items():  # warm-up round (one-off allocations, oneDNN primitives)
            outputs[name], best[name] = self._time(name, lambda run=run: run(part))
        floor = min(best.values())
        alive = [name for name in routes if best[name] <= PRUNE * floor or name == fallback]
        for _ in range(ROUNDS if len(alive) > 1 else 0):
            for name in alive:
                outputs[name], t = self._time(name, lambda name=name: routes[name](part))
                best[name] = min(best[name], t)
        winner = min(alive, key=best.__getitem__)
        if fallback in alive and best[winner] >= MARGIN * best[fallback]:
            winner = fallback
        self.chosen[key] = winner
        self.seconds[key] = best
        _CHOICES[key] = (winner, start)
        self.spent += self.clock() - start
        self.timed += 1
        return winner, outputs[winner] if part is x else None

    def _time(self, name: str, run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
        """(output, seconds) of one run of route ``name``."""
        start = self.clock()
        out = run()
        return out, self.clock() - start

    def summary(self) -> str:
        """One line: how many shapes were timed, in how long, and the routes now in use."""
        counts: dict[str, int] = {}
        for route in self.chosen.values():
            counts[route] = counts.get(route, 0) + 1
        routes = ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"
        return (f"autotune: {len(self.chosen)} conv shapes ({self.timed} timed, {self.spent:.2f} s): {routes}")
