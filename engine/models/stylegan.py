"""StyleGAN2 generator pieces with the official VToonify key names (``model/stylegan/model.py``).

One small module per idea; attribute names are checkpoint keys, so an official ``state_dict``
loads with ``strict=True``. Departures from the official file: the channel table can be
overridden (``channels``), blur kernels are tuples (no mutable defaults), the ops are the
plain-PyTorch ones from ``engine.ops`` (layers default to the ``'fast'`` routes, which the golden
tests check against the official numbers; ``set_ops_impl(model, 'ref')`` selects the reference
routes, which reproduce the official CPU ops bit for bit), and StyledConv can skip the noise term
(VToonify multiplies its noise by 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from engine.ops import FusedLeakyReLU, fused_leaky_relu, upfirdn2d
from engine.ops.upfirdn2d import IMPLS

BLUR_KERNEL = (1, 3, 3, 1)


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """Official width per resolution (4..32 -> 512, then halving from 64 with multiplier 2)."""
    m = channel_multiplier
    return {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * m,
        128: 128 * m,
        256: 64 * m,
        512: 32 * m,
        1024: 16 * m,
    }


def normalize_channels(channels: Mapping | None, channel_multiplier: int = 2) -> dict[int, int]:
    """Channel table with int keys (JSON configs carry str keys); None -> the official table."""
    if channels is None:
        return default_channels(channel_multiplier)
    return {int(res): int(width) for res, width in channels.items()}


def make_fir_kernel(taps: Sequence[float], gain: float = 1.0) -> torch.Tensor:
    """Separable 2-D FIR kernel ``outer(k, k) / sum * gain``; ``[len, len]`` float32."""
    k = torch.tensor(taps, dtype=torch.float32)
    k2d = k[None, :] * k[:, None] if k.ndim == 1 else k
    return k2d / k2d.sum() * gain


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit RMS (first layer of the mapping network); ``[N, D]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip (ToRGB): kernel x factor^2, pads from the kernel length."""

    def __init__(
        self, blur_kernel: Sequence[float] = BLUR_KERNEL, factor: int = 2, impl: str = "fast"
    ) -> None:
        super().__init__()
        self.factor = factor
        self.impl = impl
        self.register_buffer("kernel", make_fir_kernel(blur_kernel, factor**2))
        p = len(blur_kernel) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad, impl=self.impl)  # [N,C,2H,2W]


class Blur(nn.Module):
    """FIR low-pass at constant rate (after the transposed conv of an upsampling ModulatedConv2d)."""

    def __init__(
        self, blur_kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1, impl: str = "fast"
    ) -> None:
        super().__init__()
        self.register_buffer("kernel", make_fir_kernel(blur_kernel, upsample_factor**2))
        self.pad = pad
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad, impl=self.impl)


class EqualConv2d(nn.Module):
    """Conv with equalized learning rate: weight ~ N(0,1), scaled by 1/sqrt(fan_in) at run time."""

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x,
            self.weight * self.scale,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
        )

    def extra_repr(self) -> str:
        out_c, in_c, k, _ = self.weight.shape
        return f"{in_c}, {out_c}, {k}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}"


