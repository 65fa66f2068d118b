"""engine.ops.winograd: Winograd F(2x2,3x3) against F.conv2d (its reference route)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.ops import winograd

SHAPES = [  # (N, Cin, Cout, H, W, dilation): even, odd, smaller than a tile, batches, ModRes dilations
    (1, 8, 5, 8, 8, 1),
    (2, 16, 7, 9, 13, 1),
    (1, 4, 4, 1, 3, 1),
    (1, 8, 4, 32, 32, 4),
    (2, 6, 3, 33, 17, 2),
    (1, 4, 4, 5, 3, 4),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_fast_route_matches_conv2d(shape, with_bias):
    n, cin, cout, h, w, d = shape
    torch.manual_seed(0)
    x = torch.randn(n, cin, h, w).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(cout, cin, 3, 3) / (9 * cin) ** 0.5
    bias = torch.randn(cout) if with_bias else None
    ref = winograd.conv3x3(x, weight, bias, d, impl="ref")
    torch.testing.assert_close(ref, F.conv2d(x, weight, bias, padding=d, dilation=d))
    fast = winograd.conv3x3(x, weight, bias, d, transformed=winograd.winograd_weight(weight))
    assert fast.shape == ref.shape
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, ref, atol=2e-6, rtol=1e-5)


def test_fast_route_takes_nchw_input_and_wide_layers():
    """A wide bottleneck-like layer (256 channels, 16x16, NCHW input): float32 rounding only."""
    torch.manual_seed(1)
    x = torch.randn(1, 256, 16, 16)
    weight = torch.randn(256, 256, 3, 3) / (9 * 256) ** 0.5
    err = (winograd.conv3x3(x, weight) - F.conv2d(x, weight, padding=1)).abs().max().item()
    assert err < 5e-5, err


def test_usable_only_where_it_pays(monkeypatch):
    wide = torch.zeros(1, 512, 32, 32)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert winograd.usable(wide, 512, 512)
    assert not winograd.usable(wide, 512, 3)  # a 3-channel output is cheap already
    assert not winograd.usable(torch.zeros(1, 512, 128, 128), 512, 512)  # large map: transforms dominate
    assert not winograd.usable(wide.to(torch.bfloat16), 512, 512)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert winograd.usable(wide, 512, 512)  # two threads: still 1.2x faster end to end
    monkeypatch.setattr(torch, "get_num_threads", lambda: winograd.MAX_THREADS + 1)
    assert not winograd.usable(wide, 512, 512)  # more threads: unmeasured, barrier waits grow


def test_rejects_bad_weight_and_impl():
    with pytest.raises(ValueError, match="3,3"):
        winograd.winograd_weight(torch.zeros(4, 4, 5, 5))
    with pytest.raises(ValueError, match="impl"):
        winograd.conv3x3(torch.zeros(1, 4, 4, 4), torch.zeros(4, 4, 3, 3), impl="nnpack")
