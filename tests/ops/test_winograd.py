"""engine.ops.winograd: Winograd F(2x2,3x3) and F(4x4,3x3) against F.conv2d (their reference route),
with F(4x4,3x3)'s transforms both in C (``engine.ops.native``) and as torch ops (its fallback)."""

from __future__ import annotations

import pytest
import torch
from native_kernels import require
from torch.nn import functional as F

from engine.ops import native, winograd

pytestmark = pytest.mark.cpu_only("Winograd convs are a CPU route; CUDA runs cuDNN's convs")


@pytest.fixture(autouse=True, params=["native", "torch"])
def f4_route(request, monkeypatch):
    """Every test runs with the C kernels and again with the torch ops they fall back to."""
    if request.param == "torch":
        monkeypatch.setattr(native, "library", lambda: None)
    else:
        require()
    return request.param

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
@pytest.mark.parametrize("tile", winograd.TILES)
def test_fast_route_matches_conv2d(shape, with_bias, tile):
    n, cin, cout, h, w, d = shape
    torch.manual_seed(0)
    x = torch.randn(n, cin, h, w).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(cout, cin, 3, 3) / (9 * cin) ** 0.5
    bias = torch.randn(cout) if with_bias else None
    ref = winograd.conv3x3(x, weight, bias, d, impl="ref")
    torch.testing.assert_close(ref, F.conv2d(x, weight, bias, padding=d, dilation=d))
    fast = winograd.conv3x3(x, weight, bias, d, transformed=winograd.winograd_weight(weight, tile), tile=tile)
    assert fast.shape == ref.shape
    assert fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, ref, atol=2e-6 * tile**2, rtol=1e-5)


def test_f4_runs_in_bands_with_the_same_result(monkeypatch):
    """Bands of tile rows (``CHUNK``) only bound memory: one band or many, the same numbers."""
    torch.manual_seed(2)
    x = torch.randn(2, 8, 37, 21)
    weight = torch.randn(6, 8, 3, 3)
    whole = winograd.conv3x3(x, weight, tile=4)
    monkeypatch.setattr(winograd, "CHUNK", 1)  # one tile row per band
    torch.testing.assert_close(winograd.conv3x3(x, weight, tile=4), whole, atol=0, rtol=0)
    torch.testing.assert_close(whole, F.conv2d(x, weight, padding=1), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("tile", winograd.TILES)
def test_fast_route_takes_nchw_input_and_wide_layers(tile):
    """A wide bottleneck-like layer (256 channels, 16x16, NCHW input): float32 rounding only."""
    torch.manual_seed(1)
    x = torch.randn(1, 256, 16, 16)
    weight = torch.randn(256, 256, 3, 3) / (9 * 256) ** 0.5
    err = (winograd.conv3x3(x, weight, tile=tile) - F.conv2d(x, weight, padding=1)).abs().max().item()
    assert err < 5e-5 * tile, err


def test_tile_only_where_it_pays(monkeypatch):
    wide = torch.zeros(1, 512, 32, 32)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    with_kernels = native.library() is not None  # float32 with the C kernels: 6 from 48 px a sub-grid side, else 4
    assert winograd.tile_for(wide, 512, 512) == (4 if with_kernels else 2)
    assert winograd.tile_for(wide, 512, 512, dilation=4) == (4 if with_kernels else 2)
    assert winograd.tile_for(torch.zeros(1, 512, 16, 16), 512, 512, dilation=4) == 2  # under two 4x4 tiles
    assert winograd.tile_for(wide, 512, 3) == 0  # a 3-channel output is cheap already
    big = torch.zeros(1, 512, 64, 64)
    assert winograd.tile_for(big, 1024, 512) == (6 if with_kernels else 4)  # larger map: cheaper transforms
    assert winograd.tile_for(big, 1024, 512, dilation=2) == (4 if with_kernels else 0)
    # 256x256 maps of 128 channels: direct with the torch transforms, F(6x6,3x3) with the C ones
    assert winograd.tile_for(torch.zeros(1, 128, 256, 256), 256, 128) == (6 if with_kernels else 0)
    assert winograd.tile_for(torch.zeros(1, 64, 256, 256), 64, 64) == 0  # narrow: transforms dominate
    low = wide.to(torch.bfloat16)  # bf16: C kernels only, F(6x6,3x3) from 48 px a sub-grid side
    assert winograd.tile_for(low, 512, 512) == (4 if with_kernels else 0)
    assert winograd.tile_for(low, 512, 512, dilation=4) == (4 if with_kernels else 0)
    assert winograd.tile_for(big.to(torch.bfloat16), 1024, 512) == (6 if with_kernels else 0)
    assert winograd.tile_for(big.to(torch.bfloat16), 1024, 512, dilation=2) == (4 if with_kernels else 0)
    assert winograd.tile_for(torch.zeros(1, 512, 7, 7, dtype=torch.bfloat16), 512, 512) == 0  # under two tiles
    assert winograd.tile_for(low, 64, 512) == 0
    assert winograd.tile_for(wide.half(), 512, 512) == 0
    assert winograd.candidate_tiles(big.to(torch.bfloat16), 512, 512) == ((4, 6) if with_kernels else ())
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert winograd.tile_for(wide, 512, 512) == (4 if with_kernels else 2)  # two threads: the same rules
    monkeypatch.setattr(torch, "get_num_threads", lambda: winograd.MAX_THREADS + 1)
    assert winograd.tile_for(big, 1024, 512) == 0  # more threads: unmeasured, barrier waits grow


def test_rejects_bad_weight_tile_and_impl():
    with pytest.raises(ValueError, match="3,3"):
        winograd.winograd_weight(torch.zeros(4, 4, 5, 5))
    with pytest.raises(ValueError, match="tile"):
        winograd.winograd_weight(torch.zeros(4, 4, 3, 3), tile=3)
    with pytest.raises(ValueError, match="impl"):
        winograd.conv3x3(torch.zeros(1, 4, 4, 4), torch.zeros(4, 4, 3, 3), impl="nnpack")


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("dilation", [1, 2])
def test_bias_and_activation_fused_band_by_band_equal_conv_then_leaky_relu(monkeypatch, tile, dilation):
    """``slope``: the leaky ReLU after the conv (F(4x4,3x3) applies it and the bias per band, the bias
    in the transformed domain); several bands or one, the numbers of conv2d + leaky_relu."""
    torch.manual_seed(3)
    x = torch.randn(1, 8, 22, 18).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(6, 8, 3, 3) / (9 * 8) ** 0.5
    bias = torch.randn(6)
    ref = F.leaky_relu(F.conv2d(x, weight, bias, padding=dilation, dilation=dilation), 0.2)
    torch.testing.assert_close(winograd.conv3x3(x, weight, bias, dilation, impl="ref", slope=0.2), ref)
    monkeypatch.setattr(winograd, "CHUNK", 1)
    fast = winograd.conv3x3(x, weight, bias, dilation, tile=tile, slope=0.2)
    torch.testing.assert_close(fast, ref, atol=2e-6 * tile**2, rtol=1e-5)
    assert (fast < 0).any() and fast.is_contiguous(memory_format=torch.channels_last)
