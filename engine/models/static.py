"""Per-shot static VToonify: the shot's constant style folded into plain conv weights, once.

In a shot the W+ code, the exemplar and d_s never change, so everything that depends only on them
is computed when the shot starts: modulation and demodulation become ordinary conv weights (one
set, not one per frame of the batch), the ModRes and fusion AdaIN parameters and the d_s label MLP
become per-channel constants, the zero noise is dropped, and the sqrt(2) activation gains, the
1/sqrt(2) of the residual blocks and the d_s weight of the ModRes blocks move into the weights of
the conv in front of them (leaky ReLU is positively homogeneous). What is left per frame are
convolutions in channels_last (the layout oneDNN and cuDNN's tensor cores run fastest; float32 on
CUDA runs NCHW, ``memory_format_for``), in-place activations,
and instance-norm statistics, which are always taken in float32. On CPU the wide 3x3 convs may
run as Winograd convs (``engine.ops.winograd``): F(2x2,3x3) on the small bottleneck maps,
F(4x4,3x3) on the larger ones, each where timing it on the shot's first frame says it pays
(``engine.models.autotune``; off, the fixed rules of ``winograd.tile_for`` choose), and the
upsampling convs as two row-phase convs (``engine.ops.upconv``) where timing says so. The large
decoder stages run in strips (``STRIP_PIXELS``, ``tiled``).

The general ``VToonify`` stays the reference path: ``static_vtoonify(model, style, d_s)(x)`` returns
what ``model(x, style.expand(N, ...), d_s=d_s)`` returns, within float rounding (tests check it
on the official goldens).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import InputError
from engine.models.autotune import DIRECT, ENV, Tuner, shape_key
from engine.models.autotune import enabled as autotune_enabled
from engine.models.heap import reused_heap
from engine.models.precision import DTYPES, exact_fp32, resolve_precision
from engine.models.stylegan import ModulatedConv2d, StyledConv, ToRGB
from engine.models.vtoonify import FIRST_DECODED_LAYER, PARSING_CLASSES, VToonify, assert_vtoonify_input
from engine.ops import gate, native, upconv, winograd
from engine.ops.fir import fir_filter, fir_upsample2x

SLOPE = 0.2
DECONV, ROW_PHASES = "deconv", "row_phases"
"""The upsampling conv's routes (``StaticStage``): oneDNN's deconvolution, ``engine.ops.upconv``'s two convs."""
UPSAMPLE_TIMED_MACS = 1 << 33
"""The upsampling routes are timed only on maps of up to this many multiply-adds, and on the whole map:
on 8-128 row samples the deconvolution timed faster at every width, on whole 128x128-512x512 maps (the
32-256 channel stages of a 256x256 crop, 4.8e9 each) the row phases won by 20-25%. Larger maps keep the
deconvolution untimed, so tuning a shot stays within about 0.6 s per upsampling stage."""
GAIN = math.sqrt(2.0)
CHANNELS_LAST = torch.channels_last
STRIP_PIXELS = 1 << 17
"""On CPU, decoder stages whose input is larger than this run in horizontal strips (``tiled``; the
same numbers): each strip's 32-64 channel maps stay cache- and page-warm instead of passing through
memory whole. 256x256 -> 1024x1024, 2-core EPYC, fp32, median of 3: 2.14 s with the last stage in
strips vs 2.33 s whole when freed pages go back to the system after each call, 1.91 vs 1.98 s when a
render keeps them (1 << 18 and above ran that size whole)."""
GPU_STRIP_PIXELS = 1 << 21
"""On CUDA strips are for memory alone (a GPU has no cache to keep warm, and each strip is another round
of kernel launches): stages whose input is larger than this (2M pixels: a 1600x1280 crop's last two
stages) run in strips; a 256x256 or 400x320 crop (largest stage input 512x512, 800x640) runs whole.
Its speed against ``STRIP_PIXELS`` on a GPU is measured by ``scripts/gpu_check.sh``."""


def memory_format_for(device: str | torch.device, dtype: torch.dtype) -> torch.memory_format:
    """The feature-map layout of a static network: channels_last, except float32 on CUDA.

    cuDNN's float32 (non-TF32) convs are NCHW kernels: fed channels_last maps it transposes each one
    in and out, and runs the blur's depthwise conv as a slow grouped kernel (5.5 ms of a 28 ms frame).
    H200, full-size D, fp32, median of 10: 256x256 crop 28.4 ms channels_last -> 22.2 ms NCHW (the
    reference path: 23.8), 400x320 51.8 -> 40.1 ms (reference 42.1). bf16 stays channels_last, where
    cuDNN's tensor-core kernels are NHWC (measured there: scripts/gpu_check.sh, 2026-12-04)."""
    if torch.device(device).type == "cuda" and dtype == torch.float32:
        return torch.contiguous_format
    return CHANNELS_LAST


