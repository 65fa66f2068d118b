"""Files the engine writes get the modes the process's umask gives, as `cp` or `touch` would: a studio
running with umask 002 and group-shared folders gets 0664 frames its whole group may write, not a fixed
0644 that keeps the group out; umask 077 keeps them private."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.io.atomic import atomic_open, atomic_path, atomic_reopenable

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def process_umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def file_mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("mask", [0o002, 0o022, 0o077])
def test_atomic_writes_get_the_umask_mode(tmp_path, mask):
    with process_umask(mask):
        with atomic_open(tmp_path / "sidecar.json", "w") as fh:
            fh.write("{}")
        with atomic_path(tmp_path / "frame.png") as temp:
            temp.write_bytes(b"x")
        with atomic_reopenable(tmp_path / "style.pt") as name, open(name, "wb") as fh:
            fh.write(b"x")
    for name in ("sidecar.json", "frame.png", "style.pt"):
        assert file_mode(tmp_path / name) == 0o666 & ~mask, name


def test_a_render_under_umask_002_leaves_group_writable_files_and_folders(media_dir, tmp_path):
    """A real classic render (frames, matte files, sidecar) into a folder it creates two levels deep."""
    out = tmp_path / "shots" / "sh010"
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_MODELS=str(tmp_path / "no-models"))
    command = [
        sys.executable,
        "-m",
        "engine",
        "render",
        str(media_dir / "529_2.mp4"),
        "-o",
        str(out),
        "--frames",
        "1",
        "--backend",
        "classic",
        "--mattes",
        "--matte-files",
        "--padding",
        "48",
        "--json-progress",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300, preexec_fn=lambda: os.umask(0o002)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["event"] == "job_done"
    files = sorted(p for p in out.iterdir())
    assert any(p.name.endswith(".vtoonify.json") for p in files) and len(files) > 3
    assert {p.name: file_mode(p) for p in files} == {p.name: 0o664 for p in files}
    assert file_mode(out) == file_mode(out.parent) == 0o775
