"""Fixtures for the farm tests: Node for the Flamenco job type, a worker environment, one reference render."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# pytest imports test modules without putting their folder on sys.path; the farm tests share farm_helpers.py.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from farm_helpers import SAMPLE_FRAMES, engine_env, run_engine


@pytest.fixture()
def worker_env(tmp_path) -> dict:
    models = tmp_path / "no-models"
    models.mkdir()
    return engine_env(models)


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable; scripts/setup_env.sh installs it from the system package manager.

    Missing Node fails the test in CI (a job type nobody ran is not tested) and skips it elsewhere."""
    found = shutil.which("node") or shutil.which("nodejs")
    if found:
        return found
    message = ("node is not installed, so farm/flamenco/vtoonify.js cannot be checked: run "
               "scripts/setup_env.sh as root (apt-get install -y nodejs) or install Node.js 18+")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def single_render(tmp_path_factory, media_dir) -> Path:
    """Frames 1-6 of 529_2.mp4 rendered by one process with the classic backend: the reference the
    farm runs (Flamenco chunks, the OpenJD bundle) must match pixel for pixel."""
    root = tmp_path_factory.mktemp("single")
    (root / "no-models").mkdir()
    out = root / "out"
    result = run_engine("render", media_dir / "529_2.mp4", "-o", out, "--frames", SAMPLE_FRAMES,
                        "--backend", "classic", env=engine_env(root / "no-models"))
    assert result.returncode == 0, result.stderr
    return out
