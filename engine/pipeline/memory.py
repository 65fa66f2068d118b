"""Memory preflight for ``--faces all``: every face holds its own static network for the whole job, so
a shot of many faces is refused before those networks are built when the device cannot hold them,
instead of failing after minutes of analysis with an allocator error, or swapping a worker to death.

The need is measured, not guessed: face01's network is built first (a one-face job builds it anyway) and
its bytes, at the job's precision, stand for every face's. Two outcomes (docs/FACES.md):

* more than the machine has at all (CPU: RAM, or the cgroup limit; CUDA: the GPU's memory): the job can
  never run here -> ``ConfigError`` (exit 2), naming the ``--max-faces`` that fits and ``--precision bf16``;
* more than is free right now (other jobs hold memory) -> ``DeviceOutOfMemoryError`` (exit 75), so a farm
  retries the task later or on another worker.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import ConfigError, DeviceOutOfMemoryError, setting
from engine.pipeline.outputs import BYTES_PER_OUTPUT_PIXEL

WORKING_BYTES_PER_CROP_PIXEL = 4096
WORKING_BASE_BYTES = 128 * 2**20
"""Peak memory of one frame through a static network, over the network itself: measured on a CPU
(VToonify-D/-T, random weights, ``tiled`` with ``STRIP_PIXELS``; VmHWM over VmRSS) at 3.7-5.2 KB per
crop pixel for crops of 256-768 px at fp32, less at bf16; these figures lie above every measurement."""
GIB = 2**30
MIB = 2**20


def memory_figures(device) -> tuple[int | None, int | None]:
    """(available, total) bytes of ``device``'s memory; None where unknown. The one place that reads them
    (tests fake it). CUDA: ``torch.cuda.mem_get_info``; CPU: /proc/meminfo, capped by a cgroup v2 limit."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        import torch

        free, total = torch.cuda.mem_get_info(device)
        return int(free), int(total)
    return cpu_memory_figures()


def cpu_memory_figures(meminfo: str = "/proc/meminfo", cgroup: str = "/sys/fs/cgroup") -> tuple[int | None, int | None]:
    """(MemAvailable, MemTotal) in bytes, each lowered to what a cgroup v2 ``memory.max`` leaves."""
    fields = {}
    try:
        for line in Path(meminfo).read_text(encoding="ascii", errors="replace").splitlines():
            name, _, rest = line.partition(":")
            if name in ("MemAvailable", "MemTotal") and rest.split():
                fields[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    available, total = fields.get("MemAvailable"), fields.get("MemTotal")
    try:
        limit_text = (Path(cgroup) / "memory.max").read_text(encoding="ascii").strip()
        if limit_text != "max":
            limit = int(limit_text)
            used = int((Path(cgroup) / "memory.current").read_text(encoding="ascii").strip())
            total = min(total, limit) if total is not None else limit
            left = max(0, limit - used)
            available = min(available, left) if available is not None else left
    except (OSError, ValueError):
        pass
    return available, total


def working_bytes(device, crop_pixels: int, output_pixels: int) -> int:
    """Memory one frame needs besides the networks: activations on the device, plus (CPU jobs, same
    memory) the placed and written output frame."""
    need = WORKING_BASE_BYTES + crop_pixels * WORKING_BYTES_PER_CROP_PIXEL
    if not getattr(device, "type", str(device)).startswith("cuda"):
        need += output_pixels * BYTES_PER_OUTPUT_PIXEL
    return need


def check_face_networks(device, faces: int, per_face: int, built: int, working: int, resident: int,
                        precision: str) -> None:
    """Refuse ``faces`` networks of ``per_face`` bytes (``built`` of them already exist) plus ``working``
    bytes per frame when ``device`` cannot hold them; ``resident``: the loaded models, counted in total."""
    available, total = memory_figures(device)
    where = "GPU" if getattr(device, "type", str(device)).startswith("cuda") else "CPU"
    still = (faces - built) * per_face + working                       # what is yet to be allocated
    whole = resident + faces * per_face + working                      # what the job holds at its peak
    what = (f"{faces} faces need about {_size(whole)} of {where} memory ({_size(per_face)} network per face "
            f"at {precision}, {_size(working)} per frame, {_size(resident)} models)")
    bf16 = [f"{setting('precision', 'bf16')} to halve the network memory"] if precision == "fp32" else []
    if total is not None and whole > total:
        fit = (total - resident - working) // per_face if per_face else 0
        fewer = [f"{setting('max_faces', int(fit))} to keep the faces seen most often"] if fit >= 1 else []
        raise ConfigError(f"{what}, more than the {_size(total)} this machine has",
                          "use " + ", or ".join([*fewer, *bf16, "a machine with more memory"]))
    if available is not None and still > available:
        raise DeviceOutOfMemoryError(
            f"{what}; {_size(still)} more is needed but only {_size(available)} is free now",
            "retry when other jobs have freed memory, or on another worker; or use "
            + ", or ".join([f"a lower {setting('max_faces')}", *bf16]))


def _size(nbytes: int) -> str:
    return f"{nbytes / GIB:.1f} GiB" if nbytes >= GIB else f"{nbytes / MIB:.0f} MiB"
