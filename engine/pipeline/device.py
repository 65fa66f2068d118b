"""Pick the torch device for a job: CUDA when asked or available, CPU otherwise."""

from __future__ import annotations

import torch

from engine.errors import DeviceError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` / ``cuda:N`` without that GPU is a clear error."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    head, _, index = name.partition(":")
    if name == "cpu":
        return torch.device("cpu")
    if head != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is available to torch",
                          "use --device cpu, or install a CUDA build of torch on a GPU machine")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise DeviceError(f"there is no GPU {name} (torch sees {count})",
                          f"use cuda:0 to cuda:{count - 1}, or cuda for the first")
    return torch.device(name)


def available_devices() -> list[str]:
    """``cpu``, then ``cuda`` and each GPU as ``cuda:N`` when there is more than one."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
        count = torch.cuda.device_count()
        if count > 1:
            devices += [f"cuda:{i}" for i in range(count)]
    return devices
