"""The same classic render written as EXR (scene-linear half, premultiplied) and as PNG (sRGB, straight
alpha, 8 and 16 bits), read back: the two formats must hold the same picture in the same place, so a
comp may take either. EXR colour is un-premultiplied and encoded back to sRGB (IEC 61966-2-1) before
the comparison; the alpha is compared as stored.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.io import read_image
from engine.io.colour import linear_to_srgb_ref
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render

pytestmark = pytest.mark.timeout(300)
SMALL = (64, 64, 64, 64)


def _render(media_dir, out, **options):
    render(
        RenderConfig(
            source=str(media_dir / "529_2.mp4"),
            output=str(out),
            frames="2",
            padding=SMALL,
            backend="classic",
            **options,
        )
    )
    return read_image(next(out.glob("529_2.0002.*")), full_window=True)


def test_exr_and_png_hold_the_same_picture(media_dir, tmp_path, empty_models_dir):
    exr = _render(media_dir, tmp_path / "exr", format="exr")
    png8 = _render(media_dir, tmp_path / "png8", format="png")
    png16 = _render(media_dir, tmp_path / "png16", format="png", png_bits=16)
    assert exr.shape[:2] == png8.shape[:2] == png16.shape[:2] == (352, 376)  # both on the plate's frame
    alpha = exr[..., 3]
    solid = alpha > 0.999
    assert solid.sum() > 1000
    exr_srgb = linear_to_srgb_ref(
        np.where(alpha[..., None] > 1e-4, exr[..., :3] / np.maximum(alpha[..., None], 1e-4), 0.0)
    )
    errors = {}
    for name, png, step in (("png8", png8, 1 / 255), ("png16", png16, 1 / 65535)):
        # Alpha: the same coverage, placed on the same pixels (half float vs the PNG's integer steps).
        assert np.abs(png[..., 3] - alpha).max() <= max(step, 1e-3) / 2 + 1e-3, name
        # Colour where the face is solid: half float holds ~11 bits, PNG its quantisation step.
        errors[name] = float(np.abs(png[..., :3] - exr_srgb)[solid].max() * 255)
        assert errors[name] <= 0.6 + step * 255, (name, errors[name])
    # Where the feather is thin, straight colour is recovered from small numbers in both; compare the
    # premultiplied sRGB colour instead (what a viewer shows over black).
    partial = (alpha > 0.02) & ~solid
    over_black = np.abs(png16[..., :3] * png16[..., 3:] - exr_srgb * alpha[..., None])[partial]
    assert over_black.max() * 255 <= 1.0, over_black.max() * 255
    print(errors)


def test_preview_is_the_png_render_over_its_plate(media_dir, tmp_path, empty_models_dir):
    # Before: the preview placed the crop in sRGB while renders place it in linear light, so the panel's
    # before/after showed toon lines up to ~24/255 heavier than the frames the job then wrote.
    from engine.pipeline.preview import render_preview

    png = _render(media_dir, tmp_path / "png", format="png", png_bits=16)
    config = RenderConfig(
        source=str(media_dir / "529_2.mp4"), output=str(tmp_path / "job"), padding=SMALL, backend="classic"
    )
    info = render_preview(config, 2, str(tmp_path / "preview"))
    after, plate = read_image(info["path"])[..., :3], read_image(info["source_path"])[..., :3]
    alpha = png[..., 3:]
    over = png[..., :3] * alpha + plate * (1.0 - alpha)  # Blender's sequencer: alpha over, in sRGB
    gap = np.abs(after - over).max() * 255
    assert gap <= 1.0, gap
