"""VToonify-D's fusion mask logits ``conv3x3(IN(cat[g, |g - e|]) * gamma + beta)`` (one output channel)
without the three 2C-channel intermediates, and its skip conv ``conv3x3(cat[skip, e * m])`` (three
outputs) without the gated feature's concatenation (fast beside the torch route, CPU fp32).

The torch route writes ``|g - e|``, its concatenation with ``g`` and the normalised copy, full size,
only to reduce them to one channel. The C kernels (``engine.ops.native``, ``fusion_gate.c``) read
``g`` and ``e`` twice for the norm's statistics (two-pass, double sums) and once for the nine
per-pixel tap sums; the taps are then added shifted, which is the conv (zero padding: a tap that
falls outside the map adds nothing). The skip conv is the same tap sums (27 per pixel) over ``skip``
and ``e * m``, formed as they are read. The maps may be float32 or bfloat16 (the bf16 static network:
the kernels read bf16 and compute in float32, so no float32 copy of the maps is made); the mask and
the returned logits are float32. ``impl='ref'`` is the torch route; both agree within float32 rounding.
"""

from __future__ import annotations

import ctypes

import torch
from torch.nn import functional as F

IMPLS = ("ref", "fast")


def _samples(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


DTYPES = (torch.float32, torch.bfloat16)
"""The feature-map dtypes the kernels read."""


def _kernel(lib, name: str, *maps: torch.Tensor):
    """``lib``'s entry point ``name`` for ``maps`` (CPU, all float32 or all bfloat16: ``name_bf16``)."""
    dtypes = {x.dtype for x in maps}
    if lib is None or len(dtypes) != 1 or not dtypes <= set(DTYPES) or any(x.device.type != "cpu" for x in maps):
        raise ValueError("impl='fast' needs the loaded kernels (engine.ops.native.library()) and CPU maps, "
                         "all float32 or all bfloat16")
    return getattr(lib, name + ("_bf16" if dtypes == {torch.bfloat16} else ""))


def _add_shifted(per_pixel: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out [H,W,Co] += sum_t per_pixel[y + ky - 1, x + kx - 1, t]`` for ``per_pixel [H,W,9,Co]``:
    conv2d's taps, zero outside the map."""
    h, w = per_pixel.shape[:2]
    padded = F.pad(per_pixel, (0, 0, 0, 0, 1, 1, 1, 1))  # [H+2, W+2, 9, Co]
    for t in range(9):
        ky, kx = divmod(t, 3)
        out.add_(padded[ky : ky + h, kx : kx + w, t])
    return out


def moments(lib, g: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, biased var) of ``cat[g, |g - e|]`` per sample and channel, each ``[N,1,2C]`` float32."""
    kernel = _kernel(lib, "gate_moments", g, e)
    g, e = _samples(g), _samples(e)
    n, c, h, w = g.shape
    ptr, threads, count = ctypes.c_void_p, torch.get_num_threads(), h * w
    sums = torch.empty(n, 1, 2 * c, dtype=torch.float64)
    means = torch.empty(n, 1, 2 * c)
    variances = torch.empty(n, 1, 2 * c)
    for b in range(n):
        gp, ep = ptr(g[b].data_ptr()), ptr(e[b].data_ptr())
        kernel(gp, ep, count, c, None, ptr(sums[b].data_ptr()), threads)
        means[b] = (sums[b] / count).float()
        kernel(gp, ep, count, c, ptr(means[b].data_ptr()), ptr(sums[b].data_ptr()), threads)
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
    kernel = _kernel(lib, "gate_taps", g, e)
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
        kernel(ptr(g[b].data_ptr()), ptr(e[b].data_ptr()), h * w, c, ptr(mean_b.data_ptr()),
               ptr(w_b.data_ptr()), ptr(constant.data_ptr()), ptr(per_pixel.data_ptr()), threads)
        logits = out[b, 0].unsqueeze(-1).fill_(0.0 if bias is None else float(bias.reshape(-1)[0]))  # [H,W,1]
        _add_shifted(per_pixel.unsqueeze(-1), logits)
    return out


def skip_conv(
    skip: torch.Tensor,
    e: torch.Tensor,
    m: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    impl: str = "fast",
    lib=None,
) -> torch.Tensor:
    """``F.conv2d(cat[skip, e * m], weight, bias, padding=1)`` -> ``[N,3,H,W]`` channels_last, in skip's dtype.

    skip ``[N,3,H,W]``, e ``[N,C,H,W]`` (both float32 or both bfloat16), m ``[N,1,H,W]`` (the fusion's
    mask, float32 for the kernel), weight ``[3,3+C,3,3]``.
    """
    if impl == "ref":
        return F.conv2d(torch.cat([skip, e * m.to(e.dtype)], 1), weight.to(e.dtype),
                        None if bias is None else bias.to(e.dtype), padding=1)
    if impl != "fast":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    kernel = _kernel(lib, "skip_taps", skip, e)
    if m.dtype != torch.float32:
        raise ValueError(f"impl='fast' takes the mask as float32, got {m.dtype}")
    skip, e, m = _samples(skip), _samples(e), m.contiguous()
    n, c, h, w = e.shape
    rows = weight.float().permute(2, 3, 0, 1).reshape(27, 3 + c).contiguous()  # row 3 * t + o
    out = torch.empty(n, 3, h, w, memory_format=torch.channels_last)
    ptr, threads = ctypes.c_void_p, torch.get_num_threads()
    for b in range(n):
        per_pixel = torch.empty(h, w, 9, 3)
        kernel(ptr(skip[b].data_ptr()), ptr(e[b].data_ptr()), ptr(m[b].data_ptr()), h * w, c,
               ptr(rows.data_ptr()), ptr(per_pixel.data_ptr()), threads)
        rgb = out[b].permute(1, 2, 0)  # [H,W,3] view of the channels_last output
        rgb.copy_((bias if bias is not None else torch.zeros(3)).float().view(1, 1, 3).expand(h, w, 3))
        _add_shifted(per_pixel, rgb)
    return out.to(skip.dtype)
