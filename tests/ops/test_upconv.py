"""engine.ops.upconv: the stride-2 3x3 transposed conv as two row-phase convs, against
``F.conv_transpose2d`` (its reference route)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.ops import upconv

SHAPES = [  # (N, Cin, Cout, H, W): square, odd and unequal sides, one pixel, a batch
    (1, 8, 5, 8, 8),
    (2, 6, 7, 9, 13),
    (1, 4, 3, 1, 1),
    (3, 5, 4, 4, 11),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels_last", [True, False])
def test_row_phases_match_the_transposed_conv(device, shape, channels_last):
    n, cin, cout, h, w = shape
    torch.manual_seed(0)
    x = torch.randn(n, cin, h, w).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = (torch.randn(cin, cout, 3, 3) / (9 * cin) ** 0.5).to(device)
    expected = F.conv_transpose2d(x, weight, stride=2)
    got = upconv.conv_transpose3x3_s2(x, weight)
    assert got.shape == expected.shape == (n, cout, 2 * h + 1, 2 * w + 1)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    phases = upconv.row_phase_weights(weight)  # made once by a caller that reuses the weight
    torch.testing.assert_close(upconv.conv_transpose3x3_s2(x, weight, phases), got, atol=0, rtol=0)
    torch.testing.assert_close(upconv.conv_transpose3x3_s2(x, weight, impl="ref"), expected, atol=0, rtol=0)


def test_each_kernel_tap_lands_where_the_transposed_conv_puts_it():
    """One input pixel, one tap at a time: the row-phase route puts it on the same output pixel."""
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    for i in range(3):
        for j in range(3):
            weight = torch.zeros(1, 1, 3, 3)
            weight[0, 0, i, j] = 1.0
            got = upconv.conv_transpose3x3_s2(x, weight)[0, 0]
            assert got.nonzero().tolist() == [[2 + i, 2 + j]]


def test_bad_weights_and_impls_are_named():
    with pytest.raises(ValueError, match=r"\[Cin,Cout,3,3\]"):
        upconv.row_phase_weights(torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match="impl must be one of"):
        upconv.conv_transpose3x3_s2(torch.zeros(1, 2, 4, 4), torch.zeros(2, 2, 3, 3), impl="fastest")
