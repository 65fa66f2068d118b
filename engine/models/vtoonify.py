"""VToonify (Yang et al. 2022): a fully convolutional encoder + the upper layers of a StyleGAN
(DualStyleGAN for VToonify-D, plain StyleGAN2 for VToonify-T) for any-size portrait frames.

Matches ``model/vtoonify.py`` key for key. Data flow for ``x`` ``[N, 22, H, W]`` (RGB in [-1,1]
+ 19 parsing logits / 16):

encoder -> features at H, H/2, H/4, H/8 -> residual blocks at H/8 (D: each followed by a ModRes
block weighted by ``d_s``) -> initial RGB skip -> 5 StyleGAN stages (32->64 ... 512->1024 in
generator terms), the first four fused with the encoder features -> image ``[N, 3, 4H, 4W]``.
Departures: the decoding noise (official: a random map times 0.0) is skipped, and the input
shape is checked up front with a typed error; the D ModRes AdaIN layers take ``style_channels``-wide
codes (official: a fixed 512, equal for every official model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import InputError
from engine.models.dualstylegan import AdaptiveInstanceNorm, AdaResBlock, DualStyleGAN
from engine.models.stylegan import Generator, map_each_latent

PARSING_CLASSES = 19
FIRST_DECODED_LAYER = 7  # latents 0..6 belong to the 4..32 layers that the encoder replaces


def assert_vtoonify_input(x: torch.Tensor, channels: int) -> None:
    """x must be ``[N, channels, H, W]`` with H and W divisible by 8 (three stride-2 convs)."""
    shape = tuple(x.shape)
    if x.ndim != 4 or shape[1] != channels:
        raise InputError(
            f"VToonify input must be [N, {channels}, H, W], got {list(shape)}",
            f"concatenate the RGB frame with the {PARSING_CLASSES} parsing maps / 16 along dim 1",
        )
    if shape[2] % 8 or shape[3] % 8 or shape[2] == 0 or shape[3] == 0:
        raise InputError(
            f"VToonify input height and width must be positive multiples of 8, got {shape[2]}x{shape[3]}",
            "crop or pad the frame so both sides are divisible by 8",
        )


def assert_style_shape(style: torch.Tensor, batch: int, n_latent: int, dim: int) -> None:
    """style must be W ``[N, dim]`` or W+ ``[N, n_latent, dim]`` with N equal to the frame batch."""
    ok = style.ndim == 2 or (style.ndim == 3 and style.shape[1] == n_latent)
    if not ok or style.shape[0] != batch or style.shape[-1] != dim:
        raise InputError(
            f"VToonify style must be [{batch}, {dim}] or [{batch}, {n_latent}, {dim}], got {list(style.shape)}",
            "repeat the shot's W+ code over the batch (style.repeat(N, 1, 1))",
        )


class VToonifyResBlock(nn.Module):
    """Plain residual block: ``(lrelu(conv2(lrelu(conv(x)))) + x) / sqrt(2)`` (ordinary convs)."""

    def __init__(self, fin: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(fin, fin, 3, 1, 1)
        self.conv2 = nn.Conv2d(fin, fin, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv(x), 0.2)
        out = F.leaky_relu(self.conv2(out), 0.2)
        return (out + x) / math.sqrt(2)


class Fusion(nn.Module):
    """VToonify-D fusion: a mask ``m_E`` (AdaIN conditioned on the style degree) gates the encoder
    feature before it is concatenated with the generator feature."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        both = in_channels + skip_channels
        self.conv = nn.Conv2d(both, out_channels, 3, 1, 1)
        self.norm = AdaptiveInstanceNorm(both, 128)
        self.conv2 = nn.Conv2d(both, 1, 3, 1, 1)
        self.linear = nn.Sequential(  # d_s -> 128-d label
            nn.Linear(1, 64), nn.LeakyReLU(0.2), nn.Linear(64, 128), nn.LeakyReLU(0.2)
        )

    def forward(
        self, f_g: torch.Tensor, f_e: torch.Tensor, d_s: float = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """f_g, f_e ``[N,C,h,w]`` -> (fused feature ``[N,C_out,h,w]``, mask ``[N,1,h,w]``)."""
        label = self.linear(torch.zeros(f_g.shape[0], 1, device=f_g.device, dtype=f_g.dtype) + d_s)  # [N,128]
        diff = torch.cat([f_g, (f_g - f_e).abs()], dim=1)
        m_e = F.relu(self.conv2(self.norm(diff, label))).tanh()
        return self.conv(torch.cat([f_g, f_e * m_e], dim=1)), m_e


def _down_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1),
        nn.LeakyReLU(0.2),
    )


