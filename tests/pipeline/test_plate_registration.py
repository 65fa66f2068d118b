"""Every backend's plate-space output sits on its plate: measured, not assumed.

Registration is measured as the phase correlation of edge maps (Sobel magnitude of blurred luma)
of the output against the plate, over an even-sized window inside the face box (OpenCV's
``phaseCorrelate`` is biased by half a pixel on odd sizes).
"""

from __future__ import annotations

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from engine.io import open_source
from engine.pipeline.classic import centred_open
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render


def edge_map(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY), (0, 0), 1.5)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def registration(result: np.ndarray, plate: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """(dx, dy) of ``result`` relative to ``plate`` inside ``box`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    x1 -= (x1 - x0) % 2
    y1 -= (y1 - y0) % 2
    window = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(edge_map(plate[y0:y1, x0:x1]), edge_map(result[y0:y1, x0:x1]), window)
    return dx, dy


def read_float(path) -> tuple[np.ndarray, oiio.ImageSpec]:
    """(pixels as float, spec) of an image file, read back with OIIO (shared by the faces tests)."""
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        return inp.read_image(format="float"), inp.spec()
    finally:
        inp.close()


def test_centred_open_keeps_strokes_in_place_and_drops_specks():
    mask = np.zeros((20, 20), np.uint8)
    mask[4:16, 8:10] = 255   # a 2 px wide stroke
    mask[2, 2] = 255         # a speck
    opened = centred_open(mask)
    assert np.array_equal(opened[4:16, 8:10], mask[4:16, 8:10])
    assert opened.sum() == mask[4:16, 8:10].sum()  # nothing moved, the speck is gone


@pytest.fixture(scope="module")
def classic_plate(media_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("plate")
    render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(out), frames="1", backend="classic",
                        format="png", name="reg"))
    result, _spec = read_float(out / "reg.0001.png")
    plate = open_source(str(media_dir / "529_2.mp4")).read(1).astype(np.float32) / 255.0
    return result, plate


def test_classic_plate_output_registers_within_a_tenth_of_a_pixel(classic_plate):
    result, plate = classic_plate
    ys, xs = np.nonzero(result[:, :, 3] > 0.99)
    inner = (xs.min() + 8, ys.min() + 8, xs.max() - 8, ys.max() - 8)  # inside the feather
    dx, dy = registration(result[:, :, :3], plate, inner)
    assert abs(dx) < 0.1 and abs(dy) < 0.1, f"classic output sits ({dx:.3f}, {dy:.3f}) px off its plate"


def test_full_data_window_exr_matches_the_face_window(media_dir, tmp_path, empty_models_dir):
    """``data_window=full``: the same pixels, but the data window is the whole frame (sequencer hosts)."""
    specs = {}
    for window in ("face", "full"):
        render(RenderConfig(source=str(media_dir / "7154235.mp4"), output=str(tmp_path / window), frames="1",
                            backend="classic", format="exr", data_window=window, padding=(64, 64, 64, 64),
                            name="dw"))
        specs[window] = read_float(tmp_path / window / "dw.0001.exr")
    (face, face_spec), (full, full_spec) = specs["face"], specs["full"]
    assert (full_spec.x, full_spec.y, full_spec.width, full_spec.height) == (
        0, 0, full_spec.full_width, full_spec.full_height)
    assert (face_spec.width, face_spec.height) != (face_spec.full_width, face_spec.full_height)
    x0, y0 = face_spec.x, face_spec.y
    inside = full[y0:y0 + face_spec.height, x0:x0 + face_spec.width]
    np.testing.assert_array_equal(inside, face)
    outside = full.copy()
    outside[y0:y0 + face_spec.height, x0:x0 + face_spec.width] = 0
    assert not outside.any()


def test_data_window_is_part_of_the_job_key():
    """A resumed job never mixes face-window and full-frame EXR files."""
    from engine.pipeline.shot import job_key

    face = RenderConfig(source="/a/shot.mp4", output="/out", data_window="face")
    full = RenderConfig(source="/a/shot.mp4", output="/out", data_window="full")
    assert job_key(face, "classic", {}) != job_key(full, "classic", {})


@pytest.mark.parametrize("scale, passes", [(1.0, 0), (0.7, 1), (0.3, 2)])
def test_a_shrunk_crop_registers_though_the_official_pre_blur_moves_it(scale, passes):
    """The official crop pre-blurs a face it shrinks (once at scale <= 0.75, twice at <= 0.375) with
    an even kernel that moves the picture half a source px down-right per pass. The crop keeps that
    (parity), the placement undoes it: an identity 'stylization' of a shrunk crop sat 0.3-1 px off its
    plate before (a large face in a 1920x2880 still: (0.99, 0.99) px)."""
    from engine.face import CropParams, scale_and_crop
    from engine.face.crop import num_preblurs
    from engine.pipeline.placement import place_rgba, plan_plate_placement

    assert num_preblurs(scale) == passes
    rng = np.random.default_rng(0)
    height, width = 1200, 1600
    noise = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
    plate = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    h, w = round(height * scale), round(width * scale)
    top, left = h // 32 * 8, w // 32 * 8
    crop = CropParams(h, w, top, top + h // 16 * 8, left, left + w // 16 * 8, scale)
    cut = scale_and_crop(plate, crop)
    stylized = cv2.resize(cut, (cut.shape[1] * 4, cut.shape[0] * 4), interpolation=cv2.INTER_LINEAR) / 255.0
    placement = plan_plate_placement(crop, (width, height), 1.0, (stylized.shape[1], stylized.shape[0]))
    x0, y0, x1, y1 = placement.window
    full = np.zeros((height, width, 4), np.float32)
    full[y0:y1, x0:x1] = place_rgba(stylized.astype(np.float32), placement)
    dx, dy = registration(full[:, :, :3], plate.astype(np.float32) / 255.0, (x0 + 40, y0 + 40, x1 - 40, y1 - 40))
    assert abs(dx) < 0.05 and abs(dy) < 0.05, f"a crop at scale {scale} sits ({dx:.3f}, {dy:.3f}) px off its plate"
