"""Tiny random teacher files in the official layouts, for training tests (written into tmp folders).

Everything the official training scripts read, at a size that trains on 2 CPU cores:

* DualStyleGAN ``generator.pt`` (``{'g_ema': ...}``), size 256 (14 latents), narrow channel table of the
  goldens (restricted to <= 256, see ``shared/reference/README.md``), ``style_dim`` 48;
* FFHQ StyleGAN ``stylegan2-ffhq-config-f.pt`` (``{'g_ema': ..., 'latent_avg': ...}``) and a
  "finetuned" copy ``finetune-000600.pt`` (weights perturbed), same sizes, for Toonify;
* ``exstyle_code.npy``: the official pickled dict name -> z+ ``[1, 14, 48]`` float32;
* ``faceparsing.pth``: the bare BiSeNet state dict of ``bisenet_golden.pt`` (full-size BiSeNet; random
  weights with calibrated BatchNorm statistics);
* ``encoder.pt``: a narrow pSp (widths 16/24/32/48, ``opts.output_size`` 256 -> 14 styles) in the
  official ``{'opts', 'state_dict': {'encoder.*'}, 'latent_avg'}`` layout;
* ``directions.npy``: a plain float32 array ``[K, 14, 48]`` of editing directions.

The style width 48 equals the narrow pSp's latent width, so the whole style-code path (pSp -> mapping ->
W+) runs with these files. Use the session fixture ``tiny_teachers`` (built once) or
``teacher_files(root, ...)`` to write a fresh set (e.g. to damage one file in a test).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.models import build_model

TINY_SIZE = 256
TINY_STYLE_DIM = 48
TINY_CHANNELS = {4: 48, 8: 32, 16: 32, 32: 32, 64: 28, 128: 24, 256: 20}
"""The goldens' narrow table restricted to <= 256 (``channels[8] == [16] == [32]`` as VToonify-D needs)."""
TINY_PSP_WIDTHS = {"W1": 16, "W2": 24, "W3": 32, "W4": TINY_STYLE_DIM}
TINY_N_STYLES = 6
TINY_N_DIRECTIONS = 4
T_WEIGHT = [1.0] * 9 + [0.0] * 9  # official --weight default of train_vtoonify_t.py


@dataclass(frozen=True)
class TeacherFiles:
    """Paths of one written set of tiny teacher files and the numbers they were made with."""

    root: Path
    dualstylegan: Path  # DualStyleGAN generator.pt (VToonify-D --stylegan-path)
    ffhq: Path  # FFHQ StyleGAN g_ema (VToonify-T --stylegan-path)
    finetune: Path  # finetuned StyleGAN g_ema (VToonify-T --finetunegan-path)
    exstyle: Path  # exstyle_code.npy (VToonify-D --exstyle-path)
    faceparsing: Path  # faceparsing.pth
    encoder: Path  # pSp encoder.pt
    directions: Path  # directions.npy
    size: int = TINY_SIZE
    style_dim: int = TINY_STYLE_DIM
    n_latent: int = 14
    channels: dict = field(default_factory=lambda: dict(TINY_CHANNELS))
    exstyle_names: tuple = ()

    def d_kwargs(self, **overrides) -> dict:
        """Keyword arguments of ``load_teachers('dualstylegan', ...)`` for these files."""
        kwargs = dict(stylegan_path=self.dualstylegan, faceparsing_path=self.faceparsing,
                      exstyle_path=self.exstyle, style_encoder_path=self.encoder,
                      direction_path=self.directions)
        kwargs.update(overrides)
        return kwargs

    def d_options(self, out, name: str, **changes):
        """``TrainOptions`` of a one-thread CPU VToonify-D run on these files (pre-training stage), no
        progress bar; ``changes`` override any field."""
        from engine.train.options import TrainOptions

        fields = dict(stage="pretrain", backbone="dualstylegan", stylegan_path=str(self.dualstylegan),
                      faceparsing_path=str(self.faceparsing), exstyle_path=str(self.exstyle),
                      style_encoder_path=str(self.encoder), direction_path=str(self.directions),
                      out=str(out), name=name, device="cpu", progress=False)
        return TrainOptions(**{**fields, **changes})

    def t_kwargs(self, **overrides) -> dict:
        """Keyword arguments of ``load_teachers('toonify', ...)`` for these files."""
        kwargs = dict(stylegan_path=self.ffhq, finetunegan_path=self.finetune, faceparsing_path=self.faceparsing,
                      style_encoder_path=self.encoder, direction_path=self.directions, weight=list(T_WEIGHT))
        kwargs.update(overrides)
        return kwargs


