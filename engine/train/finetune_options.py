"""``FinetuneOptions``: one ``engine train finetune`` run (Toonify's StyleGAN fine-tuning), checked.

Defaults are the official recipe: DualStyleGAN's ``finetune_stylegan.py`` as its README runs it for the
cartoon style (``--iter 600 --batch 4`` per GPU on 8 GPUs, ``--augment``), whose other values are
rosinality's ``train.py`` ones: ``--lr 0.002``, R1 10 every 16 D steps, path length 2 every 4 G steps
on half the batch, style mixing 0.9, EMA ``0.5 ** (32 / 10000)`` per step, ADA target 0.6.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from engine.errors import ConfigError
from engine.train.options import TRAIN_PRECISIONS

FINETUNE_FILE = "finetune.pt"
"""Final file in ``OUT/vtoonify_t_NAME/`` (official: ``checkpoint/STYLE/finetune-000600.pt``);
numbered saves are ``finetune-%05d.pt``, as ``pretrain-%05d.pt``."""


@dataclass(frozen=True)
class FinetuneOptions:
    stylegan_path: str
    """The FFHQ StyleGAN2 in rosinality's layout, with ``g``, ``d`` and ``g_ema`` (the fine-tuning
    starts from ``g`` and ``d``; ``g_ema`` seeds the EMA)."""
    images: str
    """Folder of style images (the artwork): faces to align, or already aligned with ``aligned``."""
    aligned: bool = False
    """Take the images as already in the FFHQ layout (square; resized to the StyleGAN's size)."""
    drop_no_face: bool = False
    """Train without the images where no face is found (otherwise they stop the run, listed)."""
    out: str = "checkpoint"
    name: str = ""
    iter: int = 600
    batch: int = 4
    lr: float = 0.002
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    save_every: int = 0
    log_every: int = 50
    sample_every: int = 100
    json_log: bool = False
    progress: bool = True
    resume: str | None = None
    overwrite: bool = False
    r1: float = 10.0
    d_reg_every: int = 16
    path_regularize: float = 2.0
    g_reg_every: int = 4
    path_batch_shrink: int = 2
    mixing: float = 0.9
    flip: bool = True
    """Random horizontal flips of the style images (the official dataset transform)."""
    augment: bool = True
    """Adaptive augmentation of what D sees (official ``--augment``), see ``engine.train.augment``."""
    augment_p: float = 0.0
    """Fixed augmentation probability; 0 with ``augment``: adaptive, starting at 0."""
    ada_target: float = 0.6
    ada_length: int = 500_000
    stage: str = "finetune"
    backbone: str = "toonify"

    def __post_init__(self) -> None:
        checks = [
            (self.iter >= 1, f"--iter must be at least 1, got {self.iter}", "official 600"),
            (self.batch >= 1, f"--batch must be at least 1, got {self.batch}", "official 4 per GPU, 32 in all"),
            (0 < self.lr < math.inf, f"--lr must be a positive number, got {self.lr}", "official 0.002"),
            (self.log_every >= 1, f"--log-every must be at least 1, got {self.log_every}", "e.g. --log-every 50"),
            (self.save_every >= 0, f"--save-every must be >= 0, got {self.save_every}", "0 saves only at the end"),
            (self.sample_every >= 0, f"--sample-every must be >= 0, got {self.sample_every}", "0 writes none"),
            (0 <= self.r1 < math.inf and 0 <= self.path_regularize < math.inf,
             "--r1 and --path-regularize must be finite numbers >= 0",
             "0 switches the term off (official 10 and 2)"),
            (self.d_reg_every >= 1 and self.g_reg_every >= 1, "--d-reg-every and --g-reg-every must be >= 1",
             "official 16 and 4"),
            (self.path_batch_shrink >= 1, "--path-batch-shrink must be >= 1", "official 2"),
            (0 <= self.mixing <= 1, f"--mixing must lie in [0, 1], got {self.mixing}", "official 0.9"),
            (0 <= self.augment_p <= 1, f"--augment-p must lie in [0, 1], got {self.augment_p}",
             "0: adaptive (official)"),
            (0 < self.ada_target <= 1 and self.ada_length >= 1, "--ada-target must lie in (0, 1] and "
             "--ada-length be >= 1", "official 0.6 and 500000"),
            (self.precision in TRAIN_PRECISIONS, f"unknown --precision {self.precision!r}", "use fp32, bf16 or auto"),
        ]
        for ok, message, fix in checks:
            if not ok:
                raise ConfigError(message, fix)

    @property
    def folder_name(self) -> str:
        return self.name or "vtoonify_t_cartoon"

    def variant(self) -> dict:
        return {}

    def to_dict(self) -> dict:
        return asdict(self)
