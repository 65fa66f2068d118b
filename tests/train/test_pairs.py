"""Paired data: the style-code mix on known codes, the degree / style / colour variants, targets and inputs
recomputed from the teachers, the shared affine transform, determinism.

The pSp encoder is replaced by a module that returns known z+ codes (and records its calls), and the
teachers' noise strengths are zeroed, so every tensor of a batch can be recomputed independently.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError
from engine.models.stylegan import NoiseInjection
from engine.train import pairs
from engine.train.pairs import PairGenerator, apply_affine, blur_downsample, random_affine, zero_noise
from engine.train.teachers import load_teachers

N_LATENT, WIDTH = 12, 48  # the 128-px tiny teachers


class KnownCodes(nn.Module):
    """Stands in for pSp: returns fixed z+ codes, remembers the input shapes, or refuses to run."""

    def __init__(self, codes: torch.Tensor, forbidden: bool = False) -> None:
        super().__init__()
        self.codes, self.forbidden, self.calls = codes, forbidden, []

    def forward(self, x):
        if self.forbidden:
            raise AssertionError("pSp must not run for this variant")
        self.calls.append(tuple(x.shape))
        return self.codes[: x.shape[0]]


def quiet(teachers, codes=None, forbidden=False):
    """A copy of ``teachers`` with noise strengths 0 and the known-code pSp stand-in."""
    generator = copy.deepcopy(teachers.generator)
    for module in generator.modules():
        if isinstance(module, NoiseInjection):
            module.weight.data.zero_()
    base = generator.generator if teachers.backbone == "dualstylegan" else copy.deepcopy(teachers.base_generator)
    for module in base.modules():
        if isinstance(module, NoiseInjection):
            module.weight.data.zero_()
    stub = KnownCodes(codes if codes is not None else torch.zeros(4, N_LATENT, WIDTH), forbidden)
    return dataclasses.replace(teachers, generator=generator, base_generator=base, _style_encoder=stub)


@pytest.fixture(scope="module")
def d_teachers(tiny_teachers_128):
    return load_teachers("dualstylegan", **tiny_teachers_128.d_kwargs())


@pytest.fixture(scope="module")
def t_teachers(tiny_teachers_128):
    return load_teachers("toonify", **tiny_teachers_128.t_kwargs())


@pytest.fixture()
def known():
    return torch.randn(4, N_LATENT, WIDTH, generator=torch.Generator().manual_seed(99))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_input_path(t, batch) -> None:
    """x, parsing and their full-resolution forms follow from x_full exactly as the official scripts do."""
    half = blur_downsample(batch.x_full)
    logits = t.face_parser(2 * half)[0]
    assert torch.allclose(batch.x, blur_downsample(half), atol=1e-6)
    assert torch.allclose(batch.parsing, blur_downsample(logits) / 16, atol=1e-5)
    assert torch.allclose(batch.parsing_full, F.interpolate(logits, scale_factor=2, mode="nearest") / 16, atol=1e-5)


@torch.no_grad()
def test_d_style_code_takes_structure_from_the_exemplar_and_the_rest_from_psp(d_teachers, known):
    t = quiet(d_teachers, known)
    pg = PairGenerator(t, stage="full", affine_p=0.0)
    batch = pg.sample(2, gen(1))
    exemplar = t.exstyles[batch.style_ids]
    assert torch.equal(batch.style[:, :7], exemplar[:, :7])
    assert torch.allclose(batch.style[:, 7:], t.zplus2wplus(known[:2])[:, 7:])
    assert t._style_encoder.calls == [(2, 3, 256, 256)]  # pSp sees the face at 256x256
    d = batch.degree()
    assert d in {0.0, 0.2, 0.4, 0.6, 0.8, 1.0} and torch.equal(batch.d_s, torch.full((2,), d))
    assert batch.interp_weights == (d,) * 7 + (1.0,) * 5
    # the face and the target, recomputed from the returned latents (no augmentation at p = 0)
    face, _ = t.base_generator([batch.w], input_is_latent=True, truncation=0.5, truncation_latent=0)
    target, _ = t.generator([batch.w], batch.style, input_is_latent=True, truncation=0.5, truncation_latent=0,
                            use_res=True, interp_weights=list(batch.interp_weights),
                            noise=zero_noise(t.stylegan(), 2, "cpu"))
    assert torch.allclose(batch.x_full, face.clamp(-1, 1), atol=1e-5)
    assert torch.allclose(batch.y, target.clamp(-1, 1), atol=1e-5)
    assert batch.x.shape == (2, 3, 32, 32) and batch.parsing.shape == (2, 19, 32, 32)
    assert batch.y.shape == (2, 3, 128, 128)
    assert_input_path(t, batch)


@torch.no_grad()
def test_d_colour_transfer_from_a_fixed_style_takes_every_latent_from_the_exemplar(d_teachers):
    t = quiet(d_teachers, forbidden=True)
    pg = PairGenerator(t, stage="full", fix_style=True, style_id=3, affine_p=0.0)
    assert not pg.needs_style_encoder
    batch = pg.sample(2, gen(2))
    assert torch.equal(batch.style_ids, torch.tensor([3, 3]))
    assert torch.equal(batch.style, t.exstyles[[3, 3]])
    assert batch.interp_weights[7:] == (1.0,) * 5


@torch.no_grad()
def test_d_fixed_colour_and_degree_keep_the_psp_colour_latents_with_colour_weight_zero(d_teachers, known):
    t = quiet(d_teachers, known)
    pg = PairGenerator(t, stage="full", fix_style=True, style_id=1, fix_color=True, fix_degree=True,
                       style_degree=0.3, affine_p=0.0)
    batch = pg.sample(2, gen(3))
    assert torch.equal(batch.style[:, :7], t.exstyles[[1, 1]][:, :7])
    assert torch.allclose(batch.style[:, 7:], t.zplus2wplus(known[:2])[:, 7:])
    assert torch.equal(batch.d_s, torch.full((2,), 0.3))
    assert batch.interp_weights == (0.3,) * 7 + (0.0,) * 5


def test_d_degree_and_style_sampling_rules(d_teachers):
    pg = PairGenerator(quiet(d_teachers), stage="full")
    degrees = {pg.sample_degree(gen(s), 0, 10) for s in range(30)}
    assert degrees <= {0.0, 0.2, 0.4, 0.6, 0.8, 1.0} and len(degrees) >= 4
    ids = torch.cat([pg.sample_style_ids(8, gen(s)) for s in range(4)])
    assert ids.min() >= 0 and ids.max() < 6 and len(set(ids.tolist())) > 3
    pre = PairGenerator(quiet(d_teachers), stage="pretrain")
    assert {pre.sample_degree(gen(s), 25, 100) for s in range(5)} == {0.0}  # first quarter: d_s = 0
    late = [pre.sample_degree(gen(s), 26, 100) for s in range(5)]
    assert all(0 <= d < 1 for d in late) and len(set(late)) == 5
    fixed = PairGenerator(quiet(d_teachers), stage="pretrain", fix_degree=True, style_degree=0.7)
    assert fixed.sample_degree(gen(), 0, 100) == 0.7
    with pytest.raises(ConfigError, match="--style-id 6 does not exist"):
        PairGenerator(d_teachers, fix_style=True, style_id=6)
    with pytest.raises(ConfigError, match="outside"):
        PairGenerator(d_teachers, style_degree=1.5)


@torch.no_grad()
def test_t_style_code_is_half_w_then_psp_and_the_target_is_the_blended_generator(t_teachers, known):
    t = quiet(t_teachers, known)
    batch = PairGenerator(t, stage="full", affine_p=0.0).sample(2, gen(4))
    assert torch.allclose(batch.style[:, :7], 0.5 * batch.w[:, :7])
    assert torch.allclose(batch.style[:, 7:], t.zplus2wplus(known[:2])[:, 7:])
    assert torch.equal(batch.d_s, torch.zeros(2)) and torch.equal(batch.style_ids, torch.zeros(2, dtype=torch.long))
    target, _ = t.generator([batch.style], input_is_latent=True, noise=zero_noise(t.generator, 2, "cpu"))
    face, _ = t.base_generator([batch.w], input_is_latent=True, truncation=0.5, truncation_latent=0)
    assert torch.allclose(batch.y, target.clamp(-1, 1), atol=1e-5)
    assert torch.allclose(batch.x_full, face.clamp(-1, 1), atol=1e-5)
    assert_input_path(t, batch)


@torch.no_grad()
def test_w_gets_an_editing_direction_on_latents_3_to_6_only(d_teachers):
    pg = PairGenerator(quiet(d_teachers), stage="full")
    w = pg.sample_w(3, gen(5))
    assert torch.equal(w[:, 0], w[:, 1]) and torch.equal(w[:, 0], w[:, 7]) and torch.equal(w[:, 0], w[:, 11])
    deltas = w[:, 3:7] - w[:, :1]
    dirs = d_teachers.directions[:, 3:7]
    for delta in deltas:  # each sample carries exactly one of the K directions
        assert any(torch.allclose(delta, d, atol=1e-5) for d in dirs)


@torch.no_grad()
def test_colour_jitter_changes_the_input_colours_in_the_second_half_only(d_teachers, known):
    t = quiet(d_teachers, known)
    pg = PairGenerator(t, stage="full", affine_p=0.0)
    early, late = pg.sample(1, gen(6), iteration=4, total_iterations=10), pg.sample(1, gen(6), iteration=8,
                                                                                 total_iterations=10)
    assert torch.equal(early.y, late.y) and torch.equal(early.style, late.style)
    assert (early.x_full - late.x_full).abs().max() > 1e-3
    kept = PairGenerator(t, stage="full", affine_p=0.0, fix_color=True)
    a, b = kept.sample(1, gen(6), iteration=4, total_iterations=10), kept.sample(1, gen(6), iteration=8,
                                                                               total_iterations=10)
    assert torch.equal(a.x_full, b.x_full)


@torch.no_grad()
def test_input_and_target_share_one_random_affine_transform(d_teachers, known, monkeypatch):
    t = quiet(d_teachers, known)
    plain = PairGenerator(t, stage="full", affine_p=0.0).sample(2, gen(7))
    thetas = []

    def spy(*args, **kwargs):
        theta = random_affine(*args, **kwargs)
        thetas.append(theta)
        return theta

    monkeypatch.setattr(pairs, "random_affine", spy)
    moved = PairGenerator(t, stage="full", affine_p=1.0).sample(2, gen(7))
    theta = thetas[0]
    assert (theta - torch.tensor([[1.0, 0, 0], [0, 1, 0]])).abs().amax((1, 2)).min() > 0.01
    assert torch.allclose(moved.x_full, apply_affine(plain.x_full, theta), atol=1e-5)
    assert torch.allclose(moved.y, apply_affine(plain.y, theta), atol=1e-5)
    assert_input_path(t, moved)


def test_random_affine_is_identity_at_p0_and_draws_from_the_generator():
    identity = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(4, 2, 3)
    assert torch.allclose(random_affine(4, gen(0), p=0.0), identity)
    a, b = random_affine(4, gen(1), p=1.0), random_affine(4, gen(1), p=1.0)
    assert torch.equal(a, b) and not torch.equal(a, random_affine(4, gen(2), p=1.0))
    flips = torch.linalg.det(random_affine(64, gen(3), p=1.0)[:, :, :2])
    assert (flips < 0).any() and (flips > 0).any()  # x-flips happen, about half of the time at p = 1
    # translations stay below a pixel, as the official augmentation effectively applies them
    centres = random_affine(256, gen(4), p=1.0, size=128)[:, :, 2] * 128 / 2  # in pixels
    assert centres.abs().max() < 1.5 and centres.abs().max() > 0.05


@torch.no_grad()
def test_samples_are_a_function_of_the_generator_state(d_teachers):
    pg = PairGenerator(d_teachers, stage="full")  # real pSp, real noise
    a, b, c = pg.sample(1, gen(8)), pg.sample(1, gen(8)), pg.sample(1, gen(9))
    for name in ("x", "parsing", "y", "style", "d_s", "style_ids", "w", "x_full", "parsing_full"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.y, c.y) and not torch.equal(a.w, c.w)
    assert a.x.abs().max() <= 1 and a.y.abs().max() <= 1


@torch.no_grad()
def test_pretrain_batches_carry_the_teacher_feature_path(d_teachers, t_teachers):
    t = quiet(d_teachers, forbidden=True)  # pre-training never needs pSp
    pg = PairGenerator(t, stage="pretrain", fix_degree=True, style_degree=0.4)
    batch = pg.sample(2, gen(10))
    assert batch.feat.shape == (2, 32, 32, 32) and batch.skip.shape == (2, 3, 32, 32)
    assert torch.equal(batch.style, t.exstyles[batch.style_ids]) and batch.interp_weights == (0.4,) * 12
    feat, skip = t.generator([batch.w], batch.style, input_is_latent=True, return_feat=True, truncation=0.5,
                             truncation_latent=0, use_res=True, interp_weights=[0.4] * 12)
    assert torch.allclose(batch.feat, feat, atol=1e-5) and torch.allclose(batch.skip, skip, atol=1e-5)
    assert torch.equal(batch.y, batch.x_full)
    assert_input_path(t, batch)

    tt = quiet(t_teachers, forbidden=True)
    tb = PairGenerator(tt, stage="pretrain").sample(1, gen(11))
    feat, skip = tt.generator([tb.w], input_is_latent=True, return_feature_ind=6, truncation=0.5,
                              truncation_latent=0)
    assert torch.allclose(tb.feat, feat, atol=1e-5) and torch.allclose(tb.skip, skip, atol=1e-5)
    assert torch.equal(tb.style, tb.w)
