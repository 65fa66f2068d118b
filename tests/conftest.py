"""Shared fixtures: where the read-only reference data and media live.

``../shared`` sits beside the repository root (locally and in CI); ``VTOONIFY_SHARED`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("VTOONIFY_SHARED", REPO_ROOT.parent / "shared")).resolve()
REFERENCE_DIR = SHARED_DIR / "reference"
MEDIA_DIR = SHARED_DIR / "media"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared data missing at {path}: set VTOONIFY_SHARED to the shared/ folder")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return _need(REFERENCE_DIR)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    return _need(MEDIA_DIR)