def _reference_dir() -> Path:
    """``shared/reference`` as tests/conftest.py finds it (``VTOONIFY_SHARED`` overrides)."""
    shared = os.environ.get("VTOONIFY_SHARED", Path(__file__).resolve().parents[2].parent / "shared")
    return Path(shared).resolve() / "reference"


def write_dualstylegan(path: Path, seed: int, size: int = TINY_SIZE, style_dim: int = TINY_STYLE_DIM) -> None:
    """DualStyleGAN ``generator.pt`` ({'g_ema': state_dict}); ModRes convs and structure linears are
    perturbed away from their near-identity init so that the exemplar path visibly matters."""
    torch.manual_seed(seed)
    channels = {r: c for r, c in TINY_CHANNELS.items() if r <= size}
    model = build_model({"class_name": "DualStyleGAN", "size": size, "style_dim": style_dim, "n_mlp": 8,
                         "channels": channels})
    state = model.state_dict()
    gen = torch.Generator().manual_seed(seed + 1)
    for key, value in state.items():
        if key.startswith("res.") and key.endswith(("conv.0.weight", "conv2.0.weight")):
            state[key] = torch.randn(value.shape, generator=gen) * 0.3
        elif key.endswith("noise.weight"):
            state[key] = torch.full_like(value, 0.2)
    torch.save({"g_ema": state}, path)


def _stylegan_state(seed: int, size: int, style_dim: int) -> dict:
    torch.manual_seed(seed)
    channels = {r: c for r, c in TINY_CHANNELS.items() if r <= size}
    model = build_model({"class_name": "VToonify", "backbone": "toonify", "in_size": size // 4, "out_size": size,
                         "style_channels": style_dim, "channels": channels}).generator
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("noise.weight"):
            state[key] = torch.full_like(value, 0.2)
    return state


def write_stylegan_pair(ffhq: Path, finetune: Path, seed: int, size: int = TINY_SIZE,
                        style_dim: int = TINY_STYLE_DIM) -> None:
    """FFHQ StyleGAN (official stylegan2 layout with ``latent_avg``) and a finetuned copy of it (every
    synthesis weight perturbed, mapping network kept, as Toonify finetuning keeps the mapping close)."""
    base = _stylegan_state(seed, size, style_dim)
    gen = torch.Generator().manual_seed(seed + 1)
    tuned = {}
    for key, value in base.items():
        if value.is_floating_point() and not key.startswith(("style.", "noises.")) and not key.endswith("kernel"):
            scale = value.std() if value.numel() > 1 else value.abs() + 0.1
            tuned[key] = value + 0.5 * scale * torch.randn(value.shape, generator=gen)
        else:
            tuned[key] = value.clone()
    torch.save({"g_ema": base, "latent_avg": torch.zeros(style_dim)}, ffhq)
    torch.save({"g_ema": tuned}, finetune)


def write_exstyle_npy(path: Path, names: list[str], n_latent: int, width: int, seed: int) -> None:
    """``exstyle_code.npy`` in the official layout: ``np.save`` of a dict name -> float32 z+ [1, L, width]."""
    rng = np.random.default_rng(seed)
    codes = {name: rng.standard_normal((1, n_latent, width)).astype(np.float32) for name in names}
    np.save(path, np.array(codes, dtype=object), allow_pickle=True)


def write_faceparsing(path: Path) -> None:
    """``faceparsing.pth``: the bare state dict of the golden BiSeNet (float16 values, cast on load)."""
    golden = torch.load(_reference_dir() / "bisenet_golden.pt", weights_only=True)
    torch.save(dict(golden["state_dict"]), path)


def write_psp(path: Path, seed: int, output_size: int = TINY_SIZE) -> None:
    """Narrow pSp ``encoder.pt`` (official layout) whose 14 style heads fit a size-256 generator."""
    torch.manual_seed(seed)
    encoder = build_model({"class_name": "GradualStyleEncoder", "num_layers": 50, "mode": "ir_se",
                           "output_size": output_size, "widths": TINY_PSP_WIDTHS})
    state = {"encoder." + k: v for k, v in encoder.state_dict().items()}
    n_styles = encoder.n_styles
    latent_avg = torch.randn(n_styles, TINY_PSP_WIDTHS["W4"]) * 0.5
    torch.save({"opts": {"output_size": output_size, "input_nc": 3}, "state_dict": state,
                "latent_avg": latent_avg}, path)


