"""FIR resampling (upsample -> pad -> FIR filter -> downsample) for StyleGAN2 blurs.

The official VToonify code ships a CPU fallback of rosinality's CUDA op (``model/stylegan/op_cpu``);
this module gives the same maths in plain PyTorch, so importing it needs no compiler or GPU.
Two routes to one result, picked by ``impl``:

* ``'ref'``  – zero-insertion upsample, pad/crop, depthwise correlation with the flipped kernel,
  stride-slice downsample. Easy to check, wasteful for ``up=2`` (3/4 of the products hit zeros).
* ``'fast'`` – the same filter as a transposed convolution (``up > 1``) or a strided convolution
  (``down > 1``), which skips the zero products; falls back to ``'ref'`` when both are > 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

IMPLS = ("ref", "fast")


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    a, b = value
    return int(a), int(b)


def _pads(pad: Sequence[int]) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1); a 2-tuple applies to both axes, as in the official op."""
    if len(pad) == 2:
        return int(pad[0]), int(pad[1]), int(pad[0]), int(pad[1])
    if len(pad) == 4:
        return int(pad[0]), int(pad[1]), int(pad[2]), int(pad[3])
    raise ValueError(f"pad must have 2 or 4 entries, got {tuple(pad)}")


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    pad: Sequence[int] = (0, 0),
    impl: str = "ref",
) -> torch.Tensor:
    """Resample every channel of ``x`` with the 2-D FIR ``kernel``.

    Steps: 1. insert ``up - 1`` zeros after every sample; 2. pad (negative = crop) by ``pad``;
    3. convolve with ``kernel`` (true convolution, i.e. correlation with the flipped kernel);
    4. keep every ``down``-th sample.

    Args:
        x: ``[N, C, H, W]`` float tensor.
        kernel: ``[kh, kw]`` FIR filter (already scaled by ``up**2`` by the caller when upsampling).
        up, down: int or ``(x, y)`` factors.
        pad: ``(p0, p1)`` for both axes or ``(x0, x1, y0, y1)``.
        impl: ``'ref'`` or ``'fast'``.

    Returns:
        ``[N, C, (H*up_y + y0 + y1 - kh) // down_y + 1, (W*up_x + x0 + x1 - kw) // down_x + 1]``.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if x.ndim != 4 or kernel.ndim != 2:
        raise ValueError(
            f"expected x [N,C,H,W] and kernel [kh,kw], got {tuple(x.shape)}, {tuple(kernel.shape)}"
        )
    up_x, up_y = _pair(up)
    down_x, down_y = _pair(down)
    pads = _pads(pad)
    if impl == "fast":
        if down_x == down_y == 1 and up_x > 1 and up_x == up_y:
            return _upfirdn2d_transposed(x, kernel, up_x, pads)
        if up_x == up_y == 1:
            return _upfirdn2d_strided(x, kernel, down_x, down_y, pads)
    return _upfirdn2d_ref(x, kernel, up_x, up_y, down_x, down_y, pads)


def _pad_or_crop(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """F.pad takes negative amounts as crops; (x0, x1, y0, y1) order matches F.pad's last-dim-first."""
    if any(pads):
        x = F.pad(x, list(pads))
    return x


def _upfirdn2d_ref(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up_x: int,
    up_y: int,
    down_x: int,
    down_y: int,
    pads: tuple[int, int, int, int],
) -> torch.Tensor:
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    y = x.reshape(n * c, 1, h, w)  # [NC,1,H,W]: one channel per row, so one 1-channel conv filters all
    if up_x > 1 or up_y > 1:
        y = y.reshape(n * c, 1, h, 1, w, 1)
        y = F.pad(y, [0, up_x - 1, 0, 0, 0, up_y - 1])  # zeros after every sample
        y = y.reshape(n * c, 1, h * up_y, w * up_x)
    y = _pad_or_crop(y, pads)
    weight = torch.flip(kernel, [0, 1]).to(y.dtype).reshape(1, 1, kh, kw)
    y = F.conv2d(y, weight)
    y = y[:, :, ::down_y, ::down_x]
    return y.reshape(n, c, y.shape[2], y.shape[3])


def _upfirdn2d_transposed(
    x: torch.Tensor, kernel: torch.Tensor, up: int, pads: tuple[int, int, int, int]
) -> torch.Tensor:
    """Zero-insert + convolve == transposed conv with stride ``up``; then shift by the pads.

    The transposed conv's full output index t equals the ref's output index o + (k - 1 - p0), so the
    ref's window is the full output padded by ``p0 - (k - 1)`` in front and ``up + p1 - k`` behind.
    """
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    x0, x1, y0, y1 = pads
    y = x.reshape(n * c, 1, h, w)  # [NC,1,H,W]
    weight = kernel.to(y.dtype).reshape(1, 1, kh, kw)
    y = F.conv_transpose2d(y, weight, stride=up)  # [NC,1,(H-1)*up+kh,(W-1)*up+kw]
    y = _pad_or_crop(y, (x0 - (kw - 1), up + x1 - kw, y0 - (kh - 1), up + y1 - kh))
    return y.reshape(n, c, y.shape[2], y.shape[3])


def _upfirdn2d_strided(
    x: torch.Tensor, kernel: torch.Tensor, down_x: int, down_y: int, pads: tuple[int, int, int, int]
) -> torch.Tensor:
    """Filter and downsample in one strided depthwise conv (no discarded outputs)."""
    c = x.shape[1]
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
    y = _pad_or_crop(x, pads)
    return F.conv2d(y, weight, stride=(down_y, down_x), groups=c)
