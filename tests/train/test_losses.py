"""Loss terms: flicker suppression (Eq. 4) with its sub-pixel crop, mask sparsity (Eq. 9), adversarial
terms, LPIPS-VGG loading. No teacher models needed: batches are built by hand from analytic images."""

from __future__ import annotations

import math
import os
import pickle

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError, ModelFileError
from engine.train.losses import (
    FLICKER_MARGIN,
    PerceptualLoss,
    d_logistic_loss,
    flicker_crop_input,
    flicker_loss,
    flicker_ramp,
    g_nonsaturating_loss,
    load_perceptual_loss,
    mask_loss,
    mask_target,
    r1_penalty,
)
from engine.train.pairs import PairBatch, blur_downsample

SIZE = 128  # full resolution of the hand-made frames; student input is 32
SLOPES = ((0.011, -0.004), (-0.006, 0.009), (0.003, 0.002))  # per RGB channel: d/dx, d/dy per full-res pixel


def ramp(positions_y: torch.Tensor, positions_x: torch.Tensor) -> torch.Tensor:
    """RGB linear ramps sampled at the given full-resolution pixel positions -> [1,3,len(y),len(x)]."""
    chans = [0.2 * (c - 1) + sx * (positions_x[None, :] - 64) + sy * (positions_y[:, None] - 64)
             for c, (sx, sy) in enumerate(SLOPES)]
    return torch.stack(chans)[None]


