"""Loss terms of the full objective (paper Eq. 5): flicker suppression (Eq. 4), mask sparsity (Eq. 9),
the StyleGAN2 adversarial terms and an in-repo LPIPS-VGG perceptual distance.

Every function returns the *unweighted* term; the training loop multiplies by the ``--*-loss`` weights
(official defaults: grec 0.1, perc 0.01, adv 0.01, tmp 1, msk 0.0005).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import autograd, nn
from torch.nn import functional as F

from engine.errors import ConfigError, ModelFileError
from engine.models.checkpoints import load_torch_file
from engine.train.files import split_path_list
from engine.train.pairs import PairBatch, blur_downsample

FLICKER_MARGIN = 4
"""Full-resolution context pixels kept around a flicker crop while it is downsampled (one input pixel)."""


# --- flicker suppression (Eq. 4) ---------------------------------------------------------------------


def flicker_crop_input(batch: PairBatch, top: int, left: int, crop: int, margin: int = FLICKER_MARGIN) -> torch.Tensor:
    """Student input [B,22,crop/4,crop/4] of the full-resolution window ``[top:top+crop, left:left+crop]``.

    The window is cut from the full-resolution frame and parsing (``x_full``, ``parsing_full``) *before* the
    two Downsample-blurs, so offsets that are not multiples of 4 become sub-pixel shifts of the input
    (paper: "cropped in the original resolution before downsampling"). ``margin`` extra pixels of real
    context on each side go through the blur and are dropped after it (``margin / 4`` input pixels), so the
    crop's border pixels are what a camera shifted by (top, left) would see; the official script instead
    blurs zero padding into them, an error unrelated to flicker.
    """
    if margin % 4 or crop % 32:
        raise ValueError(f"margin must be a multiple of 4 and crop of 32, got margin={margin}, crop={crop}")
    size = batch.x_full.shape[-1], batch.x_full.shape[-2]
    if top < margin or left < margin or top + crop + margin > size[1] or left + crop + margin > size[0]:
        raise ValueError(f"window {top},{left}+{crop} (margin {margin}) leaves the {size[0]}x{size[1]} frame")
    full = torch.cat([batch.x_full, batch.parsing_full], dim=1)
    window = full[:, :, top - margin : top + crop + margin, left - margin : left + crop + margin]
    small = blur_downsample(blur_downsample(window))
    keep = margin // 4
    return small[:, :, keep : small.shape[-2] - keep, keep : small.shape[-1] - keep] if keep else small


def flicker_loss(
    student: nn.Module,
    batch: PairBatch,
    generator: torch.Generator,
    *,
    max_shift: int | None = None,
    fake: torch.Tensor | None = None,
    margin: int = FLICKER_MARGIN,
) -> torch.Tensor:
    """Eq. 4: ``mean((G(x_crop) - crop(G(x)))^2)`` for one random window per batch.

    The window is ``size - max_shift`` pixels square (a multiple of 32, so its quarter feeds VToonify) at a
    random full-resolution offset in ``[margin, max_shift - margin]`` on each axis (drawn from
    ``generator``); ``max_shift`` defaults to ``size / 8`` rounded up to a multiple of 32 (official: a 896
    window of 1024; 224 of 256; 96 of 128). ``fake`` is the student's
    output for the whole batch when the caller already has it (gradients flow through both outputs, as
    official). ``student(x, style, d_s)`` is VToonify's call. The official ramp (weight 0 in the first half)
    is :func:`flicker_ramp`.
    """
    size = batch.x_full.shape[-1]
    max_shift = 32 * math.ceil(size / 8 / 32) if max_shift is None else int(max_shift)
    crop = size - max_shift
    if crop % 32 or max_shift < 2 * margin or crop <= 0:
        raise ConfigError(
            f"flicker crop of {crop} px (frame {size}, max shift {max_shift}) must be a positive multiple of 32 "
            f"with room for {margin} px of context each side",
            "use a max shift that is a multiple of 32 (default: size / 8)",
        )
    cpu_gen_device = torch.device(generator.device)
    top, left = (int(v) for v in torch.randint(margin, max_shift - margin + 1, (2,), generator=generator,
                                               device=cpu_gen_device))
    d_s = batch.degree()
    if fake is None:
        fake = student(batch.student_input(), batch.style, d_s)
    crop_out = student(flicker_crop_input(batch, top, left, crop, margin), batch.style, d_s)
    return F.mse_loss(crop_out.float(), fake[:, :, top : top + crop, left : left + crop].float())


def flicker_ramp(iteration: int, total_iterations: int) -> float:
    """Official weight ramp of the flicker term: 0 in the first half, then rising linearly to 1 at the end."""
    return max(iteration / (total_iterations / 2.0) - 1.0, 0.0)


# --- mask sparsity (Eq. 9) -----------------------------------------------------------------------------


def mask_target(d_s: torch.Tensor | float) -> torch.Tensor | float:
    """``g(d_s) = 0.1 + 0.9 (1 - d_s)^2``: how much of the encoder feature a fusion mask may use."""
    return 0.1 + 0.9 * (1 - d_s) ** 2


def mask_loss(masks: Sequence[torch.Tensor], d_s: torch.Tensor | float) -> torch.Tensor:
    """Eq. 9 summed over the fusion masks: ``sum_k max(mean(m_k) - g(d_s), 0)``.

    ``d_s`` a float: ``mean`` runs over the whole batch (the official code, one degree per batch);
    ``d_s`` a [B] tensor: per sample (Eq. 9 as written), then averaged over the batch.
    """
    if not masks:  # VToonify-T has no fusion masks
        return torch.zeros(())
    total = masks[0].new_zeros(())
    for m in masks:
        if isinstance(d_s, torch.Tensor) and d_s.ndim == 1:
            per_sample = m.reshape(m.shape[0], -1).mean(1)
            total = total + F.relu(per_sample - mask_target(d_s.to(m))).mean()
        else:
            total = total + F.relu(m.mean() - mask_target(float(d_s)))
    return total


# --- adversarial terms (StyleGAN2) -----------------------------------------------------------------


def d_logistic_loss(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
    """Discriminator logistic loss ``softplus(-D(real)).mean() + softplus(D(fake)).mean()``."""
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def g_nonsaturating_loss(fake_pred: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``softplus(-D(fake)).mean()``."""
    return F.softplus(-fake_pred).mean()