class VToonify(nn.Module):
    """``generator`` (frozen backbone), ``encoder`` (6 blocks), ``fusion_out`` / ``fusion_skip``
    (one per fused stage) and, for D, ``res`` (ModRes blocks after the encoder's residual blocks)."""

    def __init__(
        self,
        in_size: int = 256,
        out_size: int = 1024,
        img_channels: int = 3,
        style_channels: int = 512,
        num_mlps: int = 8,
        channel_multiplier: int = 2,
        num_res_layers: int = 6,
        backbone: str = "dualstylegan",
        channels: Mapping | None = None,
    ) -> None:
        super().__init__()
        if backbone not in ("dualstylegan", "toonify"):
            raise ValueError(f"backbone must be 'dualstylegan' or 'toonify', got {backbone!r}")
        self.backbone = backbone
        if backbone == "dualstylegan":
            self.generator = DualStyleGAN(
                out_size, style_channels, num_mlps, channel_multiplier, channels=channels
            )
        else:
            self.generator = Generator(
                out_size, style_channels, num_mlps, channel_multiplier, channels=channels
            )
        self.in_size = in_size
        self.style_channels = style_channels
        self.img_channels = img_channels
        ch = self.generator.channels

        encoder_res = [2**i for i in range(int(math.log2(in_size)), 4, -1)]  # e.g. 256,128,64,32
        self.encoder = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(img_channels + PARSING_CLASSES, 32, 3, 1, 1),
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(32, ch[in_size], 3, 1, 1),
                    nn.LeakyReLU(0.2),
                )
            ]
        )
        for res in encoder_res:
            if res > 32:
                self.encoder.append(_down_block(ch[res], ch[res // 2]))
            else:
                self.encoder.append(
                    nn.Sequential(*[VToonifyResBlock(ch[res]) for _ in range(num_res_layers)])
                )
                self.encoder.append(nn.Conv2d(ch[res], img_channels, 1, 1, 0))  # initial RGB skip

        self.fusion_out = nn.ModuleList()
        self.fusion_skip = nn.ModuleList()
        for res in encoder_res[::-1]:
            c = ch[res]
            if backbone == "dualstylegan":
                self.fusion_out.append(Fusion(c, c, c))
            else:
                self.fusion_out.append(nn.Conv2d(c * 2, c, 3, 1, 1))
            self.fusion_skip.append(nn.Conv2d(c + img_channels, img_channels, 3, 1, 1))

        if backbone == "dualstylegan":
            # Built with generator widths at 8/16/32 but applied at the 32 level (so these must match).
            # Official: AdaIN style width fixed at 512 (= style_channels of every official model); here
            # style_channels, so narrow-style teachers (tests) work too.
            self.res = nn.ModuleList([AdaResBlock(ch[4], style_channels)])  # index 0 unused, kept for the checkpoint
            for i in range(3, 6):
                for _ in range(2):
                    self.res.append(AdaResBlock(ch[2**i], style_channels, dilation=2 ** (5 - i)))

    def stylegan(self) -> Generator:
        """The StyleGAN2 generator whose upper layers decode (inside DualStyleGAN for D)."""
        return self.generator.generator if self.backbone == "dualstylegan" else self.generator

    def zplus2wplus(self, zplus: torch.Tensor) -> torch.Tensor:
        """z+ ``[N, L, 512]`` (pSp output) -> W+ ``[N, L, 512]`` through the 8-layer mapping."""
        return map_each_latent(self.stylegan().style, zplus)

    def _styles(self, style: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """W ``[N,512]`` or W+ ``[N,18,512]`` -> (ModRes styles or None for T, decoder styles), W+ each."""
        n_latent = self.stylegan().n_latent
        if style.ndim < 3:
            resstyles = (
                self.generator.style(style).unsqueeze(1).repeat(1, n_latent, 1)
                if self.backbone == "dualstylegan"
                else None
            )
            adastyles = style.unsqueeze(1).repeat(1, n_latent, 1)
        else:
            resstyles = (
                map_each_latent(self.generator.style, style) if self.backbone == "dualstylegan" else None
            )
            adastyles = style
        if self.backbone == "dualstylegan":
            structure = [self.generator.res[i](adastyles[:, i]) for i in range(FIRST_DECODED_LAYER, n_latent)]
            adastyles = torch.cat([adastyles[:, :FIRST_DECODED_LAYER], torch.stack(structure, 1)], 1)
        return resstyles, adastyles

    def forward(
        self,
        x: torch.Tensor,
        style: torch.Tensor | None,
        d_s: float = 0.5,
        return_mask: bool = False,
        return_feat: bool = False,
    ):
        """x ``[N,22,H,W]`` (H, W multiples of 8), style W ``[N,512]`` or W+ ``[N,18,512]``, d_s in [0,1]
        (style degree; ignored by VToonify-T).

        Returns image ``[N,3,4H,4W]`` (unclamped); ``(image, masks)`` with ``return_mask`` (D only: four
        ``[N,1,h,w]`` maps); ``(feature [N,C,H/8,W/8], skip [N,3,H/8,W/8])`` with ``return_feat``.
        """
        assert_vtoonify_input(x, self.img_channels + PARSING_CLASSES)
        if style is None and not (return_feat and self.backbone == "toonify"):
            raise InputError(
                "VToonify needs a style code",
                "pass a W+ code [N,18,512] (e.g. zplus2wplus of the pSp output)",
            )
        resstyles, adastyles = None, None
        if style is not None:
            assert_style_shape(style, x.shape[0], self.stylegan().n_latent, self.style_channels)
            resstyles, adastyles = self._styles(style)

        feat = x
        encoder_features = []
        for block in self.encoder[:-2]:
            feat = block(feat)
            encoder_features.append(feat)
        encoder_features = encoder_features[::-1]  # [H/8, H/4, H/2, H]
        for j, block in enumerate(self.encoder[-2]):
            feat = block(feat)
            if self.backbone == "dualstylegan":
                feat = self.res[j + 1](feat, resstyles[:, j + 1], d_s)
        out = feat
        skip = self.encoder[-1](feat)  # [N,3,H/8,W/8]
        if return_feat:
            return out, skip

        g = self.stylegan()
        masks = []
        stages = zip(g.convs[6::2], g.convs[7::2], g.to_rgbs[3:])
        for k, (conv_up, conv, to_rgb) in enumerate(stages):
            if 2 ** (5 + k) <= self.in_size:
                f_e = encoder_features[k]
                if self.backbone == "dualstylegan":
                    out, m_e = self.fusion_out[k](out, f_e, d_s)
                    skip = self.fusion_skip[k](torch.cat([skip, f_e * m_e], dim=1))
                    masks.append(m_e)
                else:
                    out = self.fusion_out[k](torch.cat([out, f_e], dim=1))
                    skip = self.fusion_skip[k](torch.cat([skip, f_e], dim=1))
            layer = FIRST_DECODED_LAYER + 2 * k
            out = conv_up(out, adastyles[:, layer], inject_noise=False)
            out = conv(out, adastyles[:, layer + 1], inject_noise=False)
            skip = to_rgb(out, adastyles[:, layer + 2], skip)
        if return_mask and self.backbone == "dualstylegan":
            return skip, masks
        return skip
