"""Mapping a failure to its exit code never imports torch: a torch-free process (``engine serve``, the
stand-in test engine) that exits on a bad option stays fast, and a loaded torch's OOM still counts.
``engine render/prepare`` check their options before importing the pipeline (and torch with it)."""

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


BAD_OPTION = """
import sys
from engine.cli import main
print(main(["prepare", sys.argv[1], "-o", sys.argv[2], "--degree", "3"]), "torch" in sys.modules)
"""


def test_a_bad_render_option_exits_2_before_the_pipeline_is_imported(media_dir, tmp_path):
    """A farm task with a bad option fails in a fraction of a second, not after importing torch."""
    proc = subprocess.run([sys.executable, "-c", BAD_OPTION, str(media_dir / "529_2.mp4"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(EXIT_USER_ERROR), "False"], proc.stdout + proc.stderr
    assert "degree 3.0 is outside [0, 1]" in proc.stderr and not (tmp_path / "out").exists()
