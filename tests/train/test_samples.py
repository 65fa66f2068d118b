"""Full-stage previews (``engine.train.samples``): targets over the EMA model's output, read back from the
PNG; never written over a file or through a link; a failed write stops previews, not training."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import OpenImageIO as oiio
import torch

from engine.train.samples import SampleWriter


def _batch(n: int = 5, size: int = 512) -> SimpleNamespace:
    y = torch.linspace(-1, 1, n * 3 * size * size).reshape(n, 3, size, size)
    x = torch.zeros(n, 22, size // 4, size // 4)
    return SimpleNamespace(y=y, style=torch.zeros(n, 14, 8), degree=lambda: 0.5, student_input=lambda: x)


class _Ema(torch.nn.Module):
    """Stands in for g_ema: a constant grey image of the target size; records its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    def forward(self, x, style, degree):
        self.calls.append((x.shape[0], style.shape[0], degree))
        return torch.full((x.shape[0], 3, x.shape[-2] * 4, x.shape[-1] * 4), 0.2)


def _read(path) -> np.ndarray:
    image = oiio.ImageInput.open(str(path))
    try:
        return image.read_image(format="uint8")
    finally:
        image.close()


def test_preview_rows_are_the_targets_and_the_ema_output(tmp_path):
    warnings = []
    writer = SampleWriter(tmp_path, every=3, start=0, total=7, warn=warnings.append)
    assert [d for d in range(1, 8) if writer.due(d)] == [1, 3, 6, 7]  # first, every 3rd, last
    batch, ema = _batch(), _Ema()
    writer.keep(batch)
    writer.keep(_batch(size=64))  # later batches do not replace the first
    path = writer.write(ema, 1, contextlib.nullcontext)
    assert path == tmp_path / "samples" / "full_00001.png"
    assert writer.write(ema, 2, contextlib.nullcontext) is None  # not due
    pixels = _read(path)
    assert pixels.shape == (512, 4 * 256, 3)  # 4 faces at most, 256 px each, two rows
    assert ema.calls == [(4, 4, 0.5)]
    expected_top = torch.nn.functional.adaptive_avg_pool2d(batch.y[:4], 256)
    expected_top = ((expected_top.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    assert np.array_equal(pixels[:256, 256:512], expected_top[1].permute(1, 2, 0).numpy())
    assert (pixels[256:] == round(1.2 * 127.5)).all()  # the EMA output, 0.2 in [-1, 1]
    assert warnings == []


def test_an_earlier_preview_is_kept_and_a_link_is_not_followed(tmp_path):
    (tmp_path / "samples").mkdir()
    earlier = tmp_path / "samples" / "full_00001.png"
    earlier.write_bytes(b"someone's file")
    warnings = []
    writer = SampleWriter(tmp_path, every=200, start=0, total=10, warn=warnings.append)
    writer.keep(_batch(n=1, size=64))
    assert writer.write(_Ema(), 1, contextlib.nullcontext) is None
    assert earlier.read_bytes() == b"someone's file" and "earlier run's previews" in warnings[0]
    assert writer.write(_Ema(), 10, contextlib.nullcontext).is_file()  # the last one is new: written

    other = tmp_path / "elsewhere"
    other.mkdir()
    family = tmp_path / "family"
    family.mkdir()
    (family / "samples").symlink_to(other)
    warnings.clear()
    linked = SampleWriter(family, every=1, start=0, total=3, warn=warnings.append)
    linked.keep(_batch(n=1, size=64))
    assert linked.write(_Ema(), 1, contextlib.nullcontext) is None
    assert list(other.iterdir()) == [] and "is a link" in warnings[0] and not linked.enabled


def test_a_failed_write_stops_previews_not_training(tmp_path):
    blocker = tmp_path / "samples"
    blocker.write_text("a file where the folder goes")
    warnings = []
    writer = SampleWriter(tmp_path, every=1, start=0, total=3, warn=warnings.append)
    writer.keep(_batch(n=1, size=64))
    assert writer.write(_Ema(), 1, contextlib.nullcontext) is None
    assert "could not be written" in warnings[0] and "training goes on" in warnings[0]
    assert not writer.due(2) and blocker.read_text() == "a file where the folder goes"


def test_a_resumed_run_previews_the_uninterrupted_schedule_from_iteration_1s_batch(tmp_path):
    """Resumed after iteration 3 of 7 (every 3): previews 6 and 7 only, as the uninterrupted run (no extra
    one after its first step), rendered from iteration 1's batch, made again once, not its own first one."""
    writer = SampleWriter(tmp_path, every=3, start=3, total=7, warn=[].append)
    assert [d for d in range(4, 8) if writer.due(d)] == [6, 7]
    remade = []

    def first_batch():
        remade.append(1)
        return _batch(n=2, size=64)

    writer.keep(_batch(n=1, size=32), iteration=3)  # the resumed run's own first batch is not the input
    ema = _Ema()
    assert writer.write(ema, 4, contextlib.nullcontext, first_batch) is None and remade == []
    assert writer.write(ema, 6, contextlib.nullcontext, first_batch) == tmp_path / "samples" / "full_00006.png"
    assert writer.write(ema, 7, contextlib.nullcontext, first_batch).is_file()
    assert remade == [1] and ema.calls == [(2, 2, 0.5), (2, 2, 0.5)]
    assert _read(tmp_path / "samples" / "full_00007.png").shape == (128, 2 * 64, 3)
