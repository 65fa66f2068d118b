"""A training process SIGKILLed in the middle of a checkpoint save leaves its hidden temp behind (the rename
never comes); the next run into the same folder (``--resume auto`` on a farm retry) removes it.

Found by killing ``engine train pretrain --save-every 1 --resume auto`` at random 14 times: the resumed runs
matched the uninterrupted one bit for bit, but ``.pretrain-00004.pt.<host>-<pid>.<random>.tmp`` files stayed
in ``OUT/NAME`` for good (a full-size VToonify-D checkpoint is ~1 GB with its optimiser states).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.io.atomic import host_tag
from engine.train.checkpoint import output_layout

REPO = Path(__file__).resolve().parents[2]

# The child starts the trainer's own atomic save and is killed inside it, after half the bytes are written.
KILLED_MID_SAVE = """
import os, signal, sys
from engine.io.atomic import atomic_reopenable
with atomic_reopenable(sys.argv[1]) as name:
    with open(name, "wb") as fh:
        fh.write(b"PK\\x03\\x04 half a checkpoint")
        fh.flush()
        print(os.getpid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_mid_save(target: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_SAVE, str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    return int(proc.stdout.strip())


def test_the_next_run_removes_temps_of_saves_killed_midway_and_nothing_else(tmp_path):
    layout = output_layout(tmp_path / "models", "tiny", "dualstylegan")
    layout.create()
    samples = layout.family_dir / "samples"
    samples.mkdir()
    dead = _killed_mid_save(layout.family_dir / "pretrain-00004.pt")
    _killed_mid_save(samples / "full_00001.png")
    _killed_mid_save(layout.models_dir / "encoder.pt")  # a companion copy into --out, killed midway
    left = sorted(p.name for p in layout.family_dir.iterdir() if p.name.startswith("."))
    assert len(left) == 1 and left[0].startswith(f".pretrain-00004.pt.{host_tag()}-{dead}.")

    # what the next run must leave alone: a save in flight (this pid), another host's, a hidden file the
    # trainer did not write, a link at a temp name, and a temp of another job in --out
    alive = layout.family_dir / f".pretrain-00005.pt.{host_tag()}-{os.getpid()}.0123456789ab.tmp"
    other_host = layout.family_dir / f".pretrain-00006.pt.{host_tag()}x-{dead}.0123456789ab.tmp"
    foreign = layout.family_dir / ".notes.tmp"
    link = layout.family_dir / f".pretrain-00007.pt.{host_tag()}-{dead}.0123456789ab.tmp"
    render_temp = layout.models_dir / f".shot.0001.exr.{host_tag()}-{dead}.0123456789ab.tmp"
    for path in (alive, other_host, foreign, render_temp):
        path.write_bytes(b"keep")
    link.symlink_to(foreign)

    layout.create()  # what every run (fresh or --resume) does before its first step

    assert sorted(p.name for p in layout.family_dir.iterdir()) == sorted(
        ["samples", alive.name, other_host.name, foreign.name, link.name]
    )
    assert list(samples.iterdir()) == []
    assert sorted(p.name for p in layout.models_dir.iterdir()) == sorted([layout.folder, render_temp.name])
    assert foreign.read_bytes() == b"keep" and link.is_symlink()
