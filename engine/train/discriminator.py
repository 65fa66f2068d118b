"""StyleGAN2 discriminator, class- and degree-conditional for VToonify-D (``model/vtoonify.py``).

Key names follow the official ``ConditionalDiscriminator`` (``convs.*``, ``final_conv``, ``final_linear``,
``label_mapper``, ``style_mapper``), so an official ``d`` state dict loads. The conditional form is a
projection discriminator: the last linear gives a 128-d vector ``h`` that is dotted with the condition
``[label_mapper(d_s) (64), style_mapper(style index) (64)]`` and scaled by 1/sqrt(128). VToonify-T uses
the plain form (one logit). Departures: ``channels`` can narrow the width table (tests), and the
minibatch-stddev group shrinks to a divisor of the batch instead of failing on odd batch sizes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from engine.models.stylegan import BLUR_KERNEL, Blur, ConvLayer, EqualConv2d, EqualLinear, normalize_channels
from engine.ops import FusedLeakyReLU

CONDITION_DIM = 128
STDDEV_GROUP = 4


class DownConvLayer(nn.Sequential):
    """Official ``ConvLayer(downsample=True)``: FIR blur then a stride-2 equalized conv (+ biased lrelu).

    Keys ``0.kernel`` (blur), ``1.weight`` (conv), ``2.bias`` (activation), as the official module list.
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        bias: bool = True,
        activate: bool = True,
    ) -> None:
        p = (len(blur_kernel) - 2) + (kernel_size - 1)
        layers: list[nn.Module] = [
            Blur(blur_kernel, pad=((p + 1) // 2, p // 2)),
            EqualConv2d(in_channel, out_channel, kernel_size, stride=2, padding=0, bias=bias and not activate),
        ]
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias, impl="fast"))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Discriminator residual block: two 3x3 convs (the second halves the size) + a 1x1 downsampled skip,
    summed and divided by sqrt(2)."""

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = BLUR_KERNEL) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = DownConvLayer(in_channel, out_channel, 3, blur_kernel)
        self.skip = DownConvLayer(in_channel, out_channel, 1, blur_kernel, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class ConditionalDiscriminator(nn.Module):
    """Image [B,3,size,size] (-> optional d_s [B,1] and style index [B]) -> realness logit [B,1].

    Args:
        size: input resolution (official 256: outputs are average-pooled to 256 before scoring).
        channel_multiplier: official width rule (2).
        use_condition: True for VToonify-D (projection on degree + style), False for VToonify-T.
        style_num: number of exemplar styles (embedding rows) when conditional.
        channels: optional width table {resolution: width} replacing the official one.
    """

    def __init__(
        self,
        size: int,
        channel_multiplier: int = 2,
        blur_kernel: Sequence[float] = BLUR_KERNEL,
        use_condition: bool = False,
        style_num: int | None = None,
        channels: Mapping | None = None,
    ) -> None:
        super().__init__()
        ch = normalize_channels(channels, channel_multiplier)
        self.size = size
        log_size = int(math.log2(size))
        if 2**log_size != size or size < 8:
            raise ValueError(f"discriminator size must be a power of two >= 8, got {size}")
        convs: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        in_channel = ch[size]
        for i in range(log_size, 2, -1):
            convs.append(ResBlock(in_channel, ch[2 ** (i - 1)], blur_kernel))
            in_channel = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*convs)
        self.stddev_group = STDDEV_GROUP
        self.stddev_feat = 1
        self.use_condition = use_condition
        if use_condition:
            if not style_num or style_num < 1:
                raise ValueError("a conditional discriminator needs style_num >= 1")
            self.condition_dim = CONDITION_DIM
            half = CONDITION_DIM // 2
            self.label_mapper = nn.Sequential(
                nn.Linear(1, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, half)
            )
            self.style_mapper = nn.Embedding(style_num, CONDITION_DIM - half)
        else:
            self.condition_dim = 1
        self.final_conv = ConvLayer(in_channel + 1, ch[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu"),
            EqualLinear(ch[4], self.condition_dim),
        )

    def _stddev_group(self, batch: int) -> int:
        group = min(batch, self.stddev_group)
        while batch % group:
            group -= 1
        return group

    def forward(
        self,
        x: torch.Tensor,
        degree_label: torch.Tensor | None = None,
        style_ind: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x [B,3,size,size]; conditional: degree_label [B,1] float, style_ind [B] long -> [B,1]."""
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (self.size, self.size):
            raise ValueError(f"discriminator needs [B,3,{self.size},{self.size}], got {list(x.shape)}")
        out = self.convs(x)  # [B,C4,4,4]
        batch, channel, height, width = out.shape
        group = self._stddev_group(batch)
        stddev = out.view(group, -1, self.stddev_feat, channel // self.stddev_feat, height, width)
        stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8)
        stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2)  # [B/group,1,1,1]
        stddev = stddev.repeat(group, 1, height, width)
        out = self.final_conv(torch.cat([out, stddev], 1)).view(batch, -1)
        h = self.final_linear(out)
        if not self.use_condition:
            return h
        if degree_label is None or style_ind is None:
            raise ValueError("the conditional discriminator needs degree_label [B,1] and style_ind [B]")
        condition = torch.cat([self.label_mapper(degree_label.to(h)), self.style_mapper(style_ind)], dim=1)
        return (h * condition).sum(dim=1, keepdim=True) / math.sqrt(self.condition_dim)
