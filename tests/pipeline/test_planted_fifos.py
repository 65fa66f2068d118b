"""A FIFO or a folder planted in the output folder at one of the engine's file names: a FIFO must not
block a job (opening one for reading waits for a writer, so a render or farm task hung there for ever),
and a folder, which no rename can replace, is named as a folder (not "check free disk space")."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from engine.errors import ConfigError
from engine.pipeline import shot


def _within_seconds(call, seconds=10.0):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            return future.result(timeout=seconds)
        except concurrent.futures.TimeoutError:
            fd = os.open(call.path, os.O_RDWR)  # unblock the reader's open so the thread (and the run) can end
            os.close(fd)
            pytest.fail(f"opening the FIFO at {call.path.name} blocked")


class _Open:
    def __init__(self, func, path):
        self.func, self.path = func, path

    def __call__(self):
        return self.func(self.path)


def test_a_fifo_at_the_sidecar_name_is_refused_at_once(tmp_path):
    # Before: `render` hung in open() until killed (the job never started, never failed).
    fifo = shot.sidecar_path(tmp_path, "shot")
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"shot\.vtoonify\.json in the output folder is not a regular file") as info:
        _within_seconds(_Open(shot.read_sidecar, fifo))
    assert "move it away" in info.value.fix


def test_a_fifo_or_an_oversized_file_at_a_style_code_name_is_recomputed_not_read(tmp_path):
    import torch  # noqa: F401  (imported here, not timed inside the guarded call)

    fifo = tmp_path / shot.style_code_name("shot")
    os.mkfifo(fifo)
    assert _within_seconds(_Open(shot._load_style_code, fifo)) is None
    huge = tmp_path / shot.style_code_name("big")
    with open(huge, "wb") as fh:
        fh.truncate(shot.MAX_STYLE_CODE_BYTES + 1)  # sparse: no disk used
    assert shot._load_style_code(huge) is None


def test_a_folder_at_an_output_name_is_named_as_a_folder(tmp_path):
    # Before: the frame failed after the shot analysis with "could not write ...: Is a directory (check
    # free disk space and folder permissions)"; the sidecar was called "not a regular file".
    from engine.errors import OutputError
    from engine.io.atomic import atomic_open
    from engine.pipeline.outputs import OutputNaming, check_foreign_files

    naming = OutputNaming(tmp_path, "shot", "exr", 4)
    (tmp_path / "shot.0002.exr").mkdir()
    with pytest.raises(OutputError, match=r"shot\.0002\.exr in .* is a folder, so the frame") as info:
        check_foreign_files(naming, [1, 2], "job")
    assert "move the folder away" in info.value.fix
    (tmp_path / "shot.vtoonify.style.pt").mkdir()
    with pytest.raises(OutputError, match=r"shot\.vtoonify\.style\.pt in .* is a folder"):
        with atomic_open(tmp_path / "shot.vtoonify.style.pt") as fh:
            fh.write(b"code")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left behind
    (tmp_path / "shot.vtoonify.json").mkdir()
    with pytest.raises(ConfigError, match=r"shot\.vtoonify\.json in the output folder is a folder$"):
        shot.read_sidecar(tmp_path / "shot.vtoonify.json")
