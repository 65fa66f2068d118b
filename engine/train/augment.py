"""Augmentation of what the discriminator sees while fine-tuning on a few hundred style images.

Why: with ~300 images D memorises the set within a few hundred steps and its gradient stops teaching G
the style (Karras et al. 2020, "Training GANs with limited data"). As there, every image D judges, real
or generated, is augmented with probability ``p`` per transform, so D never sees the augmentations as
part of the style (non-leaking for p < 0.8), and ``p`` adapts: every 8 steps it moves by
``batch * 8 / ada_length`` up while D's sign on real images ``r_t = E[sign(D(real))]`` exceeds the target
(0.6), down otherwise (official ``--augment``, rosinality's ``AdaptiveAugment``). Our transforms are a
subset of ADA's (x-flip, integer translation by up to 1/8 of the side, brightness, contrast), all
differentiable for the generated images. Departure noted in docs/TRAINING.md: with the official 600
iterations at batch 32, ``p`` can reach at most ~0.04, so the official run is nearly unaugmented apart
from the dataset's horizontal flips; a fixed ``--augment-p`` is offered for very small sets.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

UPDATE_EVERY = 8
"""Steps between two adjustments of p (rosinality passes 8, whatever ``--ada_every`` says)."""


class AdaptiveAugment:
    """The probability ``p`` and its tuning state (saved in checkpoints, so a resume continues it)."""

    def __init__(self, target: float, length: int, p: float = 0.0, adaptive: bool = True) -> None:
        self.target, self.length, self.adaptive = float(target), int(length), adaptive
        self.p = float(p)
        self.signs, self.count, self.steps = 0.0, 0, 0
        self.r_t = 0.0

    def tune(self, real_pred: torch.Tensor, total=None) -> float:
        """Account D's outputs on (augmented) real images; returns the p for the next step. ``total``
        (several processes): sums (signs, count) over all of them, as the official ``reduce_sum``, so
        every process tunes the same p."""
        if not self.adaptive:
            return self.p
        signs, count = float(torch.sign(real_pred.detach().float()).sum()), int(real_pred.shape[0])
        if total is not None:
            signs, count = total(signs, count)
        self.signs += signs
        self.count += int(count)
        self.steps += 1
        if self.steps % UPDATE_EVERY == 0:
            self.r_t = self.signs / max(self.count, 1)
            step = self.count / self.length
            self.p = min(1.0, max(0.0, self.p + (step if self.r_t > self.target else -step)))
            self.signs, self.count = 0.0, 0
        return self.p

    def state_dict(self) -> dict:
        return {"p": self.p, "signs": self.signs, "count": self.count, "steps": self.steps, "r_t": self.r_t}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.signs = float(state["p"]), float(state["signs"])
        self.count, self.steps, self.r_t = int(state["count"]), int(state["steps"]), float(state["r_t"])


def hflip(images: torch.Tensor, gen: torch.Generator, prob: float = 0.5) -> torch.Tensor:
    """Each image mirrored left-right with probability ``prob`` (the official dataset's RandomHorizontalFlip)."""
    flip = (torch.rand(images.shape[0], generator=gen) < prob).to(images.device).view(-1, 1, 1, 1)
    return torch.where(flip, images.flip(-1), images)


def augment(images: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """[B,3,S,S] in [-1, 1] -> augmented copy (differentiable); identity when ``p`` is 0 (no draws)."""
    if p <= 0:
        return images
    b, _, s, _ = images.shape
    device = images.device
    applied = torch.rand(4, b, generator=gen) < p  # [transform, sample]
    out = torch.where(applied[0].to(device).view(-1, 1, 1, 1), images.flip(-1), images)
    shift = s // 8
    offsets = torch.randint(-shift, shift + 1, (b, 2), generator=gen)
    if shift > 0 and bool(applied[1].any()):
        padded = F.pad(out, (shift, shift, shift, shift), mode="reflect")
        moved = []
        for k in range(b):
            dy, dx = (int(v) for v in offsets[k]) if applied[1, k] else (0, 0)
            moved.append(padded[k:k + 1, :, shift + dy:shift + dy + s, shift + dx:shift + dx + s])
        out = torch.cat(moved)
    brightness = torch.randn(b, generator=gen) * 0.2 * applied[2]
    contrast = torch.exp2(torch.randn(b, generator=gen) * 0.5 * applied[3])
    out = out + brightness.to(device, out.dtype).view(-1, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return (out - mean) * contrast.to(device, out.dtype).view(-1, 1, 1, 1) + mean

