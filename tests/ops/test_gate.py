"""engine.ops.gate: the gated fusion's mask logits from the C kernels against the torch route (itself
checked against conv2d over an explicit concatenation and instance norm)."""

from __future__ import annotations

import pytest
import torch
from native_kernels import require
from torch.nn import functional as F

from engine.ops import gate

pytestmark = pytest.mark.cpu_only("the fusion gate's C kernels read CPU maps")


@pytest.fixture
def lib():
    return require()


def _inputs(n, c, h, w, seed):
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(n, c, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    e = torch.randn(n, c, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    gamma, beta = 1 + torch.randn(1, 2 * c, 1, 1, generator=gen), torch.randn(1, 2 * c, 1, 1, generator=gen)
    weight = torch.randn(1, 2 * c, 3, 3, generator=gen) / (18 * c) ** 0.5
    return g, e, gamma, beta, weight, torch.randn(1, generator=gen)


def test_torch_route_is_conv2d_over_the_normalised_concatenation():
    g, e, gamma, beta, weight, bias = _inputs(2, 5, 7, 6, 0)
    v = torch.cat([g, (g - e).abs()], 1)
    normed = F.instance_norm(v, eps=1e-5) * gamma + beta
    torch.testing.assert_close(gate.mask_logits(g, e, gamma, beta, weight, bias, impl="ref"),
                               F.conv2d(normed, weight, bias, padding=1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8, 8), (2, 13, 9, 7), (1, 3, 1, 5), (1, 64, 32, 24), (3, 20, 5, 1)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_kernels_equal_the_torch_route(lib, shape, with_bias):
    """Whole and partial 8-channel steps, batches (statistics per sample), maps one pixel wide."""
    g, e, gamma, beta, weight, bias = _inputs(*shape, seed=sum(shape))
    bias = bias if with_bias else None
    ref = gate.mask_logits(g, e, gamma, beta, weight, bias, impl="ref")
    got = gate.mask_logits(g, e, gamma, beta, weight, bias, lib=lib)
    assert got.shape == (shape[0], 1, *shape[2:])
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


def test_moments_are_the_two_pass_statistics_of_the_concatenation(lib):
    g, e, *_ = _inputs(2, 11, 6, 9, 3)
    g = g + 100.0  # a large mean: a one-pass variance would lose the small spread
    mean, var = gate.moments(lib, g, e)
    v = torch.cat([g, (g - e).abs()], 1).double()
    torch.testing.assert_close(mean, v.mean((2, 3)).unsqueeze(1).float())
    torch.testing.assert_close(var, v.var((2, 3), unbiased=False).unsqueeze(1).float(), atol=1e-5, rtol=1e-5)


def test_given_statistics_are_used_instead_of_the_maps_own(lib):
    """A strip normalises with its frame's statistics: the kernels take them as given."""
    g, e, gamma, beta, weight, bias = _inputs(1, 16, 12, 10, 4)
    stats = (torch.randn(1, 1, 32), torch.rand(1, 1, 32) + 0.5)
    ref = gate.mask_logits(g, e, gamma, beta, weight, bias, stats=stats, impl="ref")
    torch.testing.assert_close(gate.mask_logits(g, e, gamma, beta, weight, bias, stats=stats, lib=lib), ref,
                               atol=2e-5, rtol=1e-5)
    own = gate.mask_logits(g, e, gamma, beta, weight, bias, impl="ref")
    assert (own - ref).abs().max() > 0.1


def test_non_contiguous_inputs_and_bad_impl(lib):
    g, e, gamma, beta, weight, bias = _inputs(1, 8, 10, 10, 5)
    rows = g[:, :, 2:9], e[:, :, 2:9].contiguous()  # a strip of a larger map; one NCHW
    ref = gate.mask_logits(*rows, gamma, beta, weight, bias, impl="ref")
    torch.testing.assert_close(gate.mask_logits(*rows, gamma, beta, weight, bias, lib=lib), ref, atol=2e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="impl"):
        gate.mask_logits(g, e, gamma, beta, weight, bias, impl="nnpack")
    with pytest.raises(ValueError, match="float32"):
        gate.mask_logits(g.double(), e.double(), gamma, beta, weight, bias, lib=lib)


@pytest.mark.parametrize("shape", [(1, 8, 8, 8), (2, 13, 9, 7), (1, 64, 1, 5), (1, 128, 20, 16)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_skip_conv_kernel_equals_conv2d_over_the_gated_concatenation(lib, shape, with_bias):
    n, c, h, w = shape
    gen = torch.Generator().manual_seed(sum(shape))
    skip = torch.randn(n, 3, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    e = torch.randn(n, c, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    m = torch.rand(n, 1, h, w, generator=gen)
    weight = torch.randn(3, 3 + c, 3, 3, generator=gen) / (9 * c) ** 0.5
    bias = torch.randn(3, generator=gen) if with_bias else None
    ref = F.conv2d(torch.cat([skip, e * m], 1), weight, bias, padding=1)
    torch.testing.assert_close(gate.skip_conv(skip, e, m, weight, bias, impl="ref"), ref)
    got = gate.skip_conv(skip, e, m, weight, bias, lib=lib)
    assert got.shape == (n, 3, h, w) and got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8, 8), (2, 13, 9, 7), (1, 64, 12, 10)])
def test_bf16_maps_are_read_as_their_float32_values(lib, shape):
    """The bf16 static network hands the kernels bfloat16 maps: the maths is float32 on exactly those
    values (so the result equals the float32 route on the upcast maps), logits float32."""
    g, e, gamma, beta, weight, bias = _inputs(*shape, seed=7 + sum(shape))
    g, e = g.bfloat16(), e.bfloat16()
    got = gate.mask_logits(g, e, gamma, beta, weight, bias, lib=lib)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, gate.mask_logits(g.float(), e.float(), gamma, beta, weight, bias, impl="ref"),
                               atol=2e-5, rtol=1e-5)
    mean, var = gate.moments(lib, g, e)
    torch.testing.assert_close((mean, var), gate.moments(lib, g.float(), e.float()))
    n, c, h, w = shape
    skip = torch.randn(n, 3, h, w).bfloat16().contiguous(memory_format=torch.channels_last)
    m = torch.rand(n, 1, h, w)
    weight = torch.randn(3, 3 + c, 3, 3) / (9 * c) ** 0.5
    rgb = gate.skip_conv(skip, e, m, weight, bias.expand(3), lib=lib)
    ref = F.conv2d(torch.cat([skip.float(), e.float() * m], 1), weight, bias.expand(3), padding=1)
    assert rgb.dtype == torch.bfloat16 and rgb.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(rgb, ref.bfloat16(), atol=1e-2, rtol=1e-2)  # one bf16 rounding of the result


def test_mixed_dtypes_are_refused(lib):
    g, e, gamma, beta, weight, bias = _inputs(1, 8, 6, 6, 9)
    with pytest.raises(ValueError, match="all float32 or all bfloat16"):
        gate.mask_logits(g.bfloat16(), e, gamma, beta, weight, bias, lib=lib)
    with pytest.raises(ValueError, match="mask as float32"):
        gate.skip_conv(g[:, :3].bfloat16(), e.bfloat16(), torch.rand(1, 1, 6, 6).bfloat16(),
                       torch.randn(3, 11, 3, 3), None, lib=lib)
