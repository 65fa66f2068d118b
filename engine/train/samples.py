"""Preview images of the full stage, as the official ``log/NAME/%05d.jpg``: what the model makes so far.

Why: the losses alone do not tell a studio whether a style is turning out well; an hour-long run should
show it. Every ``--sample-every`` iterations (and after the first and the last) rank 0 writes
``OUT/NAME/samples/full_%05d.png``: the top row the teacher's targets, the bottom row the EMA model
(``g_ema``, what the model file renders with) on the same inputs, the batch of iteration 1 (up to
four faces, at most 256 px each). The EMA forward draws no random numbers, so previews change nothing
in the run. A resumed run writes the previews an uninterrupted one would: the same iterations (no
extra one after its first step) and the same pixels (it makes iteration 1's batch again from the seed
instead of keeping its own first batch), so its samples folder reads as one run. A preview never
replaces a file: one already there (an earlier run's, or this run's before a hard stop) is kept and
named in one warning; a ``samples`` link is not followed; a preview that cannot be written is said once
and previews stop, training goes on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from engine.errors import EngineError

SAMPLE_DIR = "samples"
MAX_FACES = 4
MAX_SIDE = 256


def _shrink(images: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] -> at most MAX_SIDE px (area average, as the official log's ``interpolate`` to 256)."""
    side = images.shape[-1]
    return F.adaptive_avg_pool2d(images, MAX_SIDE) if side > MAX_SIDE else images


def preview_pixels(targets: torch.Tensor, outputs: torch.Tensor) -> np.ndarray:
    """uint8 [2h, B*w, 3]: targets on top, outputs below, [-1, 1] mapped to 0..255 (sRGB, as the teacher)."""
    grid = torch.cat([torch.cat(list(row), dim=-1) for row in (targets, outputs)], dim=-2)  # [3,2h,Bw]
    grid = ((grid.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return grid.permute(1, 2, 0).cpu().numpy()


class SampleWriter:
    """Keeps iteration 1's batch and writes the previews; see the module docstring."""

    PREFIX = "full"
    """File names ``<PREFIX>_%05d.png`` (the fine-tuning stage writes ``finetune_%05d.png``)."""

    def __init__(self, family_dir: Path, every: int, start: int, total: int, warn) -> None:
        self.folder = Path(family_dir) / SAMPLE_DIR
        self.every, self.start, self.total = int(every), int(start), int(total)
        self.warn = warn
        self.inputs: tuple | None = None
        self.enabled = self.every > 0

    def due(self, done: int) -> bool:
        """The uninterrupted run's schedule (iteration 1, every ``every``, the last) whatever ``start`` is:
        a resumed run's first iteration gets no preview of its own."""
        return self.enabled and (done == 1 or done % self.every == 0 or done == self.total)

    def keep(self, batch, iteration: int = 0) -> None:
        """Iteration 1's batch (index 0; its first MAX_FACES faces) becomes the preview input; the
        batches of later iterations are not kept (a resumed run passes ``first_batch`` to :meth:`write`)."""
        if iteration == 0 and self.inputs is None and self.enabled:
            n = min(MAX_FACES, batch.y.shape[0])
            self.inputs = (batch.student_input()[:n].detach().clone(), batch.style[:n].detach().clone(),
                           batch.degree(), _shrink(batch.y[:n].detach().float()))

    @torch.no_grad()
    def write(self, ema: torch.nn.Module, done: int, autocast, first_batch=None) -> Path | None:
        """Render the kept inputs with ``ema`` and write ``full_%05d.png``; None when nothing was written.
        ``first_batch``: makes iteration 1's batch again (called once, by a resumed run's first preview)."""
        if not self.due(done):
            return None
        if self.inputs is None and first_batch is not None:
            self.keep(first_batch(), 0)
        if self.inputs is None:
            return None
        path = self.folder / f"{self.PREFIX}_{done:05d}.png"
        if self.folder.is_symlink():
            return self._stop(f"{self.folder} is a link; previews are not written through a link training did "
                              "not make")
        if path.exists() or path.is_symlink():
            self.warn(f"{self.folder} holds an earlier run's previews (such as {path.name}; a run resumed after a "
                      "hard stop finds its own); they are kept and this run's previews of the same iterations are "
                      "not written")
            return None
        targets = self.inputs[-1]
        with autocast():
            outputs = self.render(ema)
        try:
            from engine.io.png import write_png

            self.folder.mkdir(exist_ok=True)
            write_png(path, preview_pixels(targets, _shrink(outputs.float())))
        except (EngineError, OSError) as exc:
            return self._stop(f"preview {path} could not be written ({getattr(exc, 'message', exc)})")
        return path

    def render(self, ema: torch.nn.Module) -> torch.Tensor:
        """The EMA model's output on the kept inputs [B,3,H,W] in [-1, 1]."""
        x, style, degree, _ = self.inputs
        return ema(x, style, degree)

    def _stop(self, message: str) -> None:
        self.warn(f"{message}; previews stop, training goes on")
        self.enabled = False
        return None
