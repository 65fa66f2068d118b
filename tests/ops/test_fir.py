"""engine.ops.fir: the grouped-conv FIR routes against upfirdn2d's reference, in both memory formats."""

from __future__ import annotations

import pytest
import torch

from engine.models.stylegan import make_fir_kernel
from engine.ops.fir import fir_filter, fir_upsample2x

KERNELS = {"blur x4": make_fir_kernel((1, 3, 3, 1), 4.0), "asymmetric 2x3": torch.arange(6.0).reshape(2, 3)}
PADS = [(1, 1), (2, 1), (0, -1, 1, 0), (0, 0)]


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("kernel_name", list(KERNELS))
@pytest.mark.parametrize("pad", PADS)
def test_fast_fir_routes_match_reference(device, memory_format, kernel_name, pad):
    torch.manual_seed(0)
    kernel = KERNELS[kernel_name].to(device)
    x = torch.randn(2, 5, 7, 9).to(device).contiguous(memory_format=memory_format)
    bias = torch.randn(5).to(device)
    pairs = [
        (fir_filter(x, kernel, pad, bias, impl="ref"), fir_filter(x, kernel, pad, bias, impl="fast")),
        (fir_upsample2x(x, kernel, pad, impl="ref"), fir_upsample2x(x, kernel, pad, impl="fast")),
    ]
    for ref, fast in pairs:
        assert fast.shape == ref.shape
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
        if memory_format == torch.channels_last:
            assert fast.is_contiguous(memory_format=torch.channels_last)  # no NCHW round trip


def test_fir_rejects_unknown_impl():
    with pytest.raises(ValueError, match="impl"):
        fir_filter(torch.zeros(1, 1, 4, 4), KERNELS["blur x4"], (1, 1), impl="cuda")
