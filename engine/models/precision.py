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


def exact_fp32(device: str | torch.device) -> None:
    """On CUDA, float32 convs and matmuls in float32, not TF32 (process-wide; a no-op elsewhere).

    cuDNN runs float32 convs in TF32 unless told not to (``torch.backends.cudnn.allow_tf32`` defaults to
    True): 10-bit mantissas, so ``--precision fp32`` output would differ from the reference numbers by
    ~1e-3 and the pSp style code and parsing maps would drift with it. fp32 is the reference precision,
    and bf16 is the fast one, so the engine keeps float32 exact on every device it resolves to CUDA
    (``engine.pipeline.device.resolve_device``) and in every static network built on one."""
    if torch.device(device).type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def resolve_precision(name: str, device: str | torch.device = "cpu") -> str:
    """``auto`` -> ``bf16`` or ``fp32`` for ``device``; other names are checked and returned."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}", f"use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return "bf16" if device_has_fast_bf16(device) else "fp32"
    return name


def precision_dtype(name: str, device: str | torch.device = "cpu") -> torch.dtype:
    return DTYPES[resolve_precision(name, device)]
