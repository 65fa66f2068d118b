"""Helpers shared by the farm tests: engine processes as a farm worker starts them, frame files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLAMENCO_KEYS = ("source", "output", "frames", "chunk_size", "style", "style_id", "degree", "color_transfer",
                 "format", "mattes", "cryptomatte", "faces", "max_faces", "precision", "data_window", "models_dir",
                 "engine_python", "device", "backend")
"""The settings of the Flamenco job type (issue #12, then faces, Cryptomatte, precision, data window); the OpenJD
job parameters are the same in CamelCase."""
SAMPLE_FRAMES = "1-6"
"""A few frames of ``529_2.mp4``: enough for two chunks of three, quick on the classic backend."""


def engine_env(models_dir: Path) -> dict:
    """The environment of a farm worker: this checkout's engine and a models folder (here empty)."""
    return dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_MODELS=str(models_dir))


def run_engine(*args, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def frame_files(folder: Path, pattern: str = "*.exr") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))


def frame_number(path: Path) -> int:
    return int(path.name.split(".")[-2])


def two_face_plate(media_dir: Path, folder: Path, frames: int = 4) -> str:
    """A PNG sequence 1008x384 of two real portraits side by side, the right one entering on frame 2 and
    moving 2 px left per frame (as tests/pipeline/test_faces.py builds it); returns its pattern."""
    import numpy as np

    from engine.io import open_source, write_png

    def portrait(name: str):
        with open_source(str(media_dir / name)) as src:
            return src.read(src.frame_numbers[0])

    left, right = portrait("077436.jpg"), portrait("038648.jpg")
    folder.mkdir(parents=True, exist_ok=True)
    for frame in range(1, frames + 1):
        canvas = np.full((384, 1008, 3), 90, np.uint8)
        canvas[:375, :500] = left
        if frame > 1:
            shift = 2 * (frame - 1)
            canvas[20:353, 508 - shift:1008 - shift] = right
        write_png(folder / f"two.{frame:04d}.png", canvas)
    return str(folder / "two.####.png")
