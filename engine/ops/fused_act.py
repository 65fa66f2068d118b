"""Biased leaky ReLU with gain (StyleGAN2's ``fused_leaky_relu``): ``lrelu(x + b, 0.2) * sqrt(2)``.

The sqrt(2) gain keeps the activation variance of equalized-lr layers at 1. Two routes:
``'ref'`` spells the formula out with ``torch.where``; ``'fast'`` adds the bias once and then runs
leaky ReLU and the gain in place on that fresh tensor (two fewer full-size temporaries).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

IMPLS = ("ref", "fast")
DEFAULT_SLOPE = 0.2
DEFAULT_GAIN = math.sqrt(2.0)


def _bias_view(bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bias ``[C]`` broadcast over dim 1 of ``x`` ``[N, C, ...]``."""
    return bias.view(1, bias.shape[0], *([1] * (x.ndim - 2)))


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    negative_slope: float = DEFAULT_SLOPE,
    scale: float = DEFAULT_GAIN,
    impl: str = "ref",
) -> torch.Tensor:
    """``leaky_relu(x + bias[channel], negative_slope) * scale``; x ``[N, C, ...]``, bias ``[C]``."""
    if impl == "ref":
        if bias is not None:
            x = x + _bias_view(bias, x)
        return torch.where(x >= 0, x, x * negative_slope) * scale
    if impl == "fast":
        y = x + _bias_view(bias, x) if bias is not None else x.clone()
        if torch.is_grad_enabled() and y.requires_grad:
            return F.leaky_relu(y, negative_slope) * scale  # in-place ops would complicate autograd
        return F.leaky_relu_(y, negative_slope).mul_(scale)
    raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


class FusedLeakyReLU(nn.Module):
    """Per-channel bias + leaky ReLU + gain; the ``bias`` parameter is the checkpoint's ``activate.bias``."""

    def __init__(
        self,
        channels: int,
        bias: bool = True,
        negative_slope: float = DEFAULT_SLOPE,
        scale: float = DEFAULT_GAIN,
        impl: str = "ref",
    ) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.negative_slope = negative_slope
        self.scale = scale
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale, impl=self.impl)

    def extra_repr(self) -> str:
        n = 0 if self.bias is None else self.bias.shape[0]
        return f"channels={n}, slope={self.negative_slope}, impl={self.impl!r}"
