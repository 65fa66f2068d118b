"""Shared fixtures: where the read-only reference data and media live, and which torch device runs the
tests where the device matters.

``../shared`` sits beside the repository root (locally and in CI); ``VTOONIFY_SHARED`` overrides it.

``--device cpu|cuda|cuda:N`` (default cpu) is the device of the ``device`` fixture: the model and golden
parity tests, the ops with a CUDA route, the VToonify backend and pipeline renders, the service's
per-device worker and a few training iterations run there. Tests that take the fixture are marked
``device`` (``-m device`` selects them: what ``scripts/gpu_check.sh`` runs on a GPU); without that GPU they
skip, saying so. Tests of CPU-only machinery (the C kernels, the heap, autotune, Winograd) are marked
``cpu_only`` and skip under any other ``--device``, naming why. Tolerances: ``DEVICE_ATOL``.
"""

from __future__ import annotations

import contextlib
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


DEVICE_ATOL = {"cpu": 1e-4, "cuda": 1e-4}
"""Max abs error against the CPU-made goldens, float32. CUDA keeps the CPU's 1e-4 because the engine turns
TF32 off for its float32 work (``engine.models.precision.exact_fp32``): cuDNN's other summation order moves
a narrow model's outputs by ~1e-6, while TF32 convs (cuDNN's default) would move them by ~1e-3."""


def pytest_addoption(parser) -> None:
    parser.addoption("--device", default="cpu", metavar="DEVICE",
                     help="torch device for the tests where the device matters: cpu (default), cuda or cuda:N")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "device: uses the --device fixture (selected by -m device on a GPU)")
    config.addinivalue_line("markers", "cpu_only(reason): CPU-only machinery; skipped under --device cuda")
    name = config.getoption("--device")
    head, _, index = name.partition(":")
    if not (name == "cpu" or (head == "cuda" and (not index or index.isdigit()))):
        raise pytest.UsageError(f"--device {name!r}: use cpu, cuda or cuda:N")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the tests that take ``device`` or ``device_name``; skip the CPU-only ones when the run is for
    another device."""
    name = config.getoption("--device")
    for item in items:
        if {"device", "device_name"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.device)
        marker = item.get_closest_marker("cpu_only")
        if marker is not None and name != "cpu":
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "CPU-only machinery")
            item.add_marker(pytest.mark.skip(reason=f"CPU only ({reason}); run without --device {name}"))


def device_problem(name: str) -> str | None:
    """Why the tests cannot run on device ``name`` here, or None when they can."""
    if name == "cpu":
        return None
    import torch

    if not torch.cuda.is_available():
        return (f"--device {name}: torch {torch.__version__} sees no CUDA GPU (CPU-only build, or no driver); "
                "run on a GPU machine or drop --device")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        return f"--device {name}: torch sees {torch.cuda.device_count()} GPU(s)"
    return None


@pytest.fixture(scope="session")
def device_name(request) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (``--device``); skips when that device is not here."""
    name = request.config.getoption("--device")
    problem = device_problem(name)
    if problem:
        pytest.skip(problem)
    return name


@pytest.fixture(scope="session")
def device(device_name):
    """The ``torch.device`` of ``--device`` (default cpu), with float32 kept exact on it as the engine keeps it
    on every CUDA device it resolves (TF32 off: ``engine.models.precision.exact_fp32``)."""
    import torch

    from engine.models.precision import exact_fp32

    exact_fp32(device_name)
    return torch.device(device_name)


@contextlib.contextmanager
def deterministic_kernels():
    """cuDNN's deterministic algorithms while the block runs (a no-op on CPU, whose kernels always are).

    By default cuDNN may pick algorithms whose float sums land in a different order on each call: two
    identical calls of the full-size model on an H200 differed by up to 5e-8 (gpu_check, 2026-12-04), so a
    test that asserts two calls are *equal* (not close) must ask for the deterministic ones."""
    import torch

    previous = torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic = previous


def to_device(value, device):
    """Tensors in nested dicts / lists / tuples moved to ``device`` (goldens are stored on CPU)."""
    if hasattr(value, "to") and hasattr(value, "device"):
        return value.to(device)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


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
