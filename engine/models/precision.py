"""Compute precision names (``fp32 | bf16 | fp16 | auto``) and whether a device has fast bf16.

``auto`` means bf16 where the hardware multiplies bf16 natively (CPUs with AVX512-BF16 or AMX,
CUDA GPUs that report bf16 support), else fp32. Weights always load as float32; only the
per-shot static network computes in the chosen dtype (``engine.models.static``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from engine.errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = ("auto", *DTYPES)


@functools.cache
def cpu_has_fast_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU flags list ``avx512_bf16`` or ``amx_bf16`` (Linux; other systems: False)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def device_has_fast_bf16(device: str | torch.device) -> bool:
    device = torch.device(device)
    if device.type == "cuda":
        # Native bf16 tensor cores start with compute capability 8.0 (Ampere).
        return torch.cuda.is_available() and torch.cuda.get_device_properties(device).major >= 8
    return device.type == "cpu" and cpu_has_fast_bf16()


def resolve_precision(name: str, device: str | torch.device = "cpu") -> str:
    """``auto`` -> ``bf16`` or ``fp32`` for ``device``; other names are checked and returned."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}", f"use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if device_has_fast_bf16(device) else "fp32"
    return name


def precision_dtype(name: str, device: str | torch.device = "cpu") -> torch.dtype:
    return DTYPES[resolve_precision(name, device)]