def strip_pixels_for(device: str | torch.device) -> int:
    """The strip budget of ``tiled`` on ``device``: ``STRIP_PIXELS`` on CPU, ``GPU_STRIP_PIXELS`` elsewhere."""
    return STRIP_PIXELS if torch.device(device).type == "cpu" else GPU_STRIP_PIXELS


BANDED_FEATURE_STRIPS = 4
"""Frames over this many strips' pixels recompute the encoder's full-size feature in bands
(``EncodedRows``, about 5% more time) rather than hold it (128 channels: over 256 MiB at fp32)."""
STRIP_CHANNELS = 128
"""Stages wider than this count their input ``channels / STRIP_CHANNELS`` times in the strip budget
(``strip_rows``): only huge crops reach them (a 1600x1280 crop's 256-512 channel stages), where whole
or 200-row strips held 1-1.5 GB of temporaries at once."""


class StaticConv(nn.Module):
    """Plain conv with precomputed weight and bias, optionally followed by an in-place leaky ReLU."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        dtype: torch.dtype,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        activate: bool = False,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().to(dtype).contiguous(memory_format=CHANNELS_LAST))
        self.register_buffer("bias", None if bias is None else bias.detach().to(dtype))
        self.stride, self.padding, self.dilation, self.activate = stride, padding, dilation, activate
        k = tuple(weight.shape[-2:])
        self.winograd_ok = (k == (3, 3) and stride == 1 and padding == dilation
                            and dtype in winograd.DTYPES)
        self._transformed: dict[int, torch.Tensor] = {}  # winograd weights by tile, made on first use
        self._tiles_in_use: set[int] = set()
        self.tuner: Tuner | None = None  # set by StaticVToonify: routes chosen by timing

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, dtype: torch.dtype, activate: bool = False, gain: float = 1.0):
        """An ``nn.Conv2d``; ``gain`` (> 0) scales weight and bias (the activation gain moved in)."""
        bias = None if conv.bias is None else conv.bias * gain
        return cls(conv.weight * gain, bias, dtype, conv.stride[0], conv.padding[0], conv.dilation[0], activate)

    def _route(self, x: torch.Tensor) -> tuple[int, torch.Tensor | None]:
        """(Winograd tile or 0 for the direct conv, the output when tuning already computed it)."""
        if not self.winograd_ok or torch.compiler.is_compiling():
            return 0, None
        cout, cin = self.weight.shape[:2]
        fixed = winograd.tile_for(x, cin, cout, self.dilation)
        tiles = winograd.candidate_tiles(x, cin, cout, self.dilation) if self.tuner is not None else ()
        if not tiles:
            return fixed, None
        key = ("conv3x3", cin, cout, self.dilation, shape_key(x), x.dtype,
               x.is_contiguous(memory_format=CHANNELS_LAST), torch.get_num_threads(), tiles)
        routes = {DIRECT: lambda v: self._run(v, 0)}
        routes.update({f"winograd{t}": (lambda v, t=t: self._run(v, t)) for t in tiles})
        name, y = self.tuner.choose(key, x, routes, f"winograd{fixed}" if fixed else DIRECT,
                                    prepare=lambda: [self._weights(t, x.device) for t in tiles])
        tile = 0 if name == DIRECT else int(name.removeprefix("winograd"))
        self._tiles_in_use.add(tile)
        for unused in set(self._transformed) - self._tiles_in_use:  # tried and lost: free its weights
            del self._transformed[unused]
        return tile, y

    def _run(self, x: torch.Tensor, tile: int) -> torch.Tensor:
        """The conv and its activation by route ``tile``: 0 direct (oneDNN), 2 or 4 Winograd."""
        slope = SLOPE if self.activate else None
        if not tile:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
            return y if slope is None else F.leaky_relu_(y, slope)
        return winograd.conv3x3(x, self.weight, self.bias, self.dilation, self._weights(tile, x.device), tile=tile,
                                slope=slope)

    def _weights(self, tile: int, device: torch.device) -> torch.Tensor:
        """The Winograd-transformed weight for ``tile``, made on first use."""
        u = self._transformed.get(tile)
        if u is None or u.device != device:
            u = self._transformed[tile] = winograd.winograd_weight(self.weight, tile).to(self.weight.dtype)
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tile, y = self._route(x)
        return self._run(x, tile) if y is None else y


class NormStats:
    """Whole-frame instance-norm statistics handed to a norm that sees only part of the frame.

    Strips of a frame must normalise with the frame's statistics, not their own, or each strip gets
    its own colour cast; ``fusion_statistics`` computes them once, every strip replays them.
    """

    def __init__(self, values: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.values = values
        self._next = 0

    def replay(self) -> NormStats:
        self._next = 0
        return self

    def __call__(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The next kept (mean, var) ``[N,1,C]`` (``v`` ``[N,HW,C]`` is the part being normalised)."""
        mean, var = self.values[self._next]
        self._next += 1
        return mean, var


