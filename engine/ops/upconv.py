"""The stride-2 3x3 transposed conv of StyleGAN's upsampling layers as two ordinary convs (fast beside
``F.conv_transpose2d``).

oneDNN's AVX2 deconvolution runs the decoder's 32-256 channel stages at 37-94 GFLOP/s where its
direct convs reach about 190. Output row ``2m`` takes input rows ``m-1`` and ``m`` (kernel rows 2 and
0), row ``2m+1`` only row ``m`` (kernel row 1), and the same holds for columns. So one 2x2 conv with
``2*Cout`` outputs (even then odd output column) makes the even output rows, and in channels_last
memory its ``[..., col, phase, C]`` values already sit in output column order; one 1x2 conv makes the
odd rows the same way, and a copy of whole rows interleaves the two. That is 12 taps for the 9 of
the kernel (the odd columns' missing taps are zeros) at about twice the rate: 256->128 channels at
128x128 72 ms against 90 ms, 64->32 at 512x512 80 against 106 (2-core AVX2 EPYC, fp32); on the
wide, small maps (512 channels at 32-64 px) the deconvolution stays faster, so callers time both
(``engine.models.autotune``).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

IMPLS = ("ref", "fast")


def row_phase_weights(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Transposed-conv weight ``[Cin,Cout,3,3]`` -> (even rows ``[2*Cout,Cin,2,2]``, odd rows
    ``[2*Cout,Cin,1,2]``), output channel ``phase*Cout + c`` for output column phase 0 / 1, channels_last.

    A conv with padding 1 sees input column ``q-1`` through tap 0 and ``q`` through tap 1; even output
    columns ``2q`` take kernel column 2 from ``q-1`` and column 0 from ``q``, odd ones column 1 from ``q``."""
    if weight.ndim != 4 or weight.shape[-2:] != (3, 3):
        raise ValueError(f"row_phase_weights needs a [Cin,Cout,3,3] weight, got {tuple(weight.shape)}")
    w = weight.transpose(0, 1)  # [Cout,Cin,3,3]
    cout, cin = w.shape[:2]
    phases = []
    for rows in ((2, 0), (1,)):  # even output rows: input rows m-1, m; odd: row m
        k = w.new_zeros(2, cout, cin, len(rows), 2)
        for i, r in enumerate(rows):
            k[0, :, :, i, 0] = w[:, :, r, 2]
            k[0, :, :, i, 1] = w[:, :, r, 0]
            k[1, :, :, i, 1] = w[:, :, r, 1]
        phases.append(k.reshape(2 * cout, cin, len(rows), 2).contiguous(memory_format=torch.channels_last))
    return phases[0], phases[1]


def conv_transpose3x3_s2(
    x: torch.Tensor,
    weight: torch.Tensor,
    phases: tuple[torch.Tensor, torch.Tensor] | None = None,
    impl: str = "fast",
) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, stride=2)``: x ``[N,Cin,H,W]``, weight ``[Cin,Cout,3,3]`` ->
    ``[N,Cout,2H+1,2W+1]`` channels_last. ``phases``: ``row_phase_weights(weight)``, made once by callers
    that reuse the weight."""
    if impl == "ref":
        return F.conv_transpose2d(x, weight, stride=2)
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    even_w, odd_w = row_phase_weights(weight) if phases is None else phases
    n, _, h, w = x.shape
    cout = even_w.shape[0] // 2
    even = F.conv2d(x, even_w, padding=1)  # [N,2Cout,H+1,W+1]: output rows 0, 2, .., 2H
    odd = F.conv2d(x, odd_w, padding=(0, 1))  # [N,2Cout,H,W+1]: rows 1, 3, .., 2H-1
    z = x.new_empty(n, 2 * h + 1, 2 * w + 1, cout)  # NHWC
    z[:, 0::2] = even.permute(0, 2, 3, 1).reshape(n, h + 1, 2 * w + 2, cout)[:, :, : 2 * w + 1]
    z[:, 1::2] = odd.permute(0, 2, 3, 1).reshape(n, h, 2 * w + 2, cout)[:, :, : 2 * w + 1]
    return z.permute(0, 3, 1, 2)
