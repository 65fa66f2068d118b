"""pSp style encoder (``GradualStyleEncoder``, IR-SE-50 trunk) that maps an aligned face to z+.

VToonify uses it to turn the aligned 256x256 face of a shot into 18 latent codes (the content
code whose first 7 latents the exemplar's style replaces). Attribute names equal the official
checkpoint keys (``encoder.pt`` stores them with an ``encoder.`` prefix), so a strict load works.

Departures from the official ``model/encoder/encoders/psp_encoders.py``:
* ``widths`` replaces the channel literals 64/128/256/512 (the narrow golden uses 16/24/32/48);
* the constructor takes plain arguments instead of an ``opts`` namespace;
* ``latent_avg`` lives in :class:`StyleEncoder` as a buffer, not in a forward hook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_WIDTHS = {"W1": 64, "W2": 128, "W3": 256, "W4": 512}
"""Official stage widths: stem/stage 1, stage 2, stage 3, stage 4 (= latent width)."""

UNITS_PER_STAGE = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}
"""IR bottleneck units per stage for each trunk depth (official ``helpers.get_blocks``)."""

COARSE_END = 3
"""Styles 0..2 come from the 16x16 map."""
MIDDLE_END = 7
"""Styles 3..6 come from the 32x32 map; 7.. from the 64x64 map."""


def n_styles_for(output_size: int) -> int:
    """Latent count of a StyleGAN generator of ``output_size`` (1024 -> 18), as pSp computes it."""
    return int(math.log2(output_size)) * 2 - 2


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (weight scaled by lr_mul/sqrt(in) at run time).

    Same parameterisation as StyleGAN2's ``EqualLinear`` without activation, kept here so the encoder
    does not depend on the generator modules.
    """

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)  # [out, in]
        self.bias = nn.Parameter(torch.zeros(out_dim))  # [out]
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}"


