"""Mapping a failure to its exit code never imports torch: a torch-free process (``engine serve``, the
stand-in test engine) that exits on a bad option stays fast, and a loaded torch's OOM still counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.errors import EXIT_RETRY, EXIT_USER_ERROR, ConfigError, DeviceOutOfMemoryError

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from engine.errors import ConfigError
from engine.failures import as_transient, exit_code_for
print(exit_code_for(ConfigError("bad", "fix")), type(as_transient(RuntimeError("CUDA out of memory."))).__name__,
      as_transient(ValueError("plain")), "torch" in sys.modules)
"""


def test_exit_codes_of_a_torch_free_process_leave_torch_unloaded():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(EXIT_USER_ERROR), "DeviceOutOfMemoryError", "None", "False"]


def test_a_torch_out_of_memory_error_is_still_retryable_once_torch_is_loaded():
    import torch

    from engine.failures import as_transient, exit_code_for

    mapped = as_transient(torch.OutOfMemoryError("no text that names memory"))
    assert isinstance(mapped, DeviceOutOfMemoryError) and exit_code_for(mapped) == EXIT_RETRY
    assert exit_code_for(ConfigError("bad", "fix")) == EXIT_USER_ERROR
