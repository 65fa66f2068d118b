"""Fixtures for the service tests: a module-wide engine process with the test job runner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest 9 imports test modules without putting their folder on sys.path; the service tests share
# service_helpers.py and the engine process imports jobrunners.py from here (PYTHONPATH).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def knob_settings(monkeypatch):
    """In-process queues build KnobConfig, so the stand-in runners get their knobs (knobs.py)."""
    from knobs import KnobConfig

    from engine.service import jobs

    monkeypatch.setattr(jobs, "RenderConfig", KnobConfig)


@pytest.fixture(scope="module")
def fake_engine(tmp_path_factory):
    from service_helpers import start_test_engine

    engine = start_test_engine(tmp_path_factory.mktemp("engine"))
    yield engine
    engine.stop()


@pytest.fixture
def source_file(tmp_path) -> Path:
    path = tmp_path / "plate.bin"
    path.write_bytes(b"\x00plate-bytes" * 100)
    return path


@pytest.fixture(scope="module")
def classic_engine(tmp_path_factory):
    """A module-wide engine process with the real render runner (classic jobs render for real)."""
    from service_helpers import start_test_engine

    engine = start_test_engine(tmp_path_factory.mktemp("classic-engine"), runner=None)
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def narrow_models_engine(tmp_path_factory, narrow_models_dir):
    """``python -m engine serve --models <narrow models>``: the real pipeline with small random-weight models
    (VToonify-D cartoon, 30 exemplar codes)."""
    from service_helpers import start_test_engine

    engine = start_test_engine(tmp_path_factory.mktemp("narrow-engine"), runner=None,
                               extra_args=("--models", str(narrow_models_dir)))
    yield engine
    engine.stop()
