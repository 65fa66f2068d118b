"""engine.ops: the reference routes against an independent NumPy definition, the fast routes against ref."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ops import FusedLeakyReLU, fused_leaky_relu, upfirdn2d

BLUR = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64


def numpy_upfirdn2d(
    x: np.ndarray, k: np.ndarray, up: int, down: int, pads: tuple[int, int, int, int]
) -> np.ndarray:
    """Textbook definition, written independently: zero-stuff, pad/crop, true convolution, decimate."""
    x0, x1, y0, y1 = pads
    n, c, h, w = x.shape
    stuffed = np.zeros((n, c, h * up, w * up), dtype=np.float64)
    stuffed[:, :, ::up, ::up] = x
    padded = np.pad(stuffed, ((0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
    padded = padded[
        :, :, max(-y0, 0) : padded.shape[2] - max(-y1, 0), max(-x0, 0) : padded.shape[3] - max(-x1, 0)
    ]
    kh, kw = k.shape
    out_h, out_w = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    out = np.zeros((n, c, out_h, out_w))
    for i in range(kh):  # convolution: tap (i, j) of the kernel meets sample (o + kh-1-i, o + kw-1-j)
        for j in range(kw):
            out += k[kh - 1 - i, kw - 1 - j] * padded[:, :, i : i + out_h, j : j + out_w]
    return out[:, :, ::down, ::down]


CONFIGS = [
    # up, down, pad (x0, x1, y0, y1), kernel
    (1, 1, (1, 1, 1, 1), BLUR * 4),  # ModulatedConv2d blur after the transposed conv
    (2, 1, (2, 1, 2, 1), BLUR * 4),  # ToRGB skip upsampling
    (1, 2, (1, 1, 1, 1), BLUR),  # discriminator downsampling
    (2, 1, (0, -1, 1, 0), BLUR * 4),  # asymmetric and negative pads
    (1, 1, (0, 2, 1, 0), np.arange(6.0).reshape(2, 3)),  # non-square, non-symmetric kernel
    (3, 1, (1, 1, 2, 2), np.arange(9.0).reshape(3, 3) / 36),
    (2, 2, (1, 2, 1, 2), BLUR * 4),  # both (fast falls back to ref)
]


@pytest.mark.parametrize("up,down,pads,kernel", CONFIGS)
def test_reference_route_matches_numpy_definition(up, down, pads, kernel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 9))
    expected = numpy_upfirdn2d(x, kernel, up, down, pads)
    actual = upfirdn2d(
        torch.from_numpy(x).float(), torch.from_numpy(kernel).float(), up=up, down=down, pad=pads
    )
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.numpy(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("up,down,pads,kernel", CONFIGS)
def test_fast_route_matches_reference(device, up, down, pads, kernel):
    x = torch.randn(2, 5, 11, 8, generator=torch.Generator().manual_seed(1)).to(device)
    k = torch.from_numpy(kernel).float().to(device)
    ref = upfirdn2d(x, k, up=up, down=down, pad=pads, impl="ref")
    fast = upfirdn2d(x, k, up=up, down=down, pad=pads, impl="fast")
    assert fast.shape == ref.shape
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    up=st.integers(1, 3),
    down=st.integers(1, 3),
    pads=st.tuples(*[st.integers(-1, 3)] * 4),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    h=st.integers(5, 9),
    w=st.integers(5, 9),
    seed=st.integers(0, 2**16),
)
def test_fast_route_matches_reference_for_any_geometry(up, down, pads, kh, kw, h, w, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, h, w, generator=gen)
    k = torch.rand(kh, kw, generator=gen)
    ref = upfirdn2d(x, k, up=up, down=down, pad=pads, impl="ref")
    fast = upfirdn2d(x, k, up=up, down=down, pad=pads, impl="fast")
    x0, x1, y0, y1 = pads
    assert ref.shape[2] == (h * up + y0 + y1 - kh) // down + 1
    assert ref.shape[3] == (w * up + x0 + x1 - kw) // down + 1
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


def test_two_entry_pad_applies_to_both_axes():
    x = torch.randn(1, 1, 6, 6)
    k = torch.from_numpy(BLUR * 4).float()
    assert torch.equal(upfirdn2d(x, k, up=2, pad=(2, 1)), upfirdn2d(x, k, up=2, pad=(2, 1, 2, 1)))
    assert upfirdn2d(x, k, up=2, pad=(2, 1)).shape == (1, 1, 12, 12)


def test_upfirdn2d_rejects_unknown_impl_and_bad_shapes():
    k = torch.ones(2, 2)
    with pytest.raises(ValueError, match="impl"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), k, impl="cuda")
    with pytest.raises(ValueError, match=r"\[N,C,H,W\]"):
        upfirdn2d(torch.zeros(4, 4), k)
    with pytest.raises(ValueError, match="pad"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), k, pad=(1, 1, 1))


def test_fused_leaky_relu_reference_is_the_formula():
    x = torch.tensor([[-2.0, -0.5, 0.0, 0.5, 3.0]]).T.reshape(1, 5, 1)  # [N=1, C=5, L=1]
    bias = torch.tensor([0.0, 1.0, -1.0, 0.0, 0.0])
    out = fused_leaky_relu(x, bias).flatten().tolist()
    pre = [-2.0, 0.5, -1.0, 0.5, 3.0]
    expected = [(v if v >= 0 else 0.2 * v) * math.sqrt(2) for v in pre]
    assert out == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 5, 6)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fused_leaky_relu_fast_matches_reference(device, shape, with_bias):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(shape, generator=gen).to(device)
    bias = torch.randn(shape[1], generator=gen).to(device) if with_bias else None
    original = x.clone()
    ref = fused_leaky_relu(x, bias, impl="ref")
    with torch.no_grad():
        fast = fused_leaky_relu(x, bias, impl="fast")
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-6)
    assert torch.equal(x, original)  # the in-place steps work on a copy, never on the caller's tensor


def test_fused_leaky_relu_fast_keeps_gradients():
    x = torch.randn(3, 4, 5, requires_grad=True)
    bias = torch.randn(4, requires_grad=True)
    fused_leaky_relu(x, bias, impl="ref").square().sum().backward()
    ref_grads = (x.grad.clone(), bias.grad.clone())
    x.grad = bias.grad = None
    fused_leaky_relu(x, bias, impl="fast").square().sum().backward()
    torch.testing.assert_close(x.grad, ref_grads[0])
    torch.testing.assert_close(bias.grad, ref_grads[1])


def test_fused_leaky_relu_module_has_the_checkpoint_parameter():
    layer = FusedLeakyReLU(6)
    assert list(dict(layer.named_parameters())) == ["bias"]
    assert list(FusedLeakyReLU(6, bias=False).parameters()) == []
    with pytest.raises(ValueError, match="impl"):
        fused_leaky_relu(torch.zeros(1, 2), impl="cuda")
