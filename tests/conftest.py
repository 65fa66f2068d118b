"""Shared fixtures: where the read-only reference data and media live.

``../shared`` sits beside the repository root (locally and in CI); ``VTOONIFY_SHARED`` overrides it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("VTOONIFY_SHARED", REPO_ROOT.parent / "shared")).resolve()
REFERENCE_DIR = SHARED_DIR / "reference"
MEDIA_DIR = SHARED_DIR / "media"

# Helpers shared by several test folders (cover_art.py) live here; appended, so nothing in tests/ shadows
# a real package (tests/ui is no 'ui').
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))


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


def _float_state_dict(golden: dict) -> dict:
    return {k: (v.float() if v.is_floating_point() else v) for k, v in golden["state_dict"].items()}


def write_exstyle_codes(path: Path, names: list[str], width: int, seed: int) -> None:
    """An ``exstyle_code.npy`` in the official layout: a pickled dict name -> float32 [1,18,width]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    codes = {name: rng.standard_normal((1, 18, width)).astype(np.float32) for name in names}
    np.save(path, np.array(codes, dtype=object), allow_pickle=True)


def build_narrow_models_dir(root: Path) -> Path:
    """A models folder in the official layout holding small random-weight models.

    * ``vtoonify_d_cartoon/vtoonify_s_d_c.pt``: the narrow reference VToonify-D of
      ``vtoonify_d_golden.pt`` (official ``{'g_ema': ...}`` layout). Its file name marks it as a colour
      transfer model, so jobs take all 18 latents from the exemplar code (pSp is not needed).
    * ``vtoonify_t_narrow48/vtoonify.pt``: a narrow VToonify-T with 48-wide style codes (random weights
      from our own constructor), matching the 48-wide narrow pSp so the whole style-code path runs
      (the official D modules hard-code 512-wide styles, so the D path cannot be narrowed this way).
    * ``encoder.pt``: the narrow pSp of ``psp_narrow_golden.pt`` in the official pSp layout.
    * ``faceparsing.pth``: the full-size random BiSeNet of ``bisenet_golden.pt``.
    """
    import torch

    from engine.models import build_model

    root.mkdir(parents=True, exist_ok=True)
    d = torch.load(REFERENCE_DIR / "vtoonify_d_golden.pt", weights_only=True)
    (root / "vtoonify_d_cartoon").mkdir(exist_ok=True)
    torch.save({"g_ema": _float_state_dict(d)}, root / "vtoonify_d_cartoon" / "vtoonify_s_d_c.pt")
    write_exstyle_codes(root / "vtoonify_d_cartoon" / "exstyle_code.npy",
                        [f"Cartoons_{i:05d}.jpg" for i in range(30)], 512, seed=1)

    psp = torch.load(REFERENCE_DIR / "psp_narrow_golden.pt", weights_only=True)
    psp_sd = {"encoder." + k: v for k, v in _float_state_dict(psp).items()}
    torch.save({"opts": {"output_size": 1024, "input_nc": 3}, "state_dict": psp_sd,
                "latent_avg": psp["latent_avg"].float()}, root / "encoder.pt")
    width = int(psp["latent_avg"].shape[-1])

    torch.manual_seed(7)
    t = torch.load(REFERENCE_DIR / "vtoonify_t_golden.pt", weights_only=True)
    config = dict(t["config"])
    config["style_channels"] = width
    narrow48 = build_model(config)
    (root / "vtoonify_t_narrow48").mkdir(exist_ok=True)
    torch.save({"g_ema": narrow48.state_dict()}, root / "vtoonify_t_narrow48" / "vtoonify.pt")

    bisenet = torch.load(REFERENCE_DIR / "bisenet_golden.pt", weights_only=True)
    torch.save(_float_state_dict(bisenet), root / "faceparsing.pth")
    return root


@pytest.fixture(scope="session")
def narrow_models_dir(tmp_path_factory) -> Path:
    """Models folder with narrow random-weight models in the official layout (built once per run)."""
    _need(REFERENCE_DIR)
    return build_narrow_models_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def empty_models_dir(tmp_path, monkeypatch) -> Path:
    """No model files anywhere: VTOONIFY_MODELS points at an empty folder."""
    folder = tmp_path / "no-models"
    folder.mkdir()
    monkeypatch.setenv("VTOONIFY_MODELS", str(folder))
    return folder
