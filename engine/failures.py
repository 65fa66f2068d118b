"""Which exit code a failure gets, so a render farm can tell "retry it" from "fix the job".

0 done, 1 a bug, 2 the job itself is wrong (never retry), 75 a resource ran short (retry, maybe on
another worker), 130 cancelled (docs/FARM.md). The backend and the frame writer already raise
``DeviceOutOfMemoryError`` / ``DiskFullError``; ``as_transient`` is the backstop for the same
conditions surfacing raw from anywhere else in a job (torch, OpenImageIO, PyAV, the OS).
"""

from __future__ import annotations

import errno
import sys

from engine.errors import (
    EXIT_CANCELLED,
    EXIT_INTERNAL_ERROR,
    EXIT_RETRY,
    EXIT_USER_ERROR,
    DeviceOutOfMemoryError,
    DiskFullError,
    EngineError,
    JobCancelled,
    TransientError,
    setting,
)

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
OOM_TEXTS = ("out of memory", "can't allocate memory", "cudnn_status_not_alloc", "cublas_status_alloc_failed")
"""Lower-case fragments of the RuntimeErrors torch raises when a device (or the CPU allocator) cannot allocate."""
BUSY_TEXTS = ("busy or unavailable",)
"""CUDA's "all CUDA-capable devices are busy or unavailable" (exclusive-process GPUs)."""


def _chain(exc: BaseException):
    """The exception and its causes/contexts, outermost first (cycles cut)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_oom(exc: BaseException) -> bool:
    # only when torch is loaded already: a torch error needs torch, and importing it here would cost
    # seconds on every error exit of a process that never used torch (engine serve, a bad --frames)
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if type(exc).__module__.startswith("cv2") and "insufficient memory" in str(exc).lower():
        return True  # cv2.error "(-4:Insufficient memory) Failed to allocate ...": a resize of a huge plate
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in OOM_TEXTS)


def as_transient(exc: BaseException) -> TransientError | None:
    """The retryable error ``exc`` amounts to, or None. A TransientError is returned as it is."""
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, JobCancelled):
        return None
    for link in _chain(exc):
        if isinstance(link, TransientError):
            return link
        if _is_oom(link):
            return DeviceOutOfMemoryError(
                f"the compute device ran out of memory ({_first_line(link)})",
                f"retry the task (the farm may requeue it), use a smaller {setting('batch')}, or a worker with more "
                "memory")
        if isinstance(link, MemoryError):
            return DeviceOutOfMemoryError("the machine ran out of memory",
                                          "retry the task on a worker with more free memory")
        if isinstance(link, OSError) and link.errno in DISK_FULL_ERRNOS:
            where = f" writing {link.filename}" if link.filename else ""
            return DiskFullError(f"the disk is full or over quota{where}",
                                 "free space (or raise the quota) and retry; finished frames are kept")
        if isinstance(link, RuntimeError) and any(t in str(link).lower() for t in BUSY_TEXTS):
            return TransientError(f"the compute device is busy ({_first_line(link)})",
                                  "retry the task when the GPU is free, or on another worker")
    return None


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for a job that ended with ``exc``."""
    if isinstance(exc, (JobCancelled, KeyboardInterrupt)):
        return EXIT_CANCELLED
    if as_transient(exc) is not None:
        return EXIT_RETRY
    if isinstance(exc, EngineError):
        return EXIT_USER_ERROR
    return EXIT_INTERNAL_ERROR


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