class SqueezeExcite(nn.Module):
    """Channel attention of an IR-SE unit: global pool -> 1x1 down -> ReLU -> 1x1 up -> sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.adaptive_avg_pool2d(x, 1)  # [N,C,1,1]
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(gate))))
        return x * gate


class IRBottleneck(nn.Module):
    """ArcFace IR unit: BN-conv-PReLU-conv(stride)-BN[-SE] plus a (subsampling or projected) shortcut.

    The shortcut is a stride-s subsampling (``MaxPool2d(1, s)``, no weights) when the width does not
    change, else a strided 1x1 conv + BN, as in the official ``bottleneck_IR(_SE)``.
    """

    def __init__(self, in_channels: int, depth: int, stride: int, use_se: bool) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if use_se:
            layers.append(SqueezeExcite(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    """Stride-2 3x3 convs (LeakyReLU 0.01) from ``spatial`` x ``spatial`` down to 1x1, then a linear."""

    def __init__(self, in_channels: int, out_channels: int, spatial: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, 2, 1),
                nn.LeakyReLU(),  # slope 0.01 (PyTorch default), as the official block
            ]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)  # [N,C,1,1]
        return self.linear(x.reshape(-1, self.out_channels))  # [N,C]


class GradualStyleEncoder(nn.Module):
    """IR-SE trunk + feature pyramid + one GradualStyleBlock per latent.

    forward(x [B,input_nc,256,256]) -> z+ [B,n_styles,W4] (without ``latent_avg``).
    """

    def __init__(
        self,
        num_layers: int = 50,  # trunk depth: 50, 100 or 152
        mode: str = "ir_se",  # 'ir_se' (with squeeze-excite, official) or 'ir'
        input_nc: int = 3,  # input image channels
        n_styles: int = 18,  # latents produced (18 for a 1024 generator)
        widths: Mapping[str, int] | None = None,  # {'W1'..'W4'} stage widths; None = 64/128/256/512
    ) -> None:
        super().__init__()
        if num_layers not in UNITS_PER_STAGE:
            raise ValueError(f"num_layers must be one of {sorted(UNITS_PER_STAGE)}, got {num_layers}")
        if mode not in ("ir", "ir_se"):
            raise ValueError(f"mode must be 'ir' or 'ir_se', got {mode!r}")
        w = dict(DEFAULT_WIDTHS)
        if widths is not None:
            unknown = set(widths) - set(DEFAULT_WIDTHS)
            if unknown:
                raise ValueError(f"unknown widths {sorted(unknown)}; expected W1..W4")
            w.update({k: int(v) for k, v in widths.items()})
        self.widths = w
        self.n_styles = n_styles
        self.input_layer = nn.Sequential(
            nn.Conv2d(input_nc, w["W1"], 3, 1, 1, bias=False),
            nn.BatchNorm2d(w["W1"]),
            nn.PReLU(w["W1"]),
        )
        stage_widths = (w["W1"], w["W2"], w["W3"], w["W4"])
        units: list[nn.Module] = []
        in_channels = w["W1"]
        for depth, count in zip(stage_widths, UNITS_PER_STAGE[num_layers]):
            for i in range(count):
                stride = 2 if i == 0 else 1
                units.append(IRBottleneck(in_channels, depth, stride, use_se=mode == "ir_se"))
                in_channels = depth
        self.body = nn.Sequential(*units)
        # Taps: end of stage 2 (64x64), end of stage 3 (32x32), end of stage 4 (16x16).
        stage_ends = [sum(UNITS_PER_STAGE[num_layers][: i + 1]) - 1 for i in range(4)]
        self.tap_fine, self.tap_middle, self.tap_coarse = stage_ends[1], stage_ends[2], stage_ends[3]

        latent = w["W4"]
        self.styles = nn.ModuleList(
            GradualStyleBlock(latent, latent, 16 if i < COARSE_END else 32 if i < MIDDLE_END else 64)
            for i in range(n_styles)
        )
        self.latlayer1 = nn.Conv2d(w["W3"], latent, 1, 1, 0)
        self.latlayer2 = nn.Conv2d(w["W2"], latent, 1, 1, 0)

    @staticmethod
    def _upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        """Bilinear (align_corners=True, as official) upsample of ``top`` to ``lateral``'s size, plus it."""
        size = lateral.shape[-2:]
        return F.interpolate(top, size=size, mode="bilinear", align_corners=True) + lateral

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[-2:]) != (256, 256):
            raise ValueError(f"pSp encoder needs [B,C,256,256] input, got {list(x.shape)}")
        x = self.input_layer(x)
        c1 = c2 = c3 = x
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i == self.tap_fine:
                c1 = x  # [B,W2,64,64]
            elif i == self.tap_middle:
                c2 = x  # [B,W3,32,32]
            elif i == self.tap_coarse:
                c3 = x  # [B,W4,16,16]
        latents = [self.styles[j](c3) for j in range(min(COARSE_END, self.n_styles))]
        p2 = self._upsample_add(c3, self.latlayer1(c2))  # [B,W4,32,32]
        latents += [self.styles[j](p2) for j in range(COARSE_END, min(MIDDLE_END, self.n_styles))]
        p1 = self._upsample_add(p2, self.latlayer2(c1))  # [B,W4,64,64]
        latents += [self.styles[j](p1) for j in range(MIDDLE_END, self.n_styles)]
        return torch.stack(latents, dim=1)  # [B,n_styles,W4]


class StyleEncoder(nn.Module):
    """pSp encoder plus the generator's mean latent: forward returns ``encoder(x) + latent_avg``.

    Matches what the official ``util.load_psp_standalone`` returns (its forward hook adds
    ``latent_avg.repeat(B, 1, 1)``); ``latent_avg`` is [n_styles, W4] (or [W4], which broadcasts).
    State-dict keys are ``encoder.*`` + ``latent_avg``, i.e. the official checkpoint layout.
    """

    def __init__(self, encoder: GradualStyleEncoder, latent_avg: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("latent_avg", latent_avg.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z_plus = self.encoder(x)  # [B,n_styles,W4]
        avg = self.latent_avg.reshape(-1, z_plus.shape[-1])  # [n_styles|1, W4]
        return z_plus + avg.unsqueeze(0)
