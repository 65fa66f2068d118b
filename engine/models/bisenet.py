"""BiSeNet face parser (19 classes) with its own ResNet-18 trunk, and the parsing step VToonify uses.

VToonify feeds 19 face-parsing logits (divided by 16) next to the RGB frame; this module computes
them. Attribute names equal the keys of the official ``faceparsing.pth`` (a bare state dict).

Departures from the official ``model/bisenet/``: the ResNet-18 trunk never downloads ImageNet weights
(the face-parsing file overwrites them anyway), no torchvision, no ``get_params``/``init_weight``
training helpers, and the unused spatial path is not built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 19
"""face-parsing.PyTorch labels: background, skin, brows, eyes, glasses, ears, earring, nose, mouth, lips,
neck, necklace, cloth, hair, hat."""

CLASS_NAMES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)  # fmt: skip
"""Channel order of the 19 logits (CelebAMask-HQ order used by face-parsing.PyTorch)."""


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv+BN, projected shortcut when width or stride change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if in_channels != out_channels or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + residual)


def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels)
    )


class ResNet18(nn.Module):
    """ResNet-18 without the classifier; returns features at 1/8, 1/16, 1/32 of the input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, 512, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        feat8 = self.layer2(self.layer1(x))  # [N,128,H/8,W/8]
        feat16 = self.layer3(feat8)  # [N,256,H/16,W/16]
        feat32 = self.layer4(feat16)  # [N,512,H/32,W/32]
        return feat8, feat16, feat32


class ConvBNReLU(nn.Module):
    """Conv (no bias) + BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, 1, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class AttentionRefinement(nn.Module):
    """ConvBNReLU then a channel gate from the globally pooled feature (1x1 conv, BN, sigmoid)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels)
        self.conv_atten = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        gate = torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))  # [N,C,1,1]
        return feat * gate


class ContextPath(nn.Module):
    """ResNet-18 + attention refinement at 1/16 and 1/32 + global context, merged top-down (nearest)."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128)
        self.conv_head16 = ConvBNReLU(128, 128)
        self.conv_avg = ConvBNReLU(512, 128, kernel_size=1, padding=0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        context = self.conv_avg(F.adaptive_avg_pool2d(feat32, 1))  # [N,128,1,1]
        context = F.interpolate(context, feat32.shape[-2:], mode="nearest")
        up32 = F.interpolate(self.arm32(feat32) + context, feat16.shape[-2:], mode="nearest")
        up32 = self.conv_head32(up32)  # [N,128,H/16,W/16]
        up16 = F.interpolate(self.arm16(feat16) + up32, feat8.shape[-2:], mode="nearest")
        up16 = self.conv_head16(up16)  # [N,128,H/8,W/8]
        return feat8, up16, up32


class FeatureFusion(nn.Module):
    """Concatenate spatial and context features, 1x1 ConvBNReLU, then add a channel-gated copy."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(in_channels, out_channels, kernel_size=1, padding=0)
        self.conv1 = nn.Conv2d(out_channels, out_channels // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels // 4, out_channels, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(feat, 1)))))
        return feat * gate + feat


class BiSeNetOutput(nn.Module):
    """ConvBNReLU + 1x1 conv to class logits."""

    def __init__(self, in_channels: int, mid_channels: int, n_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, mid_channels)
        self.conv_out = nn.Conv2d(mid_channels, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """Face parser. forward(x [N,3,H,W]) -> (out, out16, out32), each raw logits [N,n_classes,H,W]."""

    def __init__(self, n_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = BiSeNetOutput(256, 256, n_classes)
        self.conv_out16 = BiSeNetOutput(128, 64, n_classes)
        self.conv_out32 = BiSeNetOutput(128, 64, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"BiSeNet needs [N,3,H,W] input, got {list(x.shape)}")
        size = x.shape[-2:]
        feat8, context8, context16 = self.cp(x)
        fused = self.ffm(feat8, context8)  # the 1/8 ResNet feature stands in for the spatial path

        def full_size(logits: torch.Tensor) -> torch.Tensor:
            return F.interpolate(logits, size, mode="bilinear", align_corners=True)

        out = full_size(self.conv_out(fused))
        out16 = full_size(self.conv_out16(context8))
        out32 = full_size(self.conv_out32(context16))
        return out, out16, out32


def parsing_maps(parser: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """19 parsing logits for VToonify, computed exactly as the official ``style_transfer.py``.

    frames [B,3,H,W] in [-1,1] -> logits [B,19,H,W] (raw, no softmax; the caller divides by 16).
    Steps: bilinear 2x upsample (align_corners=False), times 2, parser head 0, then the official
    nearest 0.5x downsample, which keeps rows/cols 0, 2, 4, ... (``[..., ::2, ::2]``).
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"parsing_maps needs frames [B,3,H,W], got {list(frames.shape)}")
    upsampled = F.interpolate(frames, scale_factor=2, mode="bilinear", align_corners=False)  # [B,3,2H,2W]
    logits = parser(2 * upsampled)[0]  # [B,19,2H,2W]
    return logits[..., ::2, ::2]  # [B,19,H,W]