def instance_norm_affine(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5,
                         stats: NormStats | None = None):
    """``gamma * InstanceNorm(x) + beta`` with float32 two-pass statistics; gamma/beta ``[1,C,1,1]``.

    Reduces over ``[N, H*W, C]`` (a view of a channels_last tensor), which runs several times faster
    than ``var_mean`` over dims (2, 3) of the strided NCHW view. Returns x's dtype and layout (NCHW
    input: float32 on CUDA, ``memory_format_for``; else channels_last).
    ``stats`` supplies whole-frame statistics (frames decoded in strips).
    """
    n, c, h, w = x.shape
    v = x.float().permute(0, 2, 3, 1).reshape(n, h * w, c)  # [N,HW,C]
    if stats is None:
        centred = v - v.mean(1, keepdim=True)
        var = centred.square().mean(1, keepdim=True)  # [N,1,C]
    else:
        mean, var = stats(v)
        centred = v - mean
    out = centred.mul_(gamma.view(1, 1, c) * torch.rsqrt(var + eps)).add_(beta.view(1, 1, c))
    out = out.view(n, h, w, c).permute(0, 3, 1, 2).to(x.dtype)  # [N,C,H,W] channels_last
    return out if x.is_contiguous(memory_format=CHANNELS_LAST) else out.contiguous()


def _adain_constants(norm: nn.Module, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """AdaptiveInstanceNorm's ``(gamma, beta)`` for a fixed style ``[1,D]`` -> ``[1,C,1,1]`` each."""
    gamma, beta = norm.style(style).float().view(1, -1, 1, 1).chunk(2, 1)
    return gamma.contiguous(), beta.contiguous()


def modulated_weight(conv: ModulatedConv2d, style: torch.Tensor) -> torch.Tensor:
    """The per-sample weight of ``conv`` for one style ``[1,D]`` -> ``[Cout,Cin,k,k]`` (float32 sums)."""
    s = conv.modulation(style.float()).view(1, -1, 1, 1)  # [1,Cin,1,1]
    weight = conv.scale * conv.weight.float()[0] * s  # [Cout,Cin,k,k]
    if conv.demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([1, 2, 3], keepdim=True) + conv.eps)
    return weight