def r1_penalty(real_pred: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """R1: ``mean_b sum |dD(real)/d real|^2`` (``real_img`` must require grad; graph kept for backward).
    The official VToonify scripts do not use it; available for longer GAN runs."""
    (grad,) = autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


# --- LPIPS-VGG perceptual distance ---------------------------------------------------------------------

VGG16_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
"""VGG16 ``features`` up to conv5_3 (torchvision indices and key names ``features.N.weight``)."""
LPIPS_TAPS = (3, 8, 15, 22, 29)
"""``features`` indices whose ReLU outputs LPIPS compares (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)."""
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for spec in VGG16_LAYERS:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, int(spec), 3, padding=1), nn.ReLU()]
            in_channels = int(spec)
    return nn.Sequential(*layers)


class _LinLayer(nn.Module):
    """LPIPS "lin" layer: 1x1 conv to one channel, no bias (key ``model.1.weight``; index 0 was dropout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PerceptualLoss(nn.Module):
    """LPIPS (v0.1, ``net-lin``, VGG16) between images in [-1, 1]: [B,3,H,W] x2 -> [B] distances.

    Per tap: unit-normalise the features over channels, square the difference, weight channels with the
    learned lin layer, average over space; sum over the 5 taps. The official scripts call it on 512x512
    average-pooled images and ``.sum()`` over the batch. Weights come only from local files
    (:func:`load_perceptual_loss`); the module is frozen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg16_features()
        self.lins = nn.ModuleList(_LinLayer(c) for c in LPIPS_CHANNELS)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in LPIPS_TAPS:
                taps.append(x)
            if i == LPIPS_TAPS[-1]:
                break
        return taps

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        total = img0.new_zeros(img0.shape[0])
        for f0, f1, lin in zip(self._taps(img0), self._taps(img1), self.lins):
            n0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            n1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((n0 - n1).pow(2)).mean((1, 2, 3))
        return total


def _lpips_state(sources: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the two official layouts into ours: torchvision VGG16 (``features.N.*``, classifier ignored) and
    the LPIPS lin file (``lin{k}.model.1.weight``, also accepted with a ``net.`` prefix)."""
    state = {}
    for key, value in sources.items():
        if key.startswith("features."):
            state[key] = value
        else:
            bare = key.removeprefix("net.")
            if bare.startswith("lin") and bare.endswith(".model.1.weight"):
                k = int(bare[3 : bare.index(".")])
                state[f"lins.{k}.model.1.weight"] = value
    return state


def load_perceptual_loss(
    paths: str | Path | Sequence[str | Path], device: str | torch.device = "cpu"
) -> PerceptualLoss:
    """LPIPS-VGG from local weight files only (never downloaded; ``weights_only`` loading).

    ``paths``: one file holding both parts, or several (e.g. torchvision's ``vgg16-397923af.pth`` and
    LPIPS's ``weights/v0.1/vgg.pth``); a string may list several separated by ``os.pathsep``. Keys:
    ``features.{0..28}.weight/bias`` (VGG16 convs) and ``lin{0..4}.model.1.weight``. Missing, unsafe or
    incomplete files raise ModelFileError; the caller turns the term off with one warning when no file is
    given.
    """
    if isinstance(paths, (str, Path)):
        paths = split_path_list(str(paths))
    merged: dict[str, torch.Tensor] = {}
    for path in paths:
        obj = load_torch_file(path)
        if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
            obj = obj["state_dict"]
        if not isinstance(obj, Mapping):
            raise ModelFileError(f"{path} holds no weight dict", "pass VGG16 / LPIPS weight files (.pth)")
        merged.update({str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)})
    with torch.device("meta"):  # names and shapes only: every tensor comes from the files
        model = PerceptualLoss()
    state = _lpips_state(merged)
    expected = {k for k in model.state_dict() if k not in ("shift", "scale")}
    missing = sorted(expected - set(state))
    if missing:
        raise ModelFileError(
            f"perceptual weights {', '.join(map(str, paths))} lack {len(missing)} tensors such as "
            f"{', '.join(missing[:3])}",
            "give torchvision's VGG16 weights and the LPIPS v0.1 vgg.pth (lin layers), in one file or two",
        )
    bad = [k for k in expected if tuple(state[k].shape) != tuple(model.state_dict()[k].shape)]
    if bad:
        raise ModelFileError(f"perceptual weights: wrong shape for {', '.join(bad[:3])}",
                             "use VGG16 (not VGG19 or another net) and the LPIPS vgg lin weights")
    model = model.to_empty(device="cpu")
    constants = {"shift": torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1),
                 "scale": torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1)}
    model.load_state_dict({**state, **constants}, strict=True)
    model.requires_grad_(False)
    return model.eval().to(device)
