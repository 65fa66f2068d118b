"""The preview over its plate, measured on the screen of a real X session at 100 %, 150 % and 200 %
(QT_SCALE_FACTOR, and QT_SCREEN_SCALE_FACTORS as a per-screen setting gives it): the stylized frame
(B) lands on the plate's (A) screen pixels, and 1:1 shows one image pixel on one screen pixel (at
200 % it drew each as a blurred 2x2 block, twice as far apart).

``x_preview_pixels.py`` puts a known pair in the panel and grabs the X screen in each mode."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from x_session import HERE, NEEDS_X, panel_env

pytestmark = [pytest.mark.timeout(120), NEEDS_X]
MARKERS = ((70, 50), (105, 80))  # as in x_preview_pixels.py


def _marker_pixels(path, channel: int) -> np.ndarray:
    """(x, y) of the screen pixels where ``channel`` (0 red, 1 green) stands out of the grey."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    others = [c for c in range(3) if c != channel]
    mask = (rgb[..., channel] - rgb[..., others[0]] > 40) & (rgb[..., channel] - rgb[..., others[1]] > 40)
    ys, xs = np.nonzero(mask)
    return np.stack([xs, ys], axis=1)


@pytest.mark.parametrize(("variable", "scale"), [("QT_SCALE_FACTOR", "1"), ("QT_SCALE_FACTOR", "1.5"),
                                                 ("QT_SCALE_FACTOR", "2"), ("QT_SCREEN_SCALE_FACTORS", "2")])
@pytest.mark.parametrize("x_display", ["1920x1080"], indirect=True)
def test_preview_sits_on_the_plate_pixel_for_pixel(x_display, repo_root, tmp_path, variable, scale):
    pytest.importorskip("PIL")
    run = subprocess.run([sys.executable, str(HERE / "x_preview_pixels.py"), str(tmp_path)], cwd=str(tmp_path),
                         env=panel_env(x_display, repo_root, tmp_path, **{variable: scale}),
                         capture_output=True, text=True, timeout=90)
    assert run.returncode == 0 and (tmp_path / "done.json").exists(), run.stdout[-2000:] + run.stderr[-2000:]
    assert json.loads((tmp_path / "done.json").read_text())["ratio"] == float(scale)

    for zoom in ("fit", "one"):
        plate, stylized = _marker_pixels(tmp_path / f"{zoom}_a.png", 0), _marker_pixels(tmp_path / f"{zoom}_b.png", 1)
        assert len(plate) >= 2, f"{zoom}: the plate's markers are not on the screen"
        # B covers exactly the screen pixels A does: flipping A/B moves nothing
        assert sorted(map(tuple, plate.tolist())) == sorted(map(tuple, stylized.tolist())), zoom

    one = sorted(map(tuple, _marker_pixels(tmp_path / "one_a.png", 0).tolist()))
    assert len(one) == len(MARKERS), f"1:1 at {scale}: each marker pixel covers {len(one) / len(MARKERS)} " \
                                     f"screen pixels, not 1: {one[:12]}"
    (x0, y0), (x1, y1) = one
    (u0, v0), (u1, v1) = MARKERS
    assert (x1 - x0, y1 - y0) == (u1 - u0, v1 - v0), f"1:1 at {scale}: image pixels are not screen pixels"
