"""Depthwise FIR filtering and 2x upsampling that keep the memory format (fast beside ``upfirdn2d``).

``upfirdn2d`` folds channels into the batch (``[N*C, 1, H, W]``), which forces an NCHW copy of a
channels_last tensor and runs a 1-channel conv; these run the same filters as one grouped conv
(``groups=C``), optionally adding a per-channel bias in the same pass. Each has a reference route
(``impl='ref'``: ``upfirdn2d`` + bias) picked by ``impl``, and a test comparing the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from engine.ops.upfirdn2d import _pads, upfirdn2d

IMPLS = ("ref", "fast")


def _depthwise(kernel: torch.Tensor, x: torch.Tensor, flip: bool) -> torch.Tensor:
    """``[kh,kw]`` -> ``[C,1,kh,kw]`` in x's dtype (flipped for correlation-style conv2d)."""
    k = torch.flip(kernel, [0, 1]) if flip else kernel
    return k.to(device=x.device, dtype=x.dtype).expand(x.shape[1], 1, *k.shape).contiguous()


def _add_bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return y if bias is None else y + bias.view(1, -1, 1, 1).to(y.dtype)


def fir_filter(
    x: torch.Tensor,
    kernel: torch.Tensor,
    pad: Sequence[int],
    bias: torch.Tensor | None = None,
    impl: str = "fast",
) -> torch.Tensor:
    """``upfirdn2d(x, kernel, pad=pad) + bias[channel]``; x ``[N,C,H,W]``, kernel ``[kh,kw]``, bias ``[C]``."""
    if impl == "ref":
        return _add_bias(upfirdn2d(x, kernel, pad=pad, impl="ref"), bias)
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    x0, x1, y0, y1 = _pads(pad)
    weight = _depthwise(kernel, x, flip=True)
    if x0 == x1 == y0 == y1 and x0 >= 0:  # one conv does pad, filter and bias
        return F.conv2d(x, weight, bias, padding=x0, groups=x.shape[1])
    return F.conv2d(F.pad(x, [x0, x1, y0, y1]), weight, bias, groups=x.shape[1])


def fir_upsample2x(
    x: torch.Tensor, kernel: torch.Tensor, pad: Sequence[int], impl: str = "fast"
) -> torch.Tensor:
    """``upfirdn2d(x, kernel, up=2, pad=pad)`` as one grouped transposed conv (stride 2)."""
    if impl == "ref":
        return upfirdn2d(x, kernel, up=2, pad=pad, impl="ref")
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    x0, x1, y0, y1 = _pads(pad)
    kh, kw = kernel.shape
    # The transposed conv's full output is the reference window widened by (k-1-p0) in front and
    # (k-2-p1) behind (see upfirdn2d._upfirdn2d_transposed); equal crops are the conv's own padding.
    crops = (kw - 1 - x0, kw - 2 - x1, kh - 1 - y0, kh - 2 - y1)
    weight = _depthwise(kernel, x, flip=False)
    if len(set(crops)) == 1 and crops[0] >= 0:
        return F.conv_transpose2d(x, weight, stride=2, padding=crops[0], groups=x.shape[1])
    y = F.conv_transpose2d(x, weight, stride=2, groups=x.shape[1])
    return F.pad(y, [-c for c in crops])
