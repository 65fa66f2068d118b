"""Pick the torch device for a job: CUDA when asked or available, CPU otherwise.

torch is imported only when a GPU is possible: on a CPU-only torch build the service's ``capabilities``
(the first thing Blender and the panel ask a new engine) answers without paying torch's seconds of import.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DeviceError, setting

if TYPE_CHECKING:
    import torch


def resolve_device_name(name: str = "auto") -> str:
    """:func:`resolve_device` as a name (``cpu``, ``cuda``, ``cuda:1``), with the same errors; without
    importing torch for ``cpu``, and for ``auto`` on a CPU-only torch build (a classic job needs no torch)."""
    name = str(name)
    if name == "cpu":
        return "cpu"
    head, _, index = name.partition(":")
    if name != "auto" and (head != "cuda" or (index and not index.isdigit())):
        raise DeviceError(f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N")
    if gpu_build_possible():
        return str(resolve_device(name))
    if name == "auto":
        return "cpu"
    raise _no_cuda()


def _no_cuda() -> DeviceError:
    return DeviceError("CUDA was requested but no CUDA GPU is available to torch",
                       f"use {setting('device', 'cpu')}, or install a CUDA build of torch on a GPU machine")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` / ``cuda:N`` without that GPU is a clear error."""
    import torch

    name = str(name)
    if name == "auto":
        return _exact(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    head, _, index = name.partition(":")
    if name == "cpu":
        return torch.device("cpu")
    if head != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise _no_cuda()
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise DeviceError(f"there is no GPU {name} (torch sees {count})",
                          f"use cuda:0 to cuda:{count - 1}, or cuda for the first")
    return _exact(torch.device(name))


def _exact(device: torch.device) -> torch.device:
    """``device``, with float32 kept exact on it (no TF32 on CUDA: ``engine.models.precision.exact_fp32``)."""
    from engine.models.precision import exact_fp32

    exact_fp32(device)
    return device


def available_devices() -> list[str]:
    """``cpu``, then ``cuda`` and each GPU as ``cuda:N`` when there is more than one."""
    devices = ["cpu"]
    if not gpu_build_possible():
        return devices
    import torch

    if torch.cuda.is_available():
        devices.append("cuda")
        count = torch.cuda.device_count()
        if count > 1:
            devices += [f"cuda:{i}" for i in range(count)]
    return devices


def gpu_build_possible() -> bool:
    """False only when the installed torch is certainly a CPU-only build, known without importing it.

    ``torch/version.py`` is generated at build time (``cuda = None`` and ``hip = None`` on CPU builds,
    where ``torch.cuda.is_available()`` is always False); it is read as text, not imported, because
    importing any torch module imports all of torch. Anything unexpected (torch already imported, the
    file missing or unparsable, a new layout) answers True, so the caller asks torch itself.
    """
    if "torch" in sys.modules:
        return True
    try:
        spec = importlib.util.find_spec("torch")
        folder = next(iter(spec.submodule_search_locations or ()))
        tree = ast.parse(Path(folder, "version.py").read_text(encoding="utf-8"))
    except Exception:  # no spec, no folder, unreadable or not Python: let torch answer
        return True
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            values[node.target.id] = node.value
    return not all(isinstance(values.get(key), ast.Constant) and values[key].value is None
                   for key in ("cuda", "hip"))