class StaticResBlock(nn.Module):
    """VToonifyResBlock ``(lrelu(conv2(lrelu(conv(x)))) + x) / sqrt(2)``, the 1/sqrt(2) inside conv2."""

    def __init__(self, block: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.conv = StaticConv.from_conv(block.conv, dtype, activate=True)
        self.conv2 = StaticConv.from_conv(block.conv2, dtype, activate=True, gain=1 / GAIN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv(x)).add_(x, alpha=1 / GAIN)


class StaticModRes(nn.Module):
    """AdaResBlock at a fixed style and weight ``w``: ``x + w * conv2(AdaIN2(conv1(AdaIN1(x))))``
    (``w > 0`` is folded into conv2, as leaky ReLU commutes with a positive scale)."""

    def __init__(self, block: nn.Module, style: torch.Tensor, w: float, dtype: torch.dtype) -> None:
        super().__init__()
        for name, norm in (("norm", block.norm), ("norm2", block.norm2)):
            gamma, beta = _adain_constants(norm, style)
            self.register_buffer(f"{name}_gamma", gamma)
            self.register_buffer(f"{name}_beta", beta)
        self.conv = self._conv(block.conv, GAIN, dtype)
        self.conv2 = self._conv(block.conv2, GAIN * w if w > 0 else GAIN, dtype)
        self.post_scale = 1.0 if w > 0 else float(w)

    @staticmethod
    def _conv(layer: nn.Sequential, gain: float, dtype: torch.dtype) -> StaticConv:
        """ConvLayer = EqualConv2d (no bias) + FusedLeakyReLU(bias, sqrt 2): one conv with the bias."""
        eq, act = layer[0], layer[1]
        return StaticConv(eq.weight * (eq.scale * gain), act.bias * gain, dtype, 1, eq.padding, eq.dilation, True)

    def forward(self, x: torch.Tensor, stats: NormStats | None = None) -> torch.Tensor:
        out = self.conv(instance_norm_affine(x, self.norm_gamma, self.norm_beta, stats=stats))
        out = self.conv2(instance_norm_affine(out, self.norm2_gamma, self.norm2_beta, stats=stats))
        return out.mul_(self.post_scale).add_(x) if self.post_scale != 1.0 else out.add_(x)


class StaticFusion(nn.Module):
    """One fused stage's encoder/decoder merge; D: the d_s label and its AdaIN are constants."""

    def __init__(self, fusion_out: nn.Module, fusion_skip: nn.Conv2d, d_s: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.gated = not isinstance(fusion_out, nn.Conv2d)  # VToonify-D's Fusion module
        self.skip_conv = StaticConv.from_conv(fusion_skip, dtype)
        if not self.gated:
            self.conv = StaticConv.from_conv(fusion_out, dtype)
            return
        p = fusion_out.linear[0].weight
        label = fusion_out.linear(torch.full((1, 1), float(d_s), device=p.device, dtype=p.dtype))  # [1,128]
        gamma, beta = _adain_constants(fusion_out.norm, label)
        self.register_buffer("gamma", gamma)
        self.register_buffer("beta", beta)
        self.conv = StaticConv.from_conv(fusion_out.conv, dtype)
        self.mask_conv = StaticConv.from_conv(fusion_out.conv2, dtype)

    def forward(self, f_g: torch.Tensor, skip: torch.Tensor, f_e: torch.Tensor, stats: NormStats | None = None):
        """-> (feature, skip, mask ``[N,1,h,w]`` or None)."""
        if not self.gated:
            return self.conv(torch.cat([f_g, f_e], 1)), self.skip_conv(torch.cat([skip, f_e], 1)), None
        on_cpu = f_g.device.type == "cpu" and f_g.dtype in gate.DTYPES
        lib = native.library() if on_cpu and not torch.compiler.is_compiling() else None  # inductor: torch ops
        if lib is not None:  # the mask straight from f_g and f_e (engine.ops.gate): no 2C-channel copies
            logits = gate.mask_logits(f_g, f_e, self.gamma, self.beta, self.mask_conv.weight, self.mask_conv.bias,
                                      stats=None if stats is None else stats(None), lib=lib)  # float32
        else:
            diff = torch.cat([f_g, (f_g - f_e).abs_()], 1)
            logits = self.mask_conv(instance_norm_affine(diff, self.gamma, self.beta, stats=stats))
        m_e = F.relu_(logits).tanh_()
        gated = f_e * m_e.to(f_e.dtype)
        if lib is not None:  # the skip conv from skip, f_e and the mask: no concatenation
            rgb = gate.skip_conv(skip, f_e, m_e, self.skip_conv.weight, self.skip_conv.bias, lib=lib)
        else:
            rgb = self.skip_conv(torch.cat([skip, gated], 1))
        return self.conv(torch.cat([f_g, gated], 1)), rgb, m_e


class StaticStage(nn.Module):
    """One decoder stage at fixed styles: upsampling conv + blur, conv, ToRGB + upsampled skip."""

    def __init__(
        self, conv_up: StyledConv, conv: StyledConv, to_rgb: ToRGB, styles: torch.Tensor, dtype: torch.dtype
    ) -> None:
        super().__init__()
        up = conv_up.conv
        w_up = modulated_weight(up, styles[:, 0]) * GAIN  # [Cout,Cin,k,k]
        self.register_buffer("up_weight", w_up.transpose(0, 1).to(dtype).contiguous(memory_format=CHANNELS_LAST))
        self.register_buffer("up_bias", (conv_up.activate.bias * GAIN).detach().to(dtype))
        self.register_buffer("blur_kernel", up.blur.kernel.detach().clone())
        self.blur_pad = up.blur.pad
        self.conv = StaticConv(
            modulated_weight(conv.conv, styles[:, 1]) * GAIN, conv.activate.bias * GAIN, dtype,
            padding=conv.conv.padding, activate=True,
        )
        self.rgb = StaticConv(modulated_weight(to_rgb.conv, styles[:, 2]), to_rgb.bias.view(-1), dtype)
        self.register_buffer("skip_kernel", to_rgb.upsample.kernel.detach().clone())
        self.skip_pad = to_rgb.upsample.pad
        self._phases: tuple[torch.Tensor, torch.Tensor] | None = None  # row-phase weights, made on first use
        self._routes_in_use: set[str] = set()  # kept while any shape runs the row phases
        self.tuner: Tuner | None = None  # set by StaticVToonify: the upsampling route chosen by timing

    def _row_phases(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._phases is None or self._phases[0].device != self.up_weight.device:
            self._phases = upconv.row_phase_weights(self.up_weight)
        return self._phases

    def _deconv(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.up_weight, stride=2)

    def _in_row_phases(self, x: torch.Tensor) -> torch.Tensor:
        return upconv.conv_transpose3x3_s2(x, self.up_weight, self._row_phases())

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-2 transposed conv ``[N,Cin,h,w]`` -> ``[N,Cout,2h+1,2w+1]``: oneDNN's deconvolution,
        or on CPU with autotune on, two row-phase convs (``engine.ops.upconv``) where timing says so."""
        cin, cout = self.up_weight.shape[:2]
        pixels = x.shape[0] * x.shape[2] * x.shape[3]
        if (self.tuner is None or x.device.type != "cpu" or torch.compiler.is_compiling()
                or 9 * cin * cout * pixels > UPSAMPLE_TIMED_MACS):
            return self._deconv(x)
        key = ("upconv3x3s2", cin, cout, shape_key(x), x.dtype,
               x.is_contiguous(memory_format=CHANNELS_LAST), torch.get_num_threads())
        routes = {DECONV: self._deconv, ROW_PHASES: self._in_row_phases}
        name, y = self.tuner.choose(key, x, routes, DECONV, prepare=self._row_phases, sample_pixels=pixels)
        self._routes_in_use.add(name)
        if ROW_PHASES not in self._routes_in_use:
            self._phases = None  # tried and lost on every shape so far: free its weights
        return routes[name](x) if y is None else y

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x ``[N,Cin,h,w]``, skip ``[N,3,h,w]`` -> (``[N,Cout,2h,2w]``, ``[N,3,2h,2w]``)."""
        x = self._upsample(x)  # [N,Cout,2h+1,2w+1]
        x = F.leaky_relu_(fir_filter(x, self.blur_kernel, self.blur_pad, self.up_bias), SLOPE)
        x = self.conv(x)
        return x, self.rgb(x).add_(fir_upsample2x(skip, self.skip_kernel, self.skip_pad))


def _single_style(style: torch.Tensor, model: VToonify) -> torch.Tensor:
    """One shot style: W ``[1,D]`` / ``[D]`` or W+ ``[1,L,D]`` / ``[L,D]`` -> batch of one."""
    n_latent, dim = model.stylegan().n_latent, model.style_channels
    if style.ndim == 1 or (style.ndim == 2 and style.shape[0] == n_latent and n_latent != 1):
        style = style.unsqueeze(0)
    ok = style.shape[0] == 1 and style.shape[-1] == dim and (style.ndim == 2 or style.shape[1] == n_latent)
    if not ok:
        raise InputError(
            f"a static VToonify needs one style, [1, {dim}] or [1, {n_latent}, {dim}], got {list(style.shape)}",
            "pass the shot's W+ code once (not repeated over the batch)",
        )
    return style


class StaticVToonify(nn.Module):
    """VToonify for one shot: ``forward(x)`` -> image ``[N,3,4H,4W]`` (``(image, masks)`` with
    ``return_mask`` on VToonify-D), float32 out whatever the compute dtype (``precision``)."""

    def __init__(self, model: VToonify, style: torch.Tensor, d_s: float = 0.5, precision: str = "fp32",
                 autotune: bool | None = None) -> None:
        super().__init__()
        device = next(model.parameters()).device
        exact_fp32(device)  # CUDA: the folded weights and fp32 convs without TF32 (reference numbers)
        self.precision = resolve_precision(precision, device)
        self.dtype = dtype = DTYPES[self.precision]
        self.backbone = model.backbone
        self.in_channels = model.img_channels + PARSING_CLASSES
        self.d_s = float(d_s)
        style = _single_style(style.to(device=device, dtype=torch.float32), model)
        resstyles, adastyles = model._styles(style)  # [1,L,D] each (reference code, once)

        blocks = list(model.encoder)
        self.encoder = nn.ModuleList(
            nn.Sequential(*[StaticConv.from_conv(c, dtype, activate=True) for c in block if isinstance(c, nn.Conv2d)])
            for block in blocks[:-2]
        )
        self.res_blocks = nn.ModuleList(StaticResBlock(b, dtype) for b in blocks[-2])
        use_modres = self.backbone == "dualstylegan" and self.d_s != 0
        self.mod_res = nn.ModuleList(
            StaticModRes(model.res[j + 1], resstyles[:, j + 1], self.d_s, dtype)
            for j in range(len(self.res_blocks)) if use_modres
        )
        self.to_skip = StaticConv.from_conv(blocks[-1], dtype)

        g = model.stylegan()
        n_fused = len(blocks) - 2
        self.fusions = nn.ModuleList(
            StaticFusion(model.fusion_out[k], model.fusion_skip[k], self.d_s, dtype) for k in range(n_fused)
        )
        stages = zip(g.convs[6::2], g.convs[7::2], g.to_rgbs[3:])
        self.stages = nn.ModuleList(
            StaticStage(up, conv, rgb, adastyles[:, FIRST_DECODED_LAYER + 2 * k : FIRST_DECODED_LAYER + 2 * k + 3],
                        dtype)
            for k, (up, conv, rgb) in enumerate(stages)
        )
        self.memory_format = memory_format_for(device, dtype)
        if self.memory_format != CHANNELS_LAST:  # the folded weights were laid out channels_last
            for module in self.modules():
                for name, buffer in module.named_buffers(recurse=False):
                    if buffer.dim() == 4:
                        setattr(module, name, buffer.contiguous(memory_format=self.memory_format))
        self.tuner = Tuner() if autotune_enabled(autotune) else None
        for module in self.modules():
            if isinstance(module, (StaticConv, StaticStage)):
                module.tuner = self.tuner
        self.eval()

    def routes_summary(self) -> str:
        """One line naming the conv routes in use (autotune's choices, or that fixed rules choose) and
        whether the C kernels (``engine.ops.native``) run, or why not."""
        routes = (f"autotune: off ({ENV}=0 or autotune=False), fixed Winograd rules" if self.tuner is None
                  else self.tuner.summary())
        if next(self.buffers()).device.type != "cpu":
            return routes
        problem = native.problem()
        return f"{routes}; C kernels: {'off, ' + problem if problem else 'on'}"

    def extra_repr(self) -> str:
        return f"backbone={self.backbone}, d_s={self.d_s}, precision={self.precision}"

    def encode(self, x: torch.Tensor, full_in_bands: bool = False):
        """x ``[N,22,H,W]`` -> (feature ``[N,C,H/8,W/8]``, RGB skip, encoder features [H/8 .. H]).
        ``full_in_bands``: the full-size feature is an ``EncodedRows`` (recomputed band by band
        when used) instead of a tensor."""
        assert_vtoonify_input(x, self.in_channels)
        feat = x.to(self.dtype).contiguous(memory_format=self.memory_format)
        features = []
        for block in self.encoder:
            feat = block(feat)
            features.append(EncodedRows(block, x, self.dtype, self.memory_format) if full_in_bands and not features
                            else feat)
        features.reverse()  # [H/8, H/4, H/2, H]
        for j, block in enumerate(self.res_blocks):
            feat = block(feat)
            if self.mod_res:
                feat = self.mod_res[j](feat)
        return feat, self.to_skip(feat), features

    def decode(self, k: int, feat: torch.Tensor, skip: torch.Tensor, f_e: torch.Tensor | None,
               stats: NormStats | None = None):
        """Stage ``k``: fusion with encoder feature ``f_e`` (stages with one), then the stage's convs.
        Returns (feature, skip, mask or None)."""
        m_e = None
        if k < len(self.fusions):
            feat, skip, m_e = self.fusions[k](feat, skip, f_e, stats)
        feat, skip = self.stages[k](feat, skip)
        return feat, skip, m_e

    def forward(self, x: torch.Tensor, return_mask: bool = False):
        """x ``[N,22,H,W]`` as for ``VToonify.forward`` (H, W multiples of 8). On CPU the frame's freed
        feature maps are reused within the frame and by a next call within ``heap.LINGER_S`` (a render
        keeps them across all its frames: ``engine.models.heap``), and the large decoder stages run in
        strips (``STRIP_PIXELS``; the masks, when asked for, need the whole frame)."""
        if x.device.type != "cpu" or torch.compiler.is_compiling():  # a compiled graph holds no ctypes calls
            return self._forward(x, return_mask)
        with reused_heap(linger=True):  # a caller looping over forward keeps its pages (heap.LINGER_S)
            if not return_mask and needs_strips(self, x, STRIP_PIXELS):
                return tiled(self, x, STRIP_PIXELS)
            return self._forward(x, return_mask)

    def _forward(self, x: torch.Tensor, return_mask: bool):
        out_dtype = x.dtype if x.is_floating_point() else torch.float32
        feat, skip, features = self.encode(x)
        masks = []
        for k in range(len(self.stages)):
            f_e = features[k] if k < len(features) else None
            if k < len(features):
                features[k] = None  # free each encoder feature once it is used
            feat, skip, m_e = self.decode(k, feat, skip, f_e)
            if m_e is not None:
                masks.append(m_e.to(out_dtype))
        image = skip.to(out_dtype)
        if return_mask and self.backbone == "dualstylegan":
            return image, masks
        return image


class EncodedRows:
    """The encoder's first block output (the full-size feature, 128 channels: 1 GB for a 1600x1280
    crop) recomputed band by band from the input when a strip needs it, instead of held from the
    encoder to the last fused stage. The block is two 3x3 convs, so a band needs 2 more input rows on
    each side (cropped off again: the same numbers as the whole map). The gated fusion's two statistics
    passes and its strips each recompute it, a few % of such a frame (1600x1280: 3-4 s of 130)."""

    CONTEXT = 2

    def __init__(self, block: nn.Module, x: torch.Tensor, dtype: torch.dtype,
                 memory_format: torch.memory_format = CHANNELS_LAST) -> None:
        self.block, self.x, self.dtype, self.memory_format = block, x, dtype, memory_format
        n, _, h, w = x.shape
        self.shape = (n, block[-1].weight.shape[0], h, w)

    def rows(self, top: int, bottom: int) -> torch.Tensor:
        """The feature's rows ``top:bottom`` ``[N,C,bottom-top,W]``."""
        lo, hi = max(0, top - self.CONTEXT), min(self.shape[2], bottom + self.CONTEXT)
        band = self.x[:, :, lo:hi].to(self.dtype).contiguous(memory_format=self.memory_format)
        return self.block(band)[:, :, top - lo : bottom - lo]


def _band(f: torch.Tensor | EncodedRows, top: int, bottom: int) -> torch.Tensor:
    return f.rows(top, bottom) if isinstance(f, EncodedRows) else f[:, :, top:bottom]


def fusion_statistics(fusion: StaticFusion, f_g: torch.Tensor, f_e: torch.Tensor | EncodedRows,
                      rows: int) -> NormStats:
    """The (mean, var) of a gated fusion's norm input ``cat[f_g, |f_g - f_e|]`` over the whole frame,
    accumulated over row blocks (two passes, float32), so the full-size tensor never exists."""
    n, c, h, w = f_g.shape

    def blocks():
        for r in range(0, h, rows):
            g, e = f_g[:, :, r : r + rows].float(), _band(f_e, r, min(h, r + rows)).float()
            yield torch.cat([g, (g - e).abs_()], 1).permute(0, 2, 3, 1).reshape(n, -1, 2 * c)  # [N,hw,2C]

    count = h * w
    mean = sum(b.sum(1, keepdim=True) for b in blocks()) / count  # [N,1,2C]
    var = sum((b - mean).square_().sum(1, keepdim=True) for b in blocks()) / count
    return NormStats([(mean, var)])


def _in_strips(net: StaticVToonify, stages: range, feat: torch.Tensor, skip: torch.Tensor,
               f_e: torch.Tensor | EncodedRows | None, stats: NormStats | None, rows: int, margin: int,
               keep_feat: bool):
    """Run decoder ``stages`` on horizontal strips of ``rows`` rows (plus ``margin`` context rows on
    each side, cropped off again) and assemble (feature or None, skip) for the whole frame."""
    fh = feat.shape[2]
    out_feat = out_skip = None
    for top in range(0, fh, rows):
        bottom = min(fh, top + rows)
        lo, hi = max(0, top - margin), min(fh, bottom + margin)
        part_feat, part_skip = feat[:, :, lo:hi], skip[:, :, lo:hi]
        for k in stages:
            fused = _band(f_e, lo, hi) if k == stages.start and f_e is not None else None
            part_feat, part_skip, _ = net.decode(k, part_feat, part_skip, fused,
                                                 stats.replay() if stats is not None else None)
        up = part_skip.shape[2] // (hi - lo)  # 2 per stage
        if out_skip is None:
            n, _, _, w = part_skip.shape
            out_skip = part_skip.new_empty(n, 3, fh * up, w).contiguous(memory_format=net.memory_format)
            if keep_feat:
                out_feat = part_feat.new_empty(n, part_feat.shape[1], fh * up, w).contiguous(
                    memory_format=net.memory_format)
        out_skip[:, :, top * up : bottom * up] = part_skip[:, :, (top - lo) * up : (bottom - lo) * up]
        if keep_feat:
            out_feat[:, :, top * up : bottom * up] = part_feat[:, :, (top - lo) * up : (bottom - lo) * up]
    return out_feat, out_skip


def strip_rows(feat: torch.Tensor, strip_pixels: int) -> int | None:
    """Rows per strip for a decoder stage with input ``feat`` (None: run it whole): ``strip_pixels``
    pixels, or proportionally fewer for stages wider than ``STRIP_CHANNELS``; at least 8 rows."""
    _, c, h, w = feat.shape
    weighted = h * w * max(1.0, c / STRIP_CHANNELS)
    if weighted <= strip_pixels:
        return None
    return max(8, int(strip_pixels / (w * max(1.0, c / STRIP_CHANNELS))))


def needs_strips(net: StaticVToonify, x: torch.Tensor, strip_pixels: int) -> bool:
    """Whether ``tiled`` would run any decoder stage of ``net`` on ``x`` in strips (its last stage's
    input, ``H/8 * W/8 * 4**(stages-1)`` pixels, is the largest)."""
    h, w = x.shape[-2:]
    return (h // 8) * (w // 8) * 4 ** (len(net.stages) - 1) > strip_pixels


@torch.no_grad()
def tiled(net: StaticVToonify, x: torch.Tensor, strip_pixels: int = 1 << 17, margin: int = 8,
          whole: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``net(x)`` with the high-resolution decoder stages run in horizontal strips, so the largest
    tensors (up to 64 channels at 2x-4x the input size) exist one strip at a time.

    The encoder and the decoder stages whose input has at most ``strip_pixels`` pixels (fewer for
    stages wider than ``STRIP_CHANNELS``, ``strip_rows``) run on the whole frame; a frame over
    ``BANDED_FEATURE_STRIPS`` strips keeps no full-size encoder feature (``EncodedRows`` recomputes its bands); a
    gated fusion's instance norm takes its whole-frame statistics block by block
    (``fusion_statistics``). The rest is convolutions with a receptive field of a few pixels, so
    strips with ``margin`` context rows on each side, cropped back to their own rows, give the same
    numbers as the whole frame (float rounding aside: no seams). The last fused stage and the stage
    after it run strip by strip straight into the image. x ``[N,22,H,W]`` -> ``[N,3,4H,4W]`` float32.
    ``whole`` (e.g. a compiled ``net``) runs frames that need no strip at all.
    """
    if not needs_strips(net, x, strip_pixels):
        return (whole or net)(x)
    out_dtype = x.dtype if x.is_floating_point() else torch.float32
    h, w = x.shape[-2:]
    feat, skip, features = net.encode(x, full_in_bands=h * w > BANDED_FEATURE_STRIPS * strip_pixels)
    k, n_stages, n_fused = 0, len(net.stages), len(net.fusions)
    while k < n_stages:
        f_e = features[k] if k < len(features) else None
        if k < len(features):
            features[k] = None
        rows = strip_rows(feat, strip_pixels)
        if rows is None:
            feat, skip, _ = net.decode(k, feat, skip, f_e)
            k += 1
            continue
        last_group = k >= n_fused - 1
        stages = range(k, n_stages) if last_group else range(k, k + 1)
        gated = f_e is not None and k < n_fused and net.fusions[k].gated
        stats = fusion_statistics(net.fusions[k], feat, f_e, 64) if gated else None
        feat, skip = _in_strips(net, stages, feat, skip, f_e, stats, rows, margin, keep_feat=not last_group)
        k = stages.stop
    return skip.to(out_dtype)


@torch.no_grad()
def static_vtoonify(
    model: VToonify, style: torch.Tensor, d_s: float = 0.5, precision: str = "fp32", autotune: bool | None = None
) -> StaticVToonify:
    """The shot's static network: ``forward(x)`` returns what ``model(x, style, d_s=d_s)`` returns
    for any batch of ``x``. ``style``: the shot's W ``[1,512]`` or W+ ``[1,18,512]``; ``precision``:
    fp32 | bf16 | fp16 | auto (bf16 where the device has fast bf16); ``autotune``: choose each conv's
    route by timing it on the first frame (None: ``VTOONIFY_AUTOTUNE``, on unless ``0``)."""
    return StaticVToonify(model, style, d_s, precision, autotune)