def write_directions(path: Path, n_latent: int, width: int, seed: int, count: int = TINY_N_DIRECTIONS) -> None:
    """``directions.npy``: plain float32 ``[K, n_latent, width]`` editing directions (no pickle)."""
    rng = np.random.default_rng(seed)
    np.save(path, rng.standard_normal((count, n_latent, width)).astype(np.float32) * 0.5)


def write_teacher_files(root: Path, seed: int = 0, size: int = TINY_SIZE) -> TeacherFiles:
    """Write one complete set of tiny teacher files under ``root`` (created) and return their paths.

    ``size`` (a power of two >= 128) sets the generators' resolution and the pSp style count with it.
    """
    root.mkdir(parents=True, exist_ok=True)
    n_latent = int(np.log2(size)) * 2 - 2
    names = [f"Cartoons_{i:05d}.jpg" for i in range(TINY_N_STYLES)]
    files = TeacherFiles(
        root=root,
        dualstylegan=root / "generator.pt",
        ffhq=root / "stylegan2-ffhq-config-f.pt",
        finetune=root / "finetune-000600.pt",
        exstyle=root / "exstyle_code.npy",
        faceparsing=root / "faceparsing.pth",
        encoder=root / "encoder.pt",
        directions=root / "directions.npy",
        size=size,
        n_latent=n_latent,
        channels={r: c for r, c in TINY_CHANNELS.items() if r <= size},
        exstyle_names=tuple(names),
    )
    write_dualstylegan(files.dualstylegan, seed + 10, size)
    write_stylegan_pair(files.ffhq, files.finetune, seed + 20, size)
    write_exstyle_npy(files.exstyle, names, n_latent, TINY_STYLE_DIM, seed + 30)
    write_faceparsing(files.faceparsing)
    write_psp(files.encoder, seed + 40, size)
    write_directions(files.directions, n_latent, TINY_STYLE_DIM, seed + 50)
    return files


def write_perceptual_weights(root: Path, seed: int = 0) -> str:
    """Random LPIPS-VGG weights in the two official layouts: torchvision's ``vgg16-397923af.pth``
    (``features.N.*``, float16 to halve the file; a classifier key the loader ignores) and LPIPS's
    ``weights/v0.1/vgg.pth`` (``lin{k}.model.1.weight``). Returns the ``--perceptual-weights`` value."""
    from engine.train.losses import LPIPS_CHANNELS, PerceptualLoss

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vgg = {k: v.half() for k, v in PerceptualLoss().state_dict().items() if k.startswith("features.")}
    vgg["classifier.0.weight"] = torch.zeros(2, 2)
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}
    torch.save(vgg, root / "vgg16-397923af.pth")
    torch.save(lins, root / "vgg.pth")
    return f"{root / 'vgg16-397923af.pth'}{os.pathsep}{root / 'vgg.pth'}"


@pytest.fixture(scope="session")
def perceptual_weights(tmp_path_factory) -> str:
    """``--perceptual-weights`` value of one random LPIPS-VGG set (written once per run)."""
    return write_perceptual_weights(tmp_path_factory.mktemp("lpips"))


@pytest.fixture(scope="session")
def tiny_teachers(tmp_path_factory) -> TeacherFiles:
    """One set of tiny teacher files for the whole run (read-only by convention: copy before damaging)."""
    if not (_reference_dir() / "bisenet_golden.pt").is_file():
        pytest.fail(f"shared reference data missing at {_reference_dir()}: set VTOONIFY_SHARED")
    return write_teacher_files(tmp_path_factory.mktemp("teachers"))


@pytest.fixture(scope="session")
def tiny_teachers_128(tmp_path_factory) -> TeacherFiles:
    """The same kinds of files at size 128 (12 latents, student input 32 px): 4x cheaper per sample."""
    if not (_reference_dir() / "bisenet_golden.pt").is_file():
        pytest.fail(f"shared reference data missing at {_reference_dir()}: set VTOONIFY_SHARED")
    return write_teacher_files(tmp_path_factory.mktemp("teachers128"), size=128)


@pytest.fixture()
def teacher_files():
    """Factory: ``teacher_files(root, seed=0, size=256)`` writes a fresh set (for tests that damage a file)."""
    return write_teacher_files


@pytest.fixture
def one_thread():
    """Tiny convolutions: one thread is ~20x faster than two on a shared, loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
