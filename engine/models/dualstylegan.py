"""DualStyleGAN (Yang et al. 2022): StyleGAN2 plus an extrinsic style path (``model/dualstylegan.py``).

Intrinsic code (face structure) drives the StyleGAN2 generator as usual; the extrinsic code
(exemplar style) acts on layers 0..res_index through ModRes blocks (AdaIN-modulated residual
convs, "colour/texture" path) and on the later layers through structure-transform linears whose
output is blended with the intrinsic code per layer (``interp_weights``). Key names are official.
Departure: the official file hardcodes 512 in the colour MLP and linears; here ``style_dim`` is used
(equal for every official model), and the channel table can be overridden with ``channels``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from engine.models.stylegan import (
    ConvLayer,
    EqualLinear,
    Generator,
    map_each_latent,
    mapping_network,
    mix_latents,
    truncate,
)


class AdaptiveInstanceNorm(nn.Module):
    """InstanceNorm (no affine, eps 1e-5) then ``gamma * x + beta``; ``[gamma, beta]`` = Linear(style)."""

    def __init__(self, fin: int, style_dim: int = 512) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(fin, affine=False)
        self.style = nn.Linear(style_dim, fin * 2)
        with torch.no_grad():  # start as the identity: gamma 1, beta 0
            self.style.bias[:fin] = 1
            self.style.bias[fin:] = 0

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x ``[N,C,H,W]``, style ``[N,style_dim]``."""
        gamma, beta = self.style(style).unsqueeze(2).unsqueeze(3).chunk(2, 1)  # [N,C,1,1] each
        return gamma * self.norm(x) + beta


class AdaResBlock(nn.Module):
    """ModRes: ``x + w * conv2(AdaIN2(conv1(AdaIN1(x, s)), s))``; ``w == 0`` returns x untouched.

    Convs are equalized 3x3 (dilated in VToonify) with biased leaky ReLU; initialised near zero
    so a fresh block barely changes its input.
    """

    def __init__(self, fin: int, style_dim: int = 512, dilation: int = 1) -> None:
        super().__init__()
        self.conv = ConvLayer(fin, fin, 3, dilation=dilation)
        self.conv2 = ConvLayer(fin, fin, 3, dilation=dilation)
        self.norm = AdaptiveInstanceNorm(fin, style_dim)
        self.norm2 = AdaptiveInstanceNorm(fin, style_dim)
        with torch.no_grad():
            self.conv[0].weight.mul_(0.01)
            self.conv2[0].weight.mul_(0.01)

    def forward(self, x: torch.Tensor, s: torch.Tensor, w: float = 1) -> torch.Tensor:
        if isinstance(w, (int, float)) and w == 0:
            return x
        out = self.conv(self.norm(x, s))
        out = self.conv2(self.norm2(out, s))
        return out * w + x


def structure_linear(style_dim: int) -> EqualLinear:
    """Structure transform T_s: equalized linear initialised near the identity."""
    layer = EqualLinear(style_dim, style_dim)
    with torch.no_grad():
        eye = torch.eye(style_dim, device=layer.weight.device)
        layer.weight.copy_(eye * style_dim**0.5 + torch.randn_like(layer.weight) * 0.01)
    return layer


