"""VToonify-D's fusion mask logits ``conv3x3(IN(cat[g, |g - e|]) * gamma + beta)`` (one output channel)
without the three 2C-channel intermediates (fast beside the torch route, CPU fp32).

The torch route writes ``|g - e|``, its concatenation with ``g`` and the normalised copy, full size,
only to reduce them to one channel. The C kernels (``engine.ops.native``, ``fusion_gate.c``) read
``g`` and ``e`` twice for the norm's statistics (two-pass, double sums) and once for the nine
per-pixel tap sums; the taps are then added shifted, which is the conv (zero padding: a tap that
falls outside the map adds nothing). ``impl='ref'`` is the torch route; both agree within float32
rounding.
"""

from __future__ import annotations

import ctypes

import torch
from torch.nn import functional as F

IMPLS = ("ref", "fast")


def _samples(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def moments(lib, g: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, biased var) of ``cat[g, |g - e|]`` per sample and channel, each ``[N,1,2C]`` float32."""
    g, e = _samples(g), _samples(e)
    n, c, h, w = g.shape
    ptr, threads, count = ctypes.c_void_p, torch.get_num_threads(), h * w
    sums = torch.empty(n, 1, 2 * c, dtype=torch.float64)
    means = torch.empty(n, 1, 2 * c)
    variances = torch.empty(n, 1, 2 * c)
    for b in range(n):
        gp, ep = ptr(g[b].data_ptr()), ptr(e[b].data_ptr())
        lib.gate_moments(gp, ep, count, c, None, ptr(sums[b].data_ptr()), threads)
        means[b] = (sums[b] / count).float()
        lib.gate_moments(gp, ep, count, c, ptr(means[b].data_ptr()), ptr(sums[b].data_ptr()), threads)
        variances[b] = (sums[b] / count).float()
    return means, variances


def mask_logits(
    g: torch.Tensor,
    e: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    eps: float = 1e-5,
    impl: str = "fast",
    lib=None,
) -> torch.Tensor:
    """``F.conv2d(IN(cat[g, |g - e|]) * gamma + beta, weight, bias, padding=1)`` -> ``[N,1,H,W]``.

    g, e ``[N,C,H,W]``; gamma, beta ``[1,2C,1,1]``; weight ``[1,2C,3,3]``; ``stats`` the norm's
    (mean, var) ``[N,1,2C]`` when they come from elsewhere (a strip normalised with its frame's),
    else computed here. ``lib``: the loaded kernels, required by ``impl='fast'``.
    """
    if impl == "ref":
        v = torch.cat([g, (g - e).abs()], 1).float()
        if stats is None:
            mean = v.mean((2, 3), keepdim=True)
            var = (v - mean).square().mean((2, 3), keepdim=True)
        else:
            mean, var = (s.permute(0, 2, 1).unsqueeze(-1) for s in stats)
        normed = (v - mean) * (gamma * torch.rsqrt(var + eps)) + beta
        return F.conv2d(normed, weight.float(), None if bias is None else bias.float(), padding=1)
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if lib is None or g.dtype != torch.float32 or g.device.type != "cpu" or e.dtype != g.dtype:
        raise ValueError("impl='fast' needs the loaded kernels (engine.ops.native.library()) and CPU float32 maps")
    g, e = _samples(g), _samples(e)
    n, c, h, w = g.shape
    mean, var = moments(lib, g, e) if stats is None else stats
    taps = weight.float().reshape(2 * c, 9).t()  # [9, 2C]: tap t = 3 * ky + kx
    constant = taps @ beta.float().view(2 * c)  # [9]: the normalised values' offset, per tap
    out = torch.empty(n, 1, h, w)
    ptr, threads = ctypes.c_void_p, torch.get_num_threads()
    for b in range(n):
        scale = gamma.float().view(2 * c) * torch.rsqrt(var[b].view(2 * c) + eps)
        w_b = (taps * scale).contiguous()
        mean_b = mean[b].reshape(2 * c).float().contiguous()
        per_pixel = torch.empty(h, w, 9)
        lib.gate_taps(ptr(g[b].data_ptr()), ptr(e[b].data_ptr()), h * w, c, ptr(mean_b.data_ptr()),
                      ptr(w_b.data_ptr()), ptr(constant.data_ptr()), ptr(per_pixel.data_ptr()), threads)
        padded = F.pad(per_pixel.permute(2, 0, 1), (1, 1, 1, 1))  # [9, H+2, W+2]: outside adds nothing
        logits = out[b, 0]
        logits.fill_(0.0 if bias is None else float(bias.reshape(-1)[0]))
        for t in range(9):
            ky, kx = divmod(t, 3)
            logits.add_(padded[t, ky : ky + h, kx : kx + w])
    return out
