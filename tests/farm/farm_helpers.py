"""Helpers shared by the farm tests: engine processes as a farm worker starts them, frame files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLAMENCO_KEYS = ("source", "output", "frames", "chunk_size", "style", "style_id", "degree", "color_transfer",
                 "backbone", "exstyle_image", "format", "exr_compression", "png_bits", "mattes", "matte_files",
                 "matte_layers", "matte_classes", "cryptomatte", "faces", "max_faces", "follow_faces",
                 "output_space", "data_window",
                 "scale", "padding", "smooth_parsing", "orientation", "start_number", "output_name", "precision",
                 "models_dir", "engine_python", "device", "backend", "batch", "compile")
"""The settings of the Flamenco job type: the ``engine render`` options a TD sets per shot (named as the
CLI's dest, but for ``output_name``) plus the farm's own ``chunk_size`` and ``engine_python``. The OpenJD
job parameters are the same in CamelCase (``camel``)."""
FARM_KEY_OF_DEST = {"name": "output_name"}
"""CLI dests whose farm setting has another name: a Blender PropertyGroup (which the Flamenco add-on builds
from the job type's settings) already has a ``name`` property."""
FARM_OWN_KEYS = ("chunk_size", "engine_python")
"""Farm settings that are no engine option."""
NOT_ON_THE_FARM = {
    "resume": "set by the job types themselves: every render chunk passes --resume, so a retried chunk only "
              "renders the frames it did not finish",
    "overwrite": "deletes the frames of another look in the output folder; a farm job renders into a fresh "
                 "version folder, and a resubmission into a folder holding another look must stop (exit 2), "
                 "not delete frames other tasks may be writing. Clear such a folder by hand (engine prepare "
                 "... --overwrite) before submitting",
    "json_progress": "progress output format, chosen by each job type (the OpenJD bundle passes "
                     "--openjd-progress; Flamenco/Deadline/OpenCue log the plain progress lines)",
    "openjd_progress": "progress output format, chosen by each job type (see json_progress)",
}
"""``engine render`` options deliberately left out of every farm integration, each with the reason. An
option the CLI gains must be exposed by every job type or be added here (tests/farm/test_farm_settings.py)."""


def camel(key: str) -> str:
    """The OpenJD parameter name of a Flamenco key: ``style_id`` -> ``StyleId``."""
    return "".join(part.capitalize() for part in key.split("_"))


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
