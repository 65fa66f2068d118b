"""ConditionalDiscriminator: official key names and shapes, projection conditioning, plain form for T."""

from __future__ import annotations

import math

import pytest
import torch

from engine.train.discriminator import ConditionalDiscriminator

NARROW = {4: 24, 8: 20, 16: 16, 32: 12, 64: 8}


def official_keys(size: int, conditional: bool) -> set[str]:
    """Key names of the official ConditionalDiscriminator(size) state dict, written out from its structure:
    a 1x1 ConvLayer, one ResBlock per halving down to 4x4, final conv, two linears (+ condition mappers)."""
    keys = {"convs.0.0.weight", "convs.0.1.bias"}
    for i in range(1, int(math.log2(size)) - 1):
        keys |= {f"convs.{i}.conv1.0.weight", f"convs.{i}.conv1.1.bias", f"convs.{i}.conv2.0.kernel",
                 f"convs.{i}.conv2.1.weight", f"convs.{i}.conv2.2.bias", f"convs.{i}.skip.0.kernel",
                 f"convs.{i}.skip.1.weight"}
    keys |= {"final_conv.0.weight", "final_conv.1.bias", "final_linear.0.weight", "final_linear.0.bias",
             "final_linear.1.weight", "final_linear.1.bias"}
    if conditional:
        keys |= {f"label_mapper.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}
        keys.add("style_mapper.weight")
    return keys


@pytest.mark.parametrize("conditional", [True, False])
def test_full_size_discriminator_has_the_official_keys_and_shapes(conditional):
    with torch.device("meta"):
        disc = ConditionalDiscriminator(256, use_condition=conditional, style_num=317 if conditional else None)
    state = disc.state_dict()
    assert set(state) == official_keys(256, conditional)
    assert state["convs.0.0.weight"].shape == (128, 3, 1, 1)  # official width 128 at 256
    assert state["convs.1.conv2.1.weight"].shape == (256, 128, 3, 3)
    assert state["convs.6.skip.1.weight"].shape == (512, 512, 1, 1)
    assert state["final_conv.0.weight"].shape == (512, 513, 3, 3)  # + the minibatch-stddev channel
    assert state["final_linear.0.weight"].shape == (512, 512 * 16)
    assert state["final_linear.1.weight"].shape == ((128, 512) if conditional else (1, 512))
    if conditional:
        assert state["style_mapper.weight"].shape == (317, 64)
        assert state["label_mapper.0.weight"].shape == (64, 1)
        assert state["label_mapper.4.weight"].shape == (64, 64)


def test_conditional_output_is_the_projection_on_degree_and_style():
    torch.manual_seed(0)
    disc = ConditionalDiscriminator(32, use_condition=True, style_num=5, channels=NARROW).eval()
    x = torch.randn(4, 3, 32, 32)
    degree = torch.full((4, 1), 0.4)
    style = torch.tensor([0, 1, 2, 3])
    out = disc(x, degree, style)
    assert out.shape == (4, 1)
    # recompute the projection from the parts
    features = []
    disc.final_linear.register_forward_hook(lambda m, i, o: features.append(o))
    disc(x, degree, style)
    condition = torch.cat([disc.label_mapper(degree), disc.style_mapper(style)], 1)
    expected = (features[0] * condition).sum(1, keepdim=True) / math.sqrt(128)
    assert torch.allclose(out, expected, atol=1e-6)
    # the condition matters: another style or degree changes the score of the same images
    assert not torch.allclose(out, disc(x, degree, torch.tensor([4, 4, 4, 4])))
    assert not torch.allclose(out, disc(x, torch.full((4, 1), 1.0), style))
    with pytest.raises(ValueError, match="degree_label"):
        disc(x)


def test_plain_discriminator_scores_any_batch_and_trains():
    torch.manual_seed(1)
    disc = ConditionalDiscriminator(32, channels=NARROW)
    x = torch.randn(3, 3, 32, 32, requires_grad=True)  # 3: the stddev group shrinks to a divisor
    out = disc(x)
    assert out.shape == (3, 1) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters())
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\[B,3,32,32\]"):
        disc(torch.randn(2, 3, 64, 64))


def test_minibatch_stddev_couples_samples_of_a_group():
    """As StyleGAN2: a sample's score depends on the other samples of its group (mode-collapse signal)."""
    torch.manual_seed(2)
    disc = ConditionalDiscriminator(32, channels=NARROW).eval()
    x = torch.randn(4, 3, 32, 32)
    changed = x.clone()
    changed[3] = torch.randn(3, 32, 32) * 3
    assert not torch.allclose(disc(x)[0], disc(changed)[0])
