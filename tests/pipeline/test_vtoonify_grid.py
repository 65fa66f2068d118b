"""VToonify's own 4x grid, stated and tested on the narrow random VToonify-D of the reference data.

The convention the engine places VToonify output by (engine/pipeline/placement.py): output pixel ``u``
covers input position ``u / 4 + c`` with one constant ``c`` for the whole picture (a 4x grid, no
drift, no scale error), and the placement takes ``c`` as the centre-aligned ``(u + 0.5) / 4 - 0.5``.
What a random model can show is the grid itself: the output is exactly 4x the input, and moving the
input by the encoder's total stride (8 px) moves the output by exactly 32 px. ``c`` is learned (the
encoder's stride-2 convolutions sample ``2j``, the decoder's upsampling is centre-aligned, the fused
skips mix both), so it is a property of trained weights, not of the architecture.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models import load_vtoonify

pytestmark = pytest.mark.slow


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(dx, dy) of ``b`` against ``a`` by phase correlation, refined on a 1/100 px grid (matrix DFT)."""
    fa, fb = np.fft.fft2(a - a.mean()), np.fft.fft2(b - b.mean())
    cross = fb * np.conj(fa)
    spectrum = cross / np.maximum(np.abs(cross), 1e-12)
    corr = np.real(np.fft.ifft2(spectrum))
    h, w = corr.shape
    py, px = np.unravel_index(np.argmax(corr), corr.shape)
    steps = np.arange(-50, 51) * 0.01
    ey = np.exp(2j * np.pi * np.outer(py + steps, np.fft.fftfreq(h)))
    ex = np.exp(2j * np.pi * np.outer(px + steps, np.fft.fftfreq(w)))
    iy, ix = np.unravel_index(np.argmax(np.real(ey @ spectrum @ ex.T)), (len(steps), len(steps)))
    dy, dx = py + steps[iy], px + steps[ix]
    return float((dx + w / 2) % w - w / 2), float((dy + h / 2) % h - h / 2)


@pytest.fixture(scope="module")
def model(narrow_models_dir):
    return load_vtoonify(narrow_models_dir / "vtoonify_d_cartoon" / "vtoonify_s_d_c.pt")


def test_output_is_exactly_four_times_the_input(model):
    torch.manual_seed(0)
    x = torch.rand(1, 22, 48, 80) * 2 - 1
    style = torch.randn(1, 18, 512) * 0.5
    with torch.no_grad():
        y = model(x, style, d_s=0.5)
    assert tuple(y.shape) == (1, 3, 192, 320)


def test_moving_the_input_by_the_stride_moves_the_output_by_four_times_that(model):
    """The 4x grid holds with sub-pixel precision: no drift and no scale error across the picture."""
    torch.manual_seed(1)
    wide = torch.rand(1, 22, 64, 136) * 2 - 1
    style = torch.randn(1, 18, 512) * 0.5
    with torch.no_grad():
        left = model(wide[..., :128], style, d_s=0.5)[0].mean(0).numpy()
        right = model(wide[..., 8:], style, d_s=0.5)[0].mean(0).numpy()  # content 8 input px further left
    inner = (slice(48, 208), slice(96, 416))  # away from the borders, whose padding differs
    dx, dy = _shift(left[inner], right[inner])
    assert abs(dx + 32.0) < 0.1 and abs(dy) < 0.1, f"output moved ({dx:.3f}, {dy:.3f}) px for 8 input px"
