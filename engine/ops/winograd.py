"""3x3 stride-1 "same" convolution by Winograd F(2x2, 3x3) (fast beside ``F.conv2d``, CPU float32).

Each 2x2 output tile costs 16 multiplies per (in, out) channel pair instead of 36, so on the
small, wide feature maps of the VToonify bottleneck (512 channels at H/8 x W/8: the residual and
ModRes blocks, a quarter of the network's FLOPs) the work becomes 16 matrix products plus a few
cheap add passes; oneDNN has no Winograd kernel for AVX2 CPUs. On large maps with few channels the
add passes cost more than the products save, so callers use it below ``MAX_PIXELS``, and only with
up to ``MAX_THREADS`` intra-op threads: each conv becomes some 40 small parallel passes plus a
batched GEMM, whose barrier waits grow with the thread count (two threads on a quiet 2-core AVX2
EPYC: the fp32 static network 1.43x the reference path with it vs 1.20x without, 256x256 input).

Dilation ``d`` (ModRes blocks: 4, 2, 1) is the same maths on the ``d x d`` interleaved sub-grids:
a tile's two outputs are ``d`` apart. ``impl='ref'`` is ``F.conv2d``; the fast route matches it
within float32 rounding (the transformed weights are computed in float64).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

IMPLS = ("ref", "fast")
MAX_PIXELS = 48 * 48
"""Largest H*W the fast route is used for (one thread, AVX2 EPYC, thread CPU time: 1.5-2x less than
oneDNN's direct conv at 32x32 with 512 channels, even at 64x64, 2.6x more at 256x256)."""
MIN_CHANNELS = 128
MAX_THREADS = 2
"""Used only when torch runs this many intra-op threads or fewer (untested beyond two: see the module
docstring)."""

# F(2,3) matrices (Lavin & Gray 2016): Y = A^T [(G g G^T) * (B^T d B)] A.
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """``[Cout,Cin,3,3]`` -> the transformed weight ``[16, Cin, Cout]`` (float64 maths, float32 out)."""
    if weight.ndim != 4 or weight.shape[-2:] != (3, 3):
        raise ValueError(f"winograd_weight needs a [Cout,Cin,3,3] weight, got {tuple(weight.shape)}")
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ak,oikl,bl->abio", g, weight.detach().double(), g)  # [4,4,Cin,Cout]
    return u.reshape(16, weight.shape[1], weight.shape[0]).float().contiguous()


def usable(x: torch.Tensor, cin: int, cout: int) -> bool:
    """Whether the fast route pays for ``x`` (CPU float32, wide in and out, small map, few threads)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and min(cin, cout) >= MIN_CHANNELS
            and x.shape[2] * x.shape[3] <= MAX_PIXELS and torch.get_num_threads() <= MAX_THREADS)


def _input_transform(x: torch.Tensor, d: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """x ``[N,C,H,W]`` -> V ``[16, T, C]`` (T tiles of 2x2 outputs ``d`` apart) and the tile grid."""
    n, c, h, w = x.shape
    eh, ew = (-h) % (2 * d), (-w) % (2 * d)  # round up to whole tiles; extra outputs are cropped
    hp, wp = h + eh, w + ew
    # d more zeros behind than the conv's own padding: each shifted view below spans whole blocks
    xp = F.pad(x, [d, 2 * d + ew, d, 2 * d + eh]).permute(0, 2, 3, 1).contiguous()  # [N,hp+3d,wp+3d,C]
    bh, bw = hp // (2 * d), wp // (2 * d)
    # Row k of every tile: input rows 2d*b + o + k*d (b: block, o < d: sub-grid).
    r = [xp[:, k * d : k * d + hp].view(n, bh, 2 * d, wp + 3 * d, c)[:, :, :d] for k in range(4)]
    rows = (r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3])  # B^T d, [N,bh,d,wp+3d,C] each
    v = x.new_empty(4, 4, n, bh, d, bw, d, c)
    for a, row in enumerate(rows):
        q = [row[:, :, :, k * d : k * d + wp].reshape(n, bh, d, bw, 2 * d, c)[:, :, :, :, :d] for k in range(4)]
        torch.sub(q[0], q[2], out=v[a, 0])
        torch.add(q[1], q[2], out=v[a, 1])
        torch.sub(q[2], q[1], out=v[a, 2])
        torch.sub(q[1], q[3], out=v[a, 3])
    return v.view(16, -1, c), (n, bh, d, bw, hp, wp)


def _output_transform(m: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    """M ``[16, T, Co]`` -> ``[N, hp, wp, Co]`` (A^T M A, each tile's 2x2 outputs put in place)."""
    n, bh, d, bw, hp, wp = grid
    co = m.shape[-1]
    m = m.view(4, 4, n, bh, d, bw, d, co)
    out = m.new_empty(n, bh, 2, d, bw, 2, d, co)
    for i, t in enumerate((m[0] + m[1] + m[2], m[1] - m[2] - m[3])):  # A^T over rows: [4,...] each
        torch.add(t[0], t[1], out=out[:, :, i, :, :, 0]).add_(t[2])
        torch.sub(t[1], t[2], out=out[:, :, i, :, :, 1]).sub_(t[3])
    return out.view(n, hp, wp, co)


def conv3x3(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    dilation: int = 1,
    transformed: torch.Tensor | None = None,
    impl: str = "fast",
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=dilation, dilation=dilation)`` for a 3x3 ``weight``.

    ``transformed``: ``winograd_weight(weight)``, computed once by callers that reuse the weight.
    Returns channels_last (like oneDNN's conv on channels_last input).
    """
    if impl == "ref":
        return F.conv2d(x, weight, bias, padding=dilation, dilation=dilation)
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    u = winograd_weight(weight) if transformed is None else transformed
    h, w = x.shape[2:]
    v, grid = _input_transform(x, dilation)
    y = _output_transform(torch.bmm(v, u), grid)[:, :h, :w]  # [N,H,W,Co]
    if bias is not None:
        y.add_(bias)
    y = y.permute(0, 3, 1, 2)
    return y if y.is_contiguous(memory_format=torch.channels_last) else y.contiguous(memory_format=torch.channels_last)
