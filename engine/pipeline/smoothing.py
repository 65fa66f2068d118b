"""Temporal smoothing of face-parsing maps (paper Eq. 6-7; official ``smooth_parsing_map.py``).

For frame i, the parsing logits of frames i-k..i+k are warped onto frame i with optical flow and
averaged with weights ``exp(-(i-j)^2 / 2 sigma_t^2) * exp(-||I_i - warp(I_j)||^2 / 2 sigma_s^2) * m_ji``.
Differences from the official script, on purpose: OpenCV's DIS optical flow replaces RAFT (no extra
weights to ship), and the occlusion mask ``m_ji`` adds a forward-backward consistency check to RAFT's
out-of-frame test. Kept as official: k = 5, sigma_t = k + 0.5, sigma_s = 0.2, frames and logits at 2x
the crop size, edge frames padded by repeating the first/last k frames, the centre weight fixed to 1,
and the [1,3,3,1] blur-downsample back to the crop size.

Neighbours come from the whole source, not the chunk, so farm chunks get identical maps.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import cv2
import numpy as np
import torch
import torch.nn.functional as F

WINDOW = 5
SIGMA_T = WINDOW + 0.5
SIGMA_S = 0.2


def padded_neighbours(index: int, count: int, window: int = WINDOW) -> list[int]:
    """Source indices of the 2k+1 frames around ``index``, padded as the official script pads."""
    padded = list(range(min(window, count))) + list(range(count)) + list(range(max(0, count - window), count))
    lead = min(window, count)
    centre = index + lead
    return [padded[min(max(q, 0), len(padded) - 1)] for q in range(centre - window, centre + window + 1)]


def blur_downsample(x: torch.Tensor) -> torch.Tensor:
    """[B,C,2h,2w] -> [B,C,h,w] with the [1,3,3,1] FIR kernel (StyleGAN's Downsample, factor 2)."""
    k1 = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device)
    k2 = torch.outer(k1, k1)
    k2 = (k2 / k2.sum()).expand(x.shape[1], 1, 4, 4)                    # [C,1,4,4]
    return F.conv2d(F.pad(x, (1, 1, 1, 1)), k2, stride=2, groups=x.shape[1])


class FlowEstimator:
    """DIS optical flow (centre -> neighbour) with a forward-backward occlusion mask."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def flow_and_mask(self, centre_grey: np.ndarray, other_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fwd = self.dis.calc(centre_grey, other_grey, None)               # [H,W,2]: centre(x) ~ other(x+f)
        bwd = self.dis.calc(other_grey, centre_grey, None)
        h, w = centre_grey.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + fwd[..., 0], gy + fwd[..., 1]
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        bwd_at = cv2.remap(bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = ((fwd + bwd_at) ** 2).sum(-1)
        mag = (fwd ** 2).sum(-1) + (bwd_at ** 2).sum(-1)
        consistent = err <= 0.01 * mag + 0.5
        return fwd, (inside & consistent).astype(np.float32)


def warp(x: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """Sample ``x`` [1,C,H,W] at x + flow (backward warp), bilinear, align_corners=True as RAFT's."""
    _, _, h, w = x.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    vx = 2.0 * (gx + flow[..., 0]) / max(w - 1, 1) - 1.0
    vy = 2.0 * (gy + flow[..., 1]) / max(h - 1, 1) - 1.0
    grid = torch.from_numpy(np.stack([vx, vy], -1))[None].to(x.device, x.dtype)   # [1,H,W,2]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def fuse(centre_img: torch.Tensor, images: list[torch.Tensor], logits: list[torch.Tensor],
         offsets: list[int], flows: list[tuple[np.ndarray, np.ndarray] | None]) -> torch.Tensor:
    """Eq. 6-7 for one frame. images/logits [1,C,H,W] at 2x; offsets i-j; flows None for the centre."""
    weighted, total = None, None
    for img, logit, off, fm in zip(images, logits, offsets, flows):
        wt = math.exp(-(off ** 2) / (2 * SIGMA_T ** 2))
        if fm is None:
            aligned_p, ws = logit, torch.ones_like(logit[:, :1])
        else:
            flow, mask = fm
            warped = warp(torch.cat([img, logit], 1), flow)
            aligned_i, aligned_p = warped[:, :3], warped[:, 3:]
            m = torch.from_numpy(mask)[None, None].to(img.device, img.dtype)
            ws = torch.exp(-((aligned_i - centre_img) ** 2).mean(1, keepdim=True) / (2 * SIGMA_S ** 2)) * m
        w = ws * wt
        weighted = aligned_p * w if weighted is None else weighted + aligned_p * w
        total = w if total is None else total + w
    return weighted / total


def grey_u8(img2x: torch.Tensor) -> np.ndarray:
    """[1,3,H,W] in [-1,1] -> uint8 grey for the flow estimator."""
    rgb = ((img2x[0].permute(1, 2, 0).float().cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class SourceParsingSmoother:
    """Smoothed parsing logits [B,19,h,w] for frames of a source, caching per-frame parsing."""

    def __init__(self, source, crop, backend, device, cache_frames: int = 2 * WINDOW + 8) -> None:
        self.source = source
        self.crop = crop
        self.backend = backend
        self.device = device
        self.numbers = list(source.frame_numbers)
        self.flow = FlowEstimator()
        self._cache: OrderedDict[int, tuple[torch.Tensor, torch.Tensor, np.ndarray]] = OrderedDict()
        self._cache_frames = cache_frames

    def _frame(self, index: int, crop_rgb: np.ndarray | None = None):
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        from engine.face import scale_and_crop
        from engine.pipeline.backends import frames_to_tensor

        if crop_rgb is None:
            crop_rgb = scale_and_crop(self.source.read(self.numbers[index]), self.crop)
        x = frames_to_tensor([crop_rgb], self.device)
        img2x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        with torch.no_grad():
            logits2x = self.backend.parser(2 * img2x)[0]
        entry = (img2x, logits2x, grey_u8(img2x))
        self._cache[index] = entry
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)
        return entry

    @torch.no_grad()
    def parsing_for(self, frame_numbers: list[int], crops: list[np.ndarray]) -> torch.Tensor:
        out = []
        position = {n: i for i, n in enumerate(self.numbers)}
        for number, crop_rgb in zip(frame_numbers, crops):
            index = position[number]
            centre_img, _, centre_grey = self._frame(index, crop_rgb)
            neighbours = padded_neighbours(index, len(self.numbers))
            images, logits, offsets, flows = [], [], [], []
            for slot, j in enumerate(neighbours):
                offset = slot - WINDOW
                img, logit, grey = self._frame(j)
                images.append(img)
                logits.append(logit)
                offsets.append(offset)
                flows.append(None if offset == 0 else self.flow.flow_and_mask(centre_grey, grey))
            out.append(blur_downsample(fuse(centre_img, images, logits, offsets, flows)))
        return torch.cat(out, 0)