class DualStyleGAN(nn.Module):
    """``style`` = colour MLP (PixelNorm + n_mlp-6 linears, lr 0.01), ``generator`` = StyleGAN2,
    ``res`` = [ModRes for conv1] + per resolution 8..size two ModRes blocks (layers <= res_index) or two
    structure linears, + one last linear for the final to_rgb."""

    def __init__(
        self,
        size: int,
        style_dim: int,
        n_mlp: int,
        channel_multiplier: int = 2,
        twoRes: bool = True,
        res_index: int = 6,
        channels: Mapping | None = None,
    ) -> None:
        super().__init__()
        self.style = mapping_network(style_dim, n_mlp - 6, 0.01)
        self.generator = Generator(size, style_dim, n_mlp, channel_multiplier, channels=channels)
        self.res_index = res_index // 2 * 2
        # Official argument name, kept for checkpoint configs; two blocks per level are built either way.
        self.twoRes = twoRes
        self.res = nn.ModuleList([AdaResBlock(self.generator.channels[4], style_dim)])  # for conv1
        for i in range(3, self.generator.log_size + 1):
            width = self.generator.channels[2**i]
            for _ in range(2):
                if i < 3 + self.res_index // 2:
                    self.res.append(AdaResBlock(width, style_dim))
                else:
                    self.res.append(structure_linear(style_dim))
        self.res.append(structure_linear(style_dim))  # for the last to_rgb
        self.size = self.generator.size
        self.style_dim = style_dim
        self.log_size = self.generator.log_size
        self.num_layers = self.generator.num_layers
        self.n_latent = self.generator.n_latent
        self.channels = self.generator.channels

    def colour_styles(self, exstyles: torch.Tensor) -> torch.Tensor:
        """Extrinsic W ``[N,D]`` or W+ ``[N,L,D]`` -> ModRes styles ``[N, n_latent or L, D]``."""
        if exstyles.ndim < 3:
            return self.style(exstyles).unsqueeze(1).repeat(1, self.n_latent, 1)
        return map_each_latent(self.style, exstyles)

    def forward(
        self,
        styles: list[torch.Tensor],
        exstyles: torch.Tensor | None,
        return_latents: bool = False,
        return_feat: bool = False,
        inject_index: int | None = None,
        truncation: float = 1,
        truncation_latent=None,
        input_is_latent: bool = False,
        noise: Sequence | None = None,
        randomize_noise: bool = True,
        z_plus_latent: bool = False,
        use_res: bool = True,
        fuse_index: int = 18,
        interp_weights: Sequence[float] = (1,) * 18,
    ):
        """styles: intrinsic codes (list of ``[N,D]`` z/W or ``[N,L,D]`` z+/W+); exstyles: extrinsic W/W+.

        Returns ``(image [N,3,size,size], latent | None)``, or ``(feature, skip)`` after the 32x32 block
        when ``return_feat``. Layers with index > ``fuse_index`` ignore the extrinsic path.
        """
        g = self.generator
        styles = g.map_styles(styles, input_is_latent, z_plus_latent)
        noise = g.resolve_noise(noise, randomize_noise)
        styles = truncate(styles, truncation, truncation_latent)
        latent = mix_latents(styles, self.n_latent, inject_index)  # [N,n_latent,D]

        if use_res:
            resstyles = self.colour_styles(exstyles)
            adastyles = exstyles.unsqueeze(1).repeat(1, self.n_latent, 1) if exstyles.ndim < 3 else exstyles

        def uses_res(layer: int) -> bool:
            return use_res and fuse_index >= layer

        def blended(layer: int) -> torch.Tensor:
            """Structure path: ``w * T_s(exstyle) + (1 - w) * intrinsic`` for one layer -> ``[N,D]``."""
            w = interp_weights[layer]
            return w * self.res[layer](adastyles[:, layer]) + (1 - w) * latent[:, layer]

        out = g.conv1(g.input(latent), latent[:, 0], noise=noise[0])
        if use_res and fuse_index > 0:
            out = self.res[0](out, resstyles[:, 0], interp_weights[0])
        skip = g.to_rgb1(out, latent[:, 1])

        i = 1
        for conv_up, conv, noise1, noise2, to_rgb in zip(
            g.convs[::2], g.convs[1::2], noise[1::2], noise[2::2], g.to_rgbs
        ):
            for layer, styled_conv, layer_noise in ((i, conv_up, noise1), (i + 1, conv, noise2)):
                modres_layer = i <= self.res_index
                style = blended(layer) if uses_res(layer) and not modres_layer else latent[:, layer]
                out = styled_conv(out, style, noise=layer_noise)
                if uses_res(layer) and modres_layer:
                    out = self.res[layer](out, resstyles[:, layer], interp_weights[layer])
            rgb_blended = uses_res(i + 2) and i >= self.res_index - 1
            skip = to_rgb(out, blended(i + 2) if rgb_blended else latent[:, i + 2], skip)
            i += 2
            if i > self.res_index and return_feat:
                return out, skip
        return (skip, latent) if return_latents else (skip, None)

    def make_noise(self) -> list[torch.Tensor]:
        return [torch.randn_like(n) for n in self.generator.fixed_noises()]

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator.style(z)