def ramp_batch() -> PairBatch:
    """A frame whose full-resolution image is a linear ramp; ``x`` holds the same ramp sampled where the
    two Downsample-blurs centre their pixels (4j + 1.5), i.e. the input of an unbounded frame."""
    full_pos = torch.arange(SIZE, dtype=torch.float64)
    low_pos = torch.arange(SIZE // 4, dtype=torch.float64) * 4 + 1.5
    x_full = ramp(full_pos, full_pos).float()
    x = ramp(low_pos, low_pos).float()
    zeros_full = torch.zeros(1, 19, SIZE, SIZE)
    return PairBatch(
        x=x, parsing=torch.zeros(1, 19, SIZE // 4, SIZE // 4), y=x_full, style=torch.zeros(1, 12, 8),
        d_s=torch.zeros(1), style_ids=torch.zeros(1, dtype=torch.long), w=torch.zeros(1, 12, 8),
        x_full=x_full, parsing_full=zeros_full,
    )


class LinearUpsampler(nn.Module):
    """Exactly translation-equivariant on linear images: 4x bilinear (half-pixel centres) with linear
    extrapolation at the borders. Ignores parsing, style and degree."""

    def forward(self, x, style, d_s=0.5):
        rgb = x[:, :3].double()
        rgb = torch.cat([2 * rgb[:, :, :1] - rgb[:, :, 1:2], rgb, 2 * rgb[:, :, -1:] - rgb[:, :, -2:-1]], 2)
        rgb = torch.cat([2 * rgb[..., :1] - rgb[..., 1:2], rgb, 2 * rgb[..., -1:] - rgb[..., -2:-1]], 3)
        up = F.interpolate(rgb, scale_factor=4, mode="bilinear", align_corners=False)
        return up[:, :, 4:-4, 4:-4].float()


class NearestUpsampler(nn.Module):
    """Equivariant only to shifts by whole input pixels (4 output pixels)."""

    def forward(self, x, style, d_s=0.5):
        return F.interpolate(x[:, :3], scale_factor=4, mode="nearest")


class PinnedPattern(nn.Module):
    """Not translation equivariant: a fixed pattern tied to the output grid is added."""

    def forward(self, x, style, d_s=0.5):
        up = LinearUpsampler()(x, style)
        yy, xx = torch.meshgrid(torch.arange(up.shape[-2]), torch.arange(up.shape[-1]), indexing="ij")
        return up + 0.3 * torch.sin(xx / 5.0) * torch.cos(yy / 7.0)


def test_blur_downsample_centres_pixels_like_half_pixel_resampling():
    pos = torch.arange(64, dtype=torch.float64)
    image = ramp(pos, pos)
    once, twice = blur_downsample(image), blur_downsample(blur_downsample(image))
    half_pos = torch.arange(32, dtype=torch.float64) * 2 + 0.5
    quarter_pos = torch.arange(16, dtype=torch.float64) * 4 + 1.5
    # interior only: the zero padding of the FIR touches the outermost pixel
    assert torch.allclose(once[..., 1:-1, 1:-1], ramp(half_pos, half_pos)[..., 1:-1, 1:-1], atol=1e-12)
    assert torch.allclose(twice[..., 1:-1, 1:-1], ramp(quarter_pos, quarter_pos)[..., 1:-1, 1:-1], atol=1e-12)


@pytest.mark.parametrize("top,left", [(4, 4), (5, 7), (6, 9), (7, 4), (13, 26)])
def test_flicker_crop_is_cut_at_full_resolution_so_offsets_become_subpixel_shifts(top, left):
    batch = ramp_batch()
    crop = 96
    inp = flicker_crop_input(batch, top, left, crop)
    assert inp.shape == (1, 22, crop // 4, crop // 4)
    pos = torch.arange(crop // 4, dtype=torch.float64) * 4 + 1.5
    expected = ramp(top + pos, left + pos).float()  # the ramp at the shifted, sub-pixel sample positions
    assert torch.allclose(inp[:, :3], expected, atol=1e-5), (inp[:, :3] - expected).abs().max()
    # a crop taken after downsampling can only move by whole input pixels: it misses the sub-pixel part
    if top % 4 or left % 4:
        coarse = batch.x[:, :, top // 4 : top // 4 + crop // 4, left // 4 : left // 4 + crop // 4]
        assert (coarse - expected).abs().max() > 0.005


def test_flicker_loss_is_zero_for_an_equivariant_model_and_positive_otherwise():
    batch = ramp_batch()
    for seed in range(4):
        zero = flicker_loss(LinearUpsampler(), batch, torch.Generator().manual_seed(seed), max_shift=32)
        assert zero.item() < 1e-10
        pinned = flicker_loss(PinnedPattern(), batch, torch.Generator().manual_seed(seed), max_shift=32)
        assert pinned.item() > 1e-3


def test_flicker_loss_sees_subpixel_offsets():
    """A nearest-neighbour model is consistent under whole-input-pixel shifts only; the loss must catch it
    at offsets that are not multiples of 4 (it could not if the crop were taken after downsampling)."""
    batch = ramp_batch()
    seen = set()
    for seed in range(12):
        gen = torch.Generator().manual_seed(seed)
        top, left = (int(v) for v in torch.randint(FLICKER_MARGIN, 32 - FLICKER_MARGIN + 1, (2,),
                                                   generator=torch.Generator().manual_seed(seed)))
        loss = flicker_loss(NearestUpsampler(), batch, gen, max_shift=32).item()
        aligned = top % 4 == 0 and left % 4 == 0
        seen.add(aligned)
        assert (loss < 1e-12) if aligned else (loss > 1e-5), (top, left, loss)
    assert False in seen


def test_flicker_loss_uses_the_given_full_output_and_backpropagates():
    batch = ramp_batch()
    model = nn.Conv2d(22, 3, 3, padding=1)

    class Student(nn.Module):
        def forward(self, x, style, d_s=0.5):
            return F.interpolate(model(x), scale_factor=4, mode="bilinear", align_corners=False)

    student = Student()
    fake = student(batch.student_input(), batch.style, 0.0)
    a = flicker_loss(student, batch, torch.Generator().manual_seed(3), max_shift=32, fake=fake)
    b = flicker_loss(student, batch, torch.Generator().manual_seed(3), max_shift=32)
    assert torch.allclose(a, b)
    a.backward()
    assert model.weight.grad is not None and model.weight.grad.abs().sum() > 0


def test_flicker_window_defaults_to_an_eighth_of_the_frame_rounded_to_32():
    batch = ramp_batch()  # 128 px: 128 / 8 = 16 -> 32, a 96 px window
    default = flicker_loss(PinnedPattern(), batch, torch.Generator().manual_seed(5))
    assert torch.equal(default, flicker_loss(PinnedPattern(), batch, torch.Generator().manual_seed(5), max_shift=32))


def test_flicker_loss_rejects_crops_the_student_cannot_take():
    with pytest.raises(ConfigError, match="multiple of 32"):
        flicker_loss(LinearUpsampler(), ramp_batch(), torch.Generator(), max_shift=20)


def test_flicker_ramp_follows_the_official_schedule():
    assert flicker_ramp(0, 100) == 0 and flicker_ramp(50, 100) == 0
    assert flicker_ramp(75, 100) == pytest.approx(0.5) and flicker_ramp(100, 100) == pytest.approx(1.0)


def test_mask_loss_matches_eq9_on_hand_computed_values():
    half = torch.full((2, 1, 4, 4), 0.5)
    sparse = torch.zeros(2, 1, 8, 8)
    sparse[:, :, :2, :2] = 0.8  # mean 0.05
    masks = [half, sparse]
    # g(0.5) = 0.1 + 0.9 * 0.25 = 0.325: only the dense mask is over budget, by 0.175
    assert mask_target(0.5) == pytest.approx(0.325)
    assert mask_loss(masks, 0.5).item() == pytest.approx(0.175, abs=1e-6)
    # g(1) = 0.1: 0.4 + 0 ; g(0) = 1: nothing is over budget
    assert mask_loss(masks, 1.0).item() == pytest.approx(0.4, abs=1e-6)
    assert mask_loss(masks, 0.0).item() == 0.0
    # per-sample degrees [0, 1] and per-sample means [0.5, 0.3]: (relu(0.5-1) + relu(0.3-0.1)) / 2 = 0.1
    per = torch.stack([torch.full((1, 4, 4), 0.5), torch.full((1, 4, 4), 0.3)])
    assert mask_loss([per], torch.tensor([0.0, 1.0])).item() == pytest.approx(0.1, abs=1e-6)
    assert mask_loss([], 0.5).item() == 0.0  # VToonify-T: no masks


def test_adversarial_terms_on_known_predictions():
    zero = torch.zeros(4, 1)
    assert d_logistic_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert g_nonsaturating_loss(zero).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([[3.0], [1.0]]), torch.tensor([[-2.0], [0.5]])
    expected = (F.softplus(-real).mean() + F.softplus(fake).mean()).item()
    assert d_logistic_loss(real, fake).item() == pytest.approx(expected)
    # R1 of a linear critic D(x) = sum(c * x) is |c|^2 for every sample
    c = torch.randn(1, 3, 5, 5)
    img = torch.randn(2, 3, 5, 5, requires_grad=True)
    assert r1_penalty((img * c).sum((1, 2, 3)), img).item() == pytest.approx(c.pow(2).sum().item(), rel=1e-5)


# --- LPIPS-VGG -------------------------------------------------------------------------------------


def _write_lpips_files(tmp_path):
    """torchvision-style VGG16 weights and LPIPS lin weights, random, in their official key layouts."""
    torch.manual_seed(0)
    model = PerceptualLoss()
    vgg = {k: v.half() for k, v in model.state_dict().items() if k.startswith("features.")}  # small files
    vgg["classifier.0.weight"] = torch.zeros(2, 2)  # present in torchvision files, ignored
    lins = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(lins, tmp_path / "vgg.pth")
    return tmp_path / "vgg16.pth", tmp_path / "vgg.pth", lins


def test_perceptual_loss_loads_local_files_and_measures_distance(tmp_path):
    vgg, lin, lins = _write_lpips_files(tmp_path)
    loss = load_perceptual_loss([vgg, lin])
    assert torch.equal(loss.lins[2].model[1].weight, lins["lin2.model.1.weight"])
    assert not any(p.requires_grad for p in loss.parameters())
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=gen)).clamp(-1, 1)
    c = (a + 0.8 * torch.randn(a.shape, generator=gen)).clamp(-1, 1)
    same, near, far = loss(a, a), loss(a, b), loss(a, c)
    assert same.shape == (2,) and same.abs().max() < 1e-6
    assert (near > 0).all() and (far > near).all()
    assert torch.allclose(loss(a, b), loss(b, a))
    # the same weights from one combined file, and from a path list string
    torch.save({**torch.load(vgg), **torch.load(lin)}, tmp_path / "both.pth")
    for source in (tmp_path / "both.pth", f"{vgg}{os.pathsep}{lin}"):
        other = load_perceptual_loss(source)
        assert all(torch.equal(p, q) for p, q in zip(other.state_dict().values(), loss.state_dict().values()))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_perceptual_loss_refuses_missing_incomplete_and_unsafe_files(tmp_path):
    vgg, _, _ = _write_lpips_files(tmp_path)
    with pytest.raises(ModelFileError, match="not found"):
        load_perceptual_loss(tmp_path / "nope.pth")
    with pytest.raises(ModelFileError, match=r"lins\.0\.model\.1\.weight"):
        load_perceptual_loss(vgg)

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as handle:
        pickle.dump({"features.0.weight": Payload()}, handle)
    with pytest.raises(ModelFileError):
        load_perceptual_loss(evil)
    torch.save({"x": Payload()}, tmp_path / "evil2.pth")
    with pytest.raises(ModelFileError, match="refusing"):
        load_perceptual_loss(tmp_path / "evil2.pth")
