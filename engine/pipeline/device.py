"""Pick the torch device for a job: CUDA when asked or available, CPU otherwise."""

from __future__ import annotations

import torch

from engine.errors import DeviceError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is available to torch",
                          "use --device cpu, or install a CUDA build of torch on a GPU machine")
    if name not in ("cpu", "cuda"):
        raise DeviceError(f"unknown device {name!r}", "use auto, cpu or cuda")
    return torch.device(name)


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices
