"""3x3 stride-1 "same" convolution by Winograd F(2x2,3x3) / F(4x4,3x3) (fast beside ``F.conv2d``, CPU fp32).

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

The wide convs on the larger maps (encoder, fusion and first decoder convs at 64x64-128x128 with
256-1024 channels, a third of the network's FLOPs at 256x256) run F(4x4,3x3): 36 products per 16
outputs (4x fewer multiplies), transforms done as matrix products on cache-sized bands of tile
rows. Its float32 error is about 4x F(2x2,3x3)'s; over the whole network the output moves by
under 1e-6 (``benchmarks/bench_inference.py``'s max_abs_diff). The transformed weights are 4x the
size of the 3x3 ones (about 190 MB for the official widths, made once per shot).

F(4x4,3x3)'s tile transforms run in C where ``engine.ops.native`` could build its kernels
(``winograd_native``), else as torch ops (``_conv_f4``: the fallback, and the kernels' reference in
the tests); the two agree within float32 rounding. With the kernels there is F(6x6,3x3) too (NNPACK's
points 0, +-1, +-2, +-1/2: 64 products per 36 outputs, 0.79x F(4x4,3x3)'s; float32 error about
1.5-2x F(4x4,3x3)'s), timed by ``engine.models.autotune`` beside the others; without them a tile-6
route is the direct conv.

bfloat16 maps (the bf16 static network) have F(4x4,3x3) and F(6x6,3x3) through the C kernels only:
the tiles are transformed in float32 and stored as bf16, the products run as a bf16 ``torch.bmm`` (the
CPU's bf16 dot-product units: 4-5x fewer multiplies than oneDNN's bf16 direct conv), and A^T M A is
taken in float32 from the bf16 products. The error is a few bf16 roundings of the transformed values,
amplified by the transforms (``benchmarks/bench_inference.py --precision bf16`` gives the network's
PSNR against fp32); without the kernels bf16 convs stay direct.
"""

from __future__ import annotations

import ctypes

import torch
from torch.nn import functional as F

from engine.ops import native

IMPLS = ("ref", "fast")
DTYPES = (torch.float32, torch.bfloat16)
"""Map dtypes with Winograd routes (bfloat16: the C kernels' F(4x4,3x3) and F(6x6,3x3) only)."""
TILES = (2, 4, 6)
"""Output tile sides: F(2x2,3x3), F(4x4,3x3) (4x fewer multiplies than a direct conv, float32 error
about 4x that of F(2x2,3x3), ~1e-5 of the output's scale) and F(6x6,3x3) (5x fewer; C kernels
only), any dilation."""
MAX_PIXELS = 48 * 48
"""Largest H*W F(2x2,3x3) is used for (one thread, AVX2 EPYC, thread CPU time: 1.5-2x less than
oneDNN's direct conv at 32x32 with 512 channels, even at 64x64, 2.6x more at 256x256)."""
MIN_CHANNELS = 128
MIN_CHANNELS_4 = 256
"""Narrowest in or out width F(4x4,3x3) is used for on larger maps (one thread: 2.4x less CPU time
than the direct conv at 512 channels on 64x64, 1.3x at 256 on 128x128, 2.5x more at 128 on 256x256)."""
CHUNK = 1 << 16
"""F(4x4,3x3) runs on bands of tile rows of about ``CHUNK`` input values each (36 times that
transformed), so its buffers stay in cache and memory bounded whatever the map size."""
MAX_THREADS = 2
"""The fixed rules (``tile_for``) use it only when torch runs this many intra-op threads or fewer
(untested beyond two: see the module docstring). ``engine.models.autotune`` times the routes
instead (``candidate_tiles``), at any thread count."""

