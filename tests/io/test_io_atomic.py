"""Atomic writes leave either the finished file or nothing: never a temp file, never a partial file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.errors import OutputError
from engine.io import atomic_path, write_exr, write_png
from engine.io.atomic import host_tag, temp_path_for


def test_success_renames_temp_onto_target(tmp_path):
    target = tmp_path / "frame.0001.png"
    with atomic_path(target) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(f".frame.0001.png.{host_tag()}-{os.getpid()}.")
        assert temp.is_file() and not temp.is_symlink()     # created exclusively before it is handed out
        temp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["frame.0001.png"]


def test_exception_mid_write_removes_temp_and_keeps_old_file(tmp_path):
    target = tmp_path / "frame.exr"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["frame.exr"]


def test_missing_folder_is_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_png(tmp_path / "nope" / "a.png", np.zeros((4, 4, 3), np.uint8))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_folder_is_output_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError):
            write_png(folder / "a.png", np.zeros((4, 4, 3), np.uint8))
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_writer_failure_leaves_no_temp(tmp_path, monkeypatch):
    """Make OIIO's write fail mid-way (as on a full disk) and check nothing is left behind."""
    import OpenImageIO as oiio

    real_create = oiio.ImageOutput.create

    class FailingOutput:
        def __init__(self, inner):
            self.inner = inner

        def open(self, path, spec):
            ok = self.inner.open(path, spec)
            self.inner.write_scanline(0, 0, np.zeros((spec.width, spec.nchannels), np.float32))
            return ok

        def write_image(self, pixels):
            return False

        def geterror(self):
            return "simulated disk full"

        def close(self):
            return self.inner.close()

    monkeypatch.setattr(oiio.ImageOutput, "create", staticmethod(lambda name: FailingOutput(real_create(name))))
    target = tmp_path / "beauty.0001.exr"
    with pytest.raises(OutputError, match="simulated disk full"):
        write_exr(target, np.zeros((8, 8, 4), np.float32))
    assert os.listdir(tmp_path) == []
    assert not temp_path_for(target).exists()


def test_unknown_writer_format_is_output_error(tmp_path, monkeypatch):
    import OpenImageIO as oiio

    monkeypatch.setattr(oiio.ImageOutput, "create", staticmethod(lambda name: None))
    with pytest.raises(OutputError, match="no png writer"):
        write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_rename_failure_removes_temp(tmp_path):
    """The file is fully written but cannot take its name (a folder is in the way): real OS failure."""
    blocker = tmp_path / "beauty.0001.png"
    blocker.mkdir()
    (blocker / "keep").write_text("x")
    with pytest.raises(OutputError, match=r"beauty\.0001\.png in .* is a folder, so the file of that name cannot"):
        write_png(blocker, np.zeros((4, 4, 3), np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["beauty.0001.png"]
    assert blocker.is_dir()


GATE_SCRIPT = r"""
import sys, threading, time
from pathlib import Path
from engine.errors import JobCancelled
from engine.io import write_gate
from engine.io.atomic import atomic_path

folder = Path(sys.argv[1])
inside = threading.Event()

def slow_write():
    with atomic_path(folder / "frame.0001.bin") as temp:
        temp.write_bytes(b"half")
        inside.set()
        time.sleep(0.5)  # the process gives up on the job meanwhile
        temp.write_bytes(b"whole frame")

writer = threading.Thread(target=slow_write)
writer.start()
inside.wait()
start = time.monotonic()
settled = write_gate.close(5.0)
waited = time.monotonic() - start
try:
    with atomic_path(folder / "frame.0002.bin") as temp:
        temp.write_bytes(b"late")
    refused = False
except JobCancelled:
    refused = True
print(settled, refused, round(waited, 2), sorted(p.name for p in folder.iterdir()))
"""


def test_a_process_giving_up_on_its_job_lets_the_write_under_way_finish_and_starts_no_other(tmp_path):
    """The CLI ends a job that does not stop within a second of Ctrl-C without unwinding it; the frame being
    written then must land whole (or not at all) and no later write may begin: no half-written file."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", GATE_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    settled, refused, waited, names = done.stdout.split(" ", 3)
    assert settled == "True" and refused == "True", done.stdout
    assert 0.3 < float(waited) < 3, done.stdout
    assert names.strip() == "['frame.0001.bin']", done.stdout
    assert (tmp_path / "frame.0001.bin").read_bytes() == b"whole frame"


FRAME_SET_SCRIPT = r"""
import sys, threading, time
from pathlib import Path
from engine.io import write_gate
from engine.io.atomic import atomic_path

folder = Path(sys.argv[1])
inside = threading.Event()

def write_frame():  # a frame's files: the beauty, then its matte files, as one gated write
    with write_gate.writing():
        for name in ("shot.0001.exr", "shot.matte_skin.0001.exr", "shot.matte_hair.0001.exr"):
            with atomic_path(folder / name) as temp:
                temp.write_bytes(b"whole")
            inside.set()
            time.sleep(0.2)

writer = threading.Thread(target=write_frame)
writer.start()
inside.wait()
print(write_gate.close(5.0), sorted(p.name for p in folder.iterdir()))
"""


def test_a_frame_whose_files_are_being_written_when_the_job_is_left_gets_all_of_them(tmp_path):
    """The gate closed between a frame's beauty EXR and its matte files left the frame with some of them;
    the frame's files are one write now: all of them land."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", FRAME_SET_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("True ['shot.0001.exr', 'shot.matte_hair.0001.exr', "
                                   "'shot.matte_skin.0001.exr']"), done.stdout
