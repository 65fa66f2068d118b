"""Exit codes a farm acts on: 2 the job is wrong, 75 retry (device memory, disk full), 130 cancelled."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import time

import cv2
import pytest
import torch
from farm_helpers import REPO, frame_files, run_engine

from engine.cli import main
from engine.errors import EXIT_CANCELLED, EXIT_INTERNAL_ERROR, EXIT_RETRY, EXIT_USER_ERROR, DeviceOutOfMemoryError
from engine.io import read_image
from engine.pipeline.backends import ClassicBackend

SMALL = "48"  # crop padding: a small crop keeps the classic renders quick


def test_bad_settings_exit_2_before_any_file(media_dir, tmp_path, worker_env):
    out = tmp_path / "out"
    degree = run_engine("prepare", media_dir / "529_2.mp4", "-o", out, "--degree", "3", env=worker_env)
    frames = run_engine("render", media_dir / "529_2.mp4", "-o", out, "--frames", "25-40", "--backend", "classic",
                        env=worker_env)
    for result, text in ((degree, "degree 3.0 is outside [0, 1]"), (frames, "outside the source")):
        assert result.returncode == EXIT_USER_ERROR, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: ") and text in result.stderr
    assert not out.exists()


def _render_in_process(media_dir, out, monkeypatch, *extra) -> int:
    monkeypatch.setenv("VTOONIFY_MODELS", str(out.parent / "no-models"))
    return main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "1-2", "--backend", "classic",
                 "--padding", SMALL, "--json-progress", *extra])


def _failure(capsys) -> tuple[dict, str]:
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert events[-1]["event"] == "job_failed", events
    return events[-1]["error"], captured.err


def _no_frames_or_temps(out) -> bool:
    return not out.exists() or not [p for p in out.iterdir() if p.suffix in (".exr", ".png", ".tmp")]


@pytest.mark.parametrize("oom", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)"),
    RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
    RuntimeError("cuDNN error: CUDNN_STATUS_NOT_ALLOC"),
    RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8589934592 bytes"),
    # what cv2.resize raised under a 1 GiB address-space limit (a huge plate's crop rescale); it was exit 1
    cv2.error("OpenCV(5.1.0) /io/opencv/modules/core/src/alloc.cpp:73: error: (-4:Insufficient memory) Failed to "
              "allocate 2700000000 bytes in function 'OutOfMemoryError'\n"),
], ids=["torch_oom", "cuda_runtime_oom", "cudnn_alloc", "cpu_allocator", "opencv_alloc"])
def test_device_out_of_memory_exits_75(media_dir, tmp_path, monkeypatch, capsys, oom):
    def stylize(self, crops, parsing=None, face=0):
        raise oom

    monkeypatch.setattr(ClassicBackend, "stylize", stylize)
    out = tmp_path / "out"
    assert _render_in_process(media_dir, out, monkeypatch) == EXIT_RETRY
    error, stderr = _failure(capsys)
    assert error["code"] == "device_oom" and "ran out of memory" in error["message"]
    assert stderr.strip().splitlines()[-1].startswith("error: the compute device ran out of memory")
    assert _no_frames_or_temps(out)


def test_typed_transient_error_is_reported_as_raised(media_dir, tmp_path, monkeypatch, capsys):
    """A DeviceOutOfMemoryError from the backend keeps its own message: the backstop adds nothing."""
    def stylize(self, crops, parsing=None, face=0):
        raise DeviceOutOfMemoryError("batch of 2 frames did not fit in GPU memory", "the backend's own fix")

    monkeypatch.setattr(ClassicBackend, "stylize", stylize)
    assert _render_in_process(media_dir, tmp_path / "out", monkeypatch) == EXIT_RETRY
    error, stderr = _failure(capsys)
    assert error == {"code": "device_oom", "message": "batch of 2 frames did not fit in GPU memory "
                                                      "(the backend's own fix)", "fix": "the backend's own fix"}
    assert stderr.count("error: ") == 1


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT], ids=["ENOSPC", "EDQUOT"])
def test_disk_full_while_writing_a_frame_exits_75(media_dir, tmp_path, monkeypatch, capsys, code):
    """The image library fails inside the atomic write (as OIIO does when the volume fills up)."""
    import engine.io
    from engine.io import atomic_path

    def write_exr(path, *args, **kwargs):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a frame")
            raise OSError(code, "No space left on device", str(tmp))

    monkeypatch.setattr(engine.io, "write_exr", write_exr)
    out = tmp_path / "out"
    assert _render_in_process(media_dir, out, monkeypatch) == EXIT_RETRY
    error, _ = _failure(capsys)
    assert error["code"] == "disk_full"
    assert _no_frames_or_temps(out)


def test_raw_disk_full_anywhere_in_a_render_exits_75(media_dir, tmp_path, monkeypatch, capsys):
    from engine.pipeline.writer import FrameWriter

    def write(self, frame, result, plate, *rest):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FrameWriter, "write", write)
    assert _render_in_process(media_dir, tmp_path / "out", monkeypatch) == EXIT_RETRY
    assert _failure(capsys)[0]["code"] == "disk_full"


def test_a_bug_exits_1(media_dir, tmp_path, monkeypatch, capsys):
    def stylize(self, crops, parsing=None, face=0):
        raise ValueError("a bug")

    monkeypatch.setattr(ClassicBackend, "stylize", stylize)
    monkeypatch.delenv("VTOONIFY_DEBUG", raising=False)
    assert _render_in_process(media_dir, tmp_path / "out", monkeypatch) == EXIT_INTERNAL_ERROR
    assert "internal error: ValueError: a bug" in capsys.readouterr().err


def test_sigterm_exits_130_leaving_only_complete_frames(media_dir, tmp_path, worker_env):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "render", str(media_dir / "908.mp4"), "-o", str(out),
                             "--backend", "classic", "--padding", SMALL, "--batch", "1", "--json-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker_env, cwd=REPO)
    deadline = time.monotonic() + 240
    while len(frame_files(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out_text, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_CANCELLED, err
    assert err.strip().splitlines()[-1].startswith("cancelled: ")
    assert json.loads(out_text.splitlines()[-1]) == {"event": "job_cancelled"}
    done = frame_files(out)
    assert 2 <= len(done) < 39, "the signal must land mid-job"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    for path in done:
        assert read_image(path).shape[2] == 4