class EqualLinear(nn.Module):
    """Linear with equalized lr; ``lr_mul`` scales weight and bias (0.01 in the mapping network)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in] -> [N, out]
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        out_dim, in_dim = self.weight.shape
        return f"{in_dim}, {out_dim}, lr_mul={self.lr_mul}, activation={self.activation}"


class ModulatedConv2d(nn.Module):
    """Style-modulated conv: per-sample weight = w * scale * style, optionally demodulated (eps 1e-8).

    ``upsample=True``: stride-2 transposed conv followed by a 4x4 blur (pads from the kernel length).
    ``fused=True`` folds the style into per-sample weights and runs one grouped conv (as the official
    default); ``fused=False`` scales activations instead (same result, fewer weight copies).
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        fused: bool = True,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        self.demodulate = demodulate
        self.fused = fused
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(
                blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor, impl=impl
            )
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, upsample={self.upsample}, "
            f"demodulate={self.demodulate}, fused={self.fused}"
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x ``[N, Cin, H, W]``, style ``[N, style_dim]`` -> ``[N, Cout, H', W']`` (H' = 2H if upsample)."""
        if self.fused:
            return self._forward_fused(x, style)
        return self._forward_unfused(x, style)

    def _forward_fused(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        n, c_in, h, w = x.shape
        k = self.kernel_size
        s = self.modulation(style).view(n, 1, c_in, 1, 1)
        weight = self.scale * self.weight * s  # [N,Cout,Cin,k,k]
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)  # [N,Cout]
            weight = weight * demod.view(n, self.out_channel, 1, 1, 1)
        x = x.reshape(1, n * c_in, h, w)  # samples become conv groups
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(n * c_in, self.out_channel, k, k)  # [N*Cin,Cout,k,k]
            out = F.conv_transpose2d(x, weight, stride=2, groups=n)
            out = out.view(n, self.out_channel, out.shape[2], out.shape[3])
            return self.blur(out)
        weight = weight.reshape(n * self.out_channel, c_in, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=n)
        return out.view(n, self.out_channel, out.shape[2], out.shape[3])

    def _forward_unfused(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        n, c_in, _, _ = x.shape
        weight = self.scale * self.weight.squeeze(0)  # [Cout,Cin,k,k]
        s = self.modulation(style)  # [N,Cin]
        x = x * s.reshape(n, c_in, 1, 1)
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            w = weight.unsqueeze(0) * s.view(n, 1, c_in, 1, 1)  # [N,Cout,Cin,k,k]
            dcoefs = (w.square().sum((2, 3, 4)) + self.eps).rsqrt()  # [N,Cout]
            out = out * dcoefs.view(n, -1, 1, 1)
        return out


class NoiseInjection(nn.Module):
    """Adds ``weight * noise`` (one learned strength; noise ``[N or 1, 1, H, W]``, random if None)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            n, _, h, w = x.shape
            noise = x.new_empty(n, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """Learned 4x4 start tensor, repeated over the batch of ``latent``."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.input.repeat(latent.shape[0], 1, 1, 1)  # [N,C,4,4]


class StyledConv(nn.Module):
    """ModulatedConv2d -> noise -> biased leaky ReLU * sqrt(2)."""

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        upsample: bool = False,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        demodulate: bool = True,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channel,
            out_channel,
            kernel_size,
            style_dim,
            demodulate=demodulate,
            upsample=upsample,
            blur_kernel=blur_kernel,
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel, impl="fast")

    def forward(
        self,
        x: torch.Tensor,
        style: torch.Tensor,
        noise: torch.Tensor | None = None,
        inject_noise: bool = True,
    ) -> torch.Tensor:
        """``inject_noise=False`` skips the noise term (VToonify scales its noise by 0)."""
        out = self.conv(x, style)
        if inject_noise:
            out = self.noise(out, noise=noise)
        return self.activate(out)


class ToRGB(nn.Module):
    """Unnormalised 1x1 modulated conv to RGB + bias, plus the 2x-upsampled previous skip."""

    def __init__(
        self,
        in_channel: int,
        style_dim: int,
        upsample: bool = True,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias  # [N,3,H,W]
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConvLayer(nn.Sequential):
    """EqualConv2d (+ FusedLeakyReLU): keys ``0.weight`` / ``1.bias`` as the official ConvLayer.

    Only the stride-1 form is needed here (ModRes blocks); padding keeps the size for any dilation.
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        bias: bool = True,
        activate: bool = True,
        dilation: int = 1,
    ) -> None:
        padding = kernel_size // 2 + dilation - 1
        layers: list[nn.Module] = [
            EqualConv2d(
                in_channel,
                out_channel,
                kernel_size,
                padding=padding,
                bias=bias and not activate,
                dilation=dilation,
            )
        ]
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias, impl="fast"))
        super().__init__(*layers)


def mapping_network(style_dim: int, n_layers: int, lr_mul: float) -> nn.Sequential:
    """PixelNorm + ``n_layers`` equalized linears with biased leaky ReLU (index 0 has no weights)."""
    layers: list[nn.Module] = [PixelNorm()]
    layers += [
        EqualLinear(style_dim, style_dim, lr_mul=lr_mul, activation="fused_lrelu") for _ in range(n_layers)
    ]
    return nn.Sequential(*layers)


def map_each_latent(mapping: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Apply a mapping network to every code of ``z`` ``[N, L, D]`` independently -> ``[N, L, D]``."""
    n, n_codes, dim = z.shape
    return mapping(z.reshape(n * n_codes, dim)).reshape(n, n_codes, -1)


def truncate(styles: list[torch.Tensor], truncation: float, truncation_latent) -> list[torch.Tensor]:
    """Pull codes towards ``truncation_latent`` (a tensor, or 0 during training) when truncation < 1."""
    if truncation >= 1:
        return styles
    return [truncation_latent + truncation * (s - truncation_latent) for s in styles]


def mix_latents(styles: list[torch.Tensor], n_latent: int, inject_index: int | None) -> torch.Tensor:
    """One code (``[N,D]`` or ``[N,L,D]``) -> W+ ``[N, n_latent, D]``; two codes -> style mixing at
    ``inject_index`` (random in [1, n_latent) when None, as in training)."""
    if len(styles) < 2:
        s = styles[0]
        return s.unsqueeze(1).repeat(1, n_latent, 1) if s.ndim < 3 else s
    if inject_index is None:
        inject_index = int(torch.randint(1, n_latent, ()).item())
    a, b = styles[0], styles[1]
    if a.ndim < 3:
        return torch.cat(
            [a.unsqueeze(1).repeat(1, inject_index, 1), b.unsqueeze(1).repeat(1, n_latent - inject_index, 1)],
            1,
        )
    return torch.cat([a[:, :inject_index], b[:, inject_index:]], 1)


class Generator(nn.Module):
    """StyleGAN2 generator: mapping ``style.1..n_mlp``, 4x4 constant, conv1/to_rgb1, then per
    resolution 8..size an upsampling StyledConv, a StyledConv and a ToRGB; ``noises.noise_i`` fixed maps.
    """

    def __init__(
        self,
        size: int,
        style_dim: int,
        n_mlp: int,
        channel_multiplier: int = 2,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        lr_mlp: float = 0.01,
        channels: Mapping | None = None,
    ) -> None:
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.style = mapping_network(style_dim, n_mlp, lr_mlp)
        self.channels = normalize_channels(channels, channel_multiplier)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2

        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, res, res))
        in_channel = c4
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(
                StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel)
            )
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel))
            in_channel = out_channel

    def fixed_noises(self) -> list[torch.Tensor]:
        """The stored noise maps ``noise_0..`` in layer order (used when randomize_noise=False)."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    def map_styles(
        self, styles: list[torch.Tensor], input_is_latent: bool, z_plus_latent: bool
    ) -> list[torch.Tensor]:
        """z (``[N,D]``) or z+ (``[N,L,D]``, ``z_plus_latent``) -> W / W+; W inputs pass through."""
        if input_is_latent:
            return list(styles)
        if z_plus_latent:
            return [map_each_latent(self.style, s) for s in styles]
        return [self.style(s) for s in styles]

    def resolve_noise(self, noise: Sequence | None, randomize_noise: bool) -> list:
        if noise is not None:
            return list(noise)
        return [None] * self.num_layers if randomize_noise else self.fixed_noises()

    def forward(
        self,
        styles: list[torch.Tensor],
        return_latents: bool = False,
        inject_index: int | None = None,
        truncation: float = 1,
        truncation_latent=None,
        input_is_latent: bool = False,
        noise: Sequence | None = None,
        randomize_noise: bool = True,
        z_plus_latent: bool = False,
        return_feature_ind: int = 999,
    ):
        """styles: list of 1–2 codes ``[N,D]`` / ``[N,L,D]``.

        Returns ``(image [N,3,size,size], latent | None)``, or ``(feature, skip)`` right after the
        block whose last latent index exceeds ``return_feature_ind``.
        """
        styles = self.map_styles(styles, input_is_latent, z_plus_latent)
        noise = self.resolve_noise(noise, randomize_noise)
        styles = truncate(styles, truncation, truncation_latent)
        latent = mix_latents(styles, self.n_latent, inject_index)  # [N,n_latent,D]

        out = self.conv1(self.input(latent), latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv_up, conv, noise1, noise2, to_rgb in zip(
            self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        ):
            out = conv_up(out, latent[:, i], noise=noise1)
            out = conv(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
            if i > return_feature_ind:
                return out, skip
        return (skip, latent) if return_latents else (skip, None)


def set_ops_impl(model: nn.Module, impl: str) -> nn.Module:
    """Pick the ``engine.ops`` route (``'ref'`` | ``'fast'``) for every FIR / activation layer of
    ``model`` (per instance, no global switch). Returns ``model``."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    for module in model.modules():
        if isinstance(module, (Upsample, Blur, FusedLeakyReLU)):
            module.impl = impl
    return model


def set_modulated_conv_fused(model: nn.Module, fused: bool) -> nn.Module:
    """Switch every ModulatedConv2d of ``model`` between the grouped-conv and the activation-scaling route."""
    for module in model.modules():
        if isinstance(module, ModulatedConv2d):
            module.fused = fused
    return model
