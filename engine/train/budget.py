"""A floor under a training step's memory, checked before the first step.

Why: a mistyped ``--batch`` (800 for 8) on CPU is not an out-of-memory error but the kernel's OOM killer:
the process vanishes without a word. Every step runs the teacher on the batch, so the teacher's largest
feature map times the batch is memory the step needs at the very least (the student's stored activations
come on top); when that floor alone exceeds everything the device has, the run can never work (exit 2,
not a retry). Anything below the floor is left to the real run (a full GPU is exit 75 there).
"""

from __future__ import annotations

import torch

from engine.errors import ConfigError
from engine.pipeline.memory import memory_figures

GIB = 2**30


def teacher_floor_bytes(channels: dict[int, int], precision: str) -> tuple[int, int]:
    """(bytes per sample, resolution) of the teacher's largest feature map."""
    res = max(channels, key=lambda r: channels[r] * r * r)
    return channels[res] * res * res * (2 if precision == "bf16" else 4), res


def check_batch_fits(batch: int, channels: dict[int, int], precision: str, device: torch.device,
                     total: int | None = None) -> None:
    """ConfigError when ``batch`` samples of the teacher's largest feature map exceed ``device``'s total
    memory (``total``: measured when None; unknown -> no check)."""
    if total is None:
        total = memory_figures(device)[1]
    per_sample, res = teacher_floor_bytes(channels, precision)
    if total is None or batch * per_sample <= total:
        return
    most = max(1, total // per_sample)
    raise ConfigError(
        f"--batch {batch} cannot fit on {device}: the teacher's {res}-px feature maps alone take "
        f"{batch * per_sample / GIB:.1f} GiB for it, and {'this machine' if device.type == 'cpu' else device} "
        f"has {total / GIB:.1f} GiB in all",
        f"use a much smaller --batch (official default 8; even those maps alone need it below {most + 1})",
    )