# F(2,3) matrices (Lavin & Gray 2016): Y = A^T [(G g G^T) * (B^T d B)] A.
_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
# F(4,3) at points 0, +-1, +-2 (Lavin & Gray 2016): 6x6 input tiles, 36 products per 16 outputs.
_G4 = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
       (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_BT4 = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0),
        (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_AT4 = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
# F(6,3) at points 0, +-1, +-2, +-1/2 (NNPACK's); its B^T and A^T live in winograd_tiles.c only.
_G6 = ((1, 0, 0), (-2 / 9, -2 / 9, -2 / 9), (-2 / 9, 2 / 9, -2 / 9), (1 / 90, 1 / 45, 2 / 45),
       (1 / 90, -1 / 45, 2 / 45), (32 / 45, 16 / 45, 8 / 45), (32 / 45, -16 / 45, 8 / 45), (0, 0, 1))


def winograd_weight(weight: torch.Tensor, tile: int = 2) -> torch.Tensor:
    """``[Cout,Cin,3,3]`` -> the transformed weight ``[(tile+2)**2, Cin, Cout]`` (float64 maths, float32 out)."""
    if weight.ndim != 4 or weight.shape[-2:] != (3, 3):
        raise ValueError(f"winograd_weight needs a [Cout,Cin,3,3] weight, got {tuple(weight.shape)}")
    if tile not in TILES:
        raise ValueError(f"tile must be one of {TILES}, got {tile!r}")
    g = torch.tensor({2: _G, 4: _G4, 6: _G6}[tile], dtype=torch.float64, device=weight.device)
    u = torch.einsum("ak,oikl,bl->abio", g, weight.detach().double(), g)  # [t,t,Cin,Cout]
    return u.reshape(-1, weight.shape[1], weight.shape[0]).float().contiguous()


def tile_for(x: torch.Tensor, cin: int, cout: int, dilation: int = 1) -> int:
    """The Winograd tile that pays for a 3x3 conv of ``x`` (CPU, wide in and out, few threads), 0 for the
    direct conv. With the C kernels (float32 and bfloat16): 6 where each dilation sub-grid is at least
    ``TUNE_MIN_SIDE_6`` a side, else 4 where it is at least 8, which is what autotune chose for every wide
    conv of the 256x256 network on an AVX512-BF16 EPYC in bfloat16 (F(4x4,3x3) 2x faster than oneDNN's
    bf16 direct conv at 32x32, F(6x6,3x3) 1.4-2.6x at 64-128 px) and measured fastest in float32 (below).
    Without them float32 takes 2 on small maps, 4 on larger ones (dilation 1), bfloat16 the direct conv."""
    if not (x.device.type == "cpu" and min(cin, cout) >= MIN_CHANNELS and torch.get_num_threads() <= MAX_THREADS):
        return 0
    side = min(x.shape[2:]) // dilation
    # With the C tile kernels, each wide conv of the 256x256 and 400x320 networks in float32 (one thread,
    # thread CPU time, min of 3, 2-core AVX512-BF16 EPYC), direct / F(4x4) / F(6x6) in ms: 256->128 at
    # 256x256 379 / 265 / 199; 128->128 at 256x256 182 / 129 / 116; 512->256 at 128x128 398 / 176 / 163;
    # 256->256 at 128x128 181 / 110 / 92; 512->512 at 64x64 187 / 74 / 61; 1024->512 at 64x64 477 / 160 /
    # 178; 512->512 at 32x32 (dilation 1, 2, 4) and 50x40: F(4x4) 23-55 against F(2x2)'s 30-68. The
    # float32 rules below (measured on an AVX2 EPYC before the C kernels) ran 256x256 maps direct, and
    # autotune falls back to the rules when its budget runs out on a loaded machine.
    if x.dtype in DTYPES and side >= 8 and native.library() is not None:
        return 6 if side >= TUNE_MIN_SIDE_6 else 4
    if x.dtype != torch.float32:
        return 0
    if x.shape[2] * x.shape[3] <= MAX_PIXELS:
        return 2
    return 4 if dilation == 1 and min(cin, cout) >= MIN_CHANNELS_4 else 0


TUNE_MAX_PIXELS_2 = 64 * 64
"""Largest H*W F(2x2,3x3) is timed at by ``engine.models.autotune`` (2.5x slower than direct at 128x128)."""
TUNE_MAX_PIXELS_4 = 128 * 128
"""Largest H*W F(4x4,3x3) is timed at with under ``MIN_CHANNELS_4`` channels (256->128 at 256x256:
1.8-2.6x slower than direct; timing it alone would cost about 3 s per shot)."""


TUNE_MIN_SIDE_6 = 48
"""Smallest map side (per dilation sub-grid) F(6x6,3x3) is timed at: with the C kernels it took 0.8-0.9x
F(4x4,3x3)'s time on 64x64-128x128 maps with 256-512 channels, 1.2x on 32x32 (a 6x6 tile grid
wastes more of a small map)."""


def candidate_tiles(x: torch.Tensor, cin: int, cout: int, dilation: int = 1) -> tuple[int, ...]:
    """The Winograd tiles worth timing for a 3x3 conv of ``x`` (CPU float32, any thread count):
    F(2x2,3x3) on maps up to 64x64, F(4x4,3x3) where each of the ``dilation``-interleaved sub-grids
    is at least 8x8 (two tiles a side); both only with wide in and out (``MIN_CHANNELS``). Routes
    that lost by 2x or more whenever measured are left out, so tuning a shot stays cheap. On the
    512-channel 32x32 bottleneck F(4x4,3x3) took 13-15 ms against F(2x2,3x3)'s 16 (dilation 1, 2, 4;
    its transformed weights are 2.25x F(2x2,3x3)'s); at 40x40, dilation 4, it lost (31 vs 24 ms).
    F(6x6,3x3) (C kernels only) from ``TUNE_MIN_SIDE_6`` up. bfloat16 maps: F(4x4,3x3) and F(6x6,3x3),
    C kernels only."""
    if not (x.device.type == "cpu" and x.dtype in DTYPES and min(cin, cout) >= MIN_CHANNELS):
        return ()
    if x.dtype == torch.bfloat16 and native.library() is None:
        return ()
    h, w = x.shape[2:]
    tiles = [2] if h * w <= TUNE_MAX_PIXELS_2 and x.dtype == torch.float32 else []
    if min(h, w) >= 8 * dilation:
        tiles.append(4)
    if min(h, w) >= TUNE_MIN_SIDE_6 * dilation and native.library() is not None:
        tiles.append(6)
    return tuple(tiles)


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


def _conv_f4(x: torch.Tensor, u: torch.Tensor, d: int = 1, bias: torch.Tensor | None = None,
             slope: float | None = None) -> torch.Tensor:
    """F(4x4,3x3): x ``[N,C,H,W]``, u ``[36,C,Co]`` -> ``[N, H', W', Co]`` (whole tiles, H' >= H).

    Per band of tile rows (padded band by band: no padded copy of the whole map): gather the 6x6
    input tiles, transform them by B^T over tile rows then columns (two 6x6 matrix products: a third
    of the multiplies of one 36x36 Kronecker product, 10-25% faster), 36 products with the
    weights, and A^T over rows and columns back to 4x4 outputs. Dilation ``d`` splits the map
    into its ``d x d`` interleaved sub-grids (zeros appended up to multiples of ``d``: the conv's own
    padding), each an undilated conv."""
    n, c, h, w = x.shape
    co = u.shape[-1]
    if d > 1:
        sh, sw = -(-h // d), -(-w // d)
        if h % d or w % d:
            x = F.pad(x, [0, sw * d - w, 0, sh * d - h])
        sub = x.reshape(n, c, sh, d, sw, d).permute(0, 3, 5, 1, 2, 4).reshape(n * d * d, c, sh, sw)
        y = _conv_f4(sub, u, 1, bias, slope)[:, :sh, :sw]  # [N*d*d, H/d, W/d, Co]
        return y.reshape(n, d, d, sh, sw, co).permute(0, 3, 1, 4, 2, 5).reshape(n, sh * d, sw * d, co)
    th, tw = -(-h // 4), -(-w // 4)
    bt = torch.tensor(_BT4, dtype=x.dtype, device=x.device)  # beside x: a CUDA map has CUDA transforms
    at = torch.tensor(_AT4, dtype=x.dtype, device=x.device)
    nhwc = x.permute(0, 2, 3, 1)
    out = x.new_empty(n, th, 4, tw, 4, co)
    rows = max(1, CHUNK // (n * tw * max(c, co)))
    for r in range(0, th, rows):
        r1 = min(th, r + rows)
        top, stop = 4 * r - 1, 4 * r1 + 1  # input rows of the band's tiles, the conv's zero rows included
        lo, hi = max(0, top), min(h, stop)
        band = F.pad(nhwc[:, lo:hi], [0, 0, 1, 4 * tw - w + 1, lo - top, stop - hi])  # [N,rows*4+2,4tw+2,C]
        tiles = band.unfold(1, 6, 4).unfold(2, 6, 4)  # [N,r1-r,tw,C,6,6]
        d6 = tiles.permute(4, 5, 0, 1, 2, 3).reshape(6, -1)  # [6, 6*T*C]: tile rows, then columns
        v = torch.matmul(bt, (bt @ d6).view(6, 6, -1)).view(36, -1, c)  # B^T d B: [36,T,C]
        m = torch.bmm(v, u)  # [36,T,Co]
        if bias is not None:
            m[7].add_(bias)  # A^T e_1 is all ones: at point (1,1) the bias reaches all 16 outputs
        y = torch.matmul(at, (at @ m.view(6, -1)).view(4, 6, -1))  # A^T M A: [4,4,T*Co]
        if slope is not None:
            F.leaky_relu_(y, slope)  # while the band is in cache
        out[:, r:r1].copy_(y.view(4, 4, n, r1 - r, tw, co).permute(2, 3, 0, 4, 1, 5))
    return out.view(n, 4 * th, 4 * tw, co)


def winograd_native(lib, x: torch.Tensor, u: torch.Tensor, d: int = 1, bias: torch.Tensor | None = None,
                    slope: float | None = None, tile: int = 4) -> torch.Tensor:
    """F(``tile``x``tile``,3x3) (4 or 6) with its transforms in C (``engine.ops.native``, loaded as
    ``lib``): x ``[N,C,H,W]`` float32, u ``[(tile+2)**2,C,Co]`` -> ``[N,Co,H,W]`` channels_last, bias
    and leaky ReLU applied (``_conv_f4``'s maths for tile 4).

    Per band of tile rows, one pass reads each 6x6 input tile where it lies and writes B^T d B (no
    padded band, no gathered copy, no split into dilation sub-grids: each of the ``d x d`` sub-grids
    is addressed in place by its offset and ``d``-times strides); after the 36 products, another
    pass writes A^T M A with bias and activation straight into the output's pixels. V is written
    tile by tile (``[T,36,C]`` memory, one write stream; ``torch.bmm`` reads it through strides) and
    the bands reuse two buffers. In the 256x256 network: F(4x4,3x3)'s transforms and copies 0.25 s
    a frame against the torch route's 0.39, the network 1.05x faster (A/B in one process)."""
    if x.dtype not in DTYPES or x.device.type != "cpu" or u.dtype != x.dtype:
        raise ValueError("winograd_native needs CPU maps and weights, both float32 or both bfloat16, "
                         f"got {x.dtype} on {x.device.type} and {u.dtype} weights")
    if tile not in (4, 6):
        raise ValueError(f"winograd_native has tiles 4 and 6, got {tile!r}")
    x = x.contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    co = u.shape[-1]
    out = torch.empty(n, co, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    images = [(b, dy, dx) for b in range(n) for dy in range(d) for dx in range(d)]
    count = len(images)
    longs, ints = ctypes.c_int64 * count, ctypes.c_int * count
    in_off = longs(*(b * h * w * c + dy * w * c + dx * c for b, dy, dx in images))
    out_off = longs(*(b * h * w * co + dy * w * co + dx * co for b, dy, dx in images))
    heights = ints(*(-(-(h - dy) // d) for _, dy, _ in images))
    widths = ints(*(-(-(w - dx) // d) for _, _, dx in images))
    th, tw = -(-h // (tile * d)), -(-w // (tile * d))
    points = (tile + 2) ** 2
    rows = max(1, CHUNK // (count * tw * max(c, co)))
    per_band = count * rows * tw
    v_buf, m_buf = x.new_empty(per_band * points * c), x.new_empty(points * per_band * co)
    bias = None if bias is None else bias.float().contiguous()  # kept alive for the calls below
    ptr, threads = ctypes.c_void_p, torch.get_num_threads()
    suffix = "_bf16" if x.dtype == torch.bfloat16 else ""
    forward, back = getattr(lib, f"f{tile}_input{suffix}"), getattr(lib, f"f{tile}_output{suffix}")
    for r in range(0, th, rows):
        r1 = min(th, r + rows)
        tiles = count * (r1 - r) * tw
        if x.dtype == torch.bfloat16:  # oneDNN's bf16 bmm copies a strided V first: write it point by point
            v = v_buf[: tiles * points * c].view(points, tiles, c)
        else:
            v = v_buf[: tiles * points * c].view(tiles, points, c).transpose(0, 1)  # [P,T,C] read tile by tile
        m = m_buf[: points * tiles * co].view(points, tiles, co)
        forward(ptr(x.data_ptr()), count, in_off, heights, widths, d * w * c, d * c, c, r, r1, tw,
                ptr(v.data_ptr()), v.stride(0), v.stride(1), threads)
        torch.bmm(v, u, out=m)
        back(ptr(m.data_ptr()), count, out_off, heights, widths, d * w * co, d * co, co, r, r1, tw,
             m.stride(0), m.stride(1), None if bias is None else ptr(bias.data_ptr()), slope is not None,
             0.0 if slope is None else slope, ptr(out.data_ptr()), threads)
    return out


def conv3x3(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    dilation: int = 1,
    transformed: torch.Tensor | None = None,
    impl: str = "fast",
    tile: int = 2,
    slope: float | None = None,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=dilation, dilation=dilation)`` for a 3x3 ``weight``,
    followed by ``F.leaky_relu_(., slope)`` when ``slope`` is given.

    ``transformed``: ``winograd_weight(weight, tile)``, computed once by callers that reuse the
    weight; ``tile``: 2 (F(2x2,3x3)) or 4 (F(4x4,3x3): bias and activation applied band by band,
    transforms in C on CPU float32 where ``engine.ops.native`` has its kernels).
    Returns channels_last (like oneDNN's conv on channels_last input).
    """
    if impl == "ref":
        y = F.conv2d(x, weight, bias, padding=dilation, dilation=dilation)
        return y if slope is None else F.leaky_relu_(y, slope)
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    on_cpu = x.device.type == "cpu" and x.dtype in DTYPES
    lib = native.library() if tile in (4, 6) and on_cpu else None
    if (tile == 6 or x.dtype == torch.bfloat16) and lib is None:  # no kernels here: the direct conv, same numbers
        return conv3x3(x, weight, bias, dilation, impl="ref", slope=slope).contiguous(memory_format=torch.channels_last)
    u = winograd_weight(weight, tile).to(x.dtype) if transformed is None else transformed
    h, w = x.shape[2:]
    if lib is not None:
        return winograd_native(lib, x, u, dilation, bias, slope, tile)
    if tile == 4:
        y = _conv_f4(x, u, dilation, bias, slope)[:, :h, :w]
    else:
        v, grid = _input_transform(x, dilation)
        y = _output_transform(torch.bmm(v, u), grid)[:, :h, :w]  # [N,H,W,Co]
        if bias is not None:
            y.add_(bias)
        if slope is not None:
            F.leaky_relu_(y, slope)
    y = y.permute(0, 3, 1, 2)
    return y if y.is_contiguous(memory_format=torch.channels_last) else y.contiguous(memory_format=torch.channels_last)
