"""The plate's colour as the engine reads it, against colour bars with exactly known Y'CbCr codes.

Measured (PyAV 18.1 / FFmpeg 8, bpy 5.0.1 beside it in ``tests/blender/test_plate_colour_bpy.py``):
tagged BT.709 / BT.601 / full-range / 10-bit bars decode within 3.25/255 of the exact RGB (swscale's
8-bit fast path; Blender's within 1.3/255) and engine and Blender agree within 3/255 per pixel on SDR
clips. An untagged clip is BT.601 in both (FFmpeg's default), HD or not. HDR (HLG/PQ) and alpha are
what the engine cannot show as Blender does: the job says so (``colour_notes``).
"""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest
from colour_bars import BARS, X265_LOSSLESS, Case, bar_centres, make_bars_clip

from engine.errors import render_settings
from engine.io import open_source
from engine.pipeline.colour_notes import alpha_note, hdr_note, later_alpha_note

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    "case",
    [
        Case("rec709_limited", "bt709", False),
        Case("bt601_limited", "bt601", False),
        Case("rec709_full", "bt709", True),
        Case("jpeg_range_phone", "bt601", True, pix_fmt="yuvj420p"),
        Case("rec709_10bit", "bt709", False, codec="libx265", pix_fmt="yuv420p10le", options=X265_LOSSLESS),
        Case("untagged_sd", "bt601", False, tag_matrix="unknown", tag_range=False),
    ],
    ids=lambda case: case.name,
)
def test_tagged_matrix_and_range_are_honoured(tmp_path, case):
    # A BT.709 bar decoded with swscale's BT.601 default is off by up to 31/255 (green in the green bar);
    # a full-range clip read as limited by up to 19/255. Both are read by their tags.
    path = make_bars_clip(tmp_path / f"{case.name}.{case.container}", case)
    with open_source(path) as src:
        got = bar_centres(src.read(1).astype(np.float64))
    assert np.abs(got - BARS * 255).max() <= 3.5


@pytest.mark.parametrize(
    "case",
    [
        Case("rec709_8bit", "bt709", False),
        Case("rec709_10bit_hevc", "bt709", False, codec="libx265", pix_fmt="yuv420p10le", options=X265_LOSSLESS),
        Case(
            "rec709_10bit_prores", "bt709", False, codec="prores_ks", pix_fmt="yuv422p10le", container="mov", options=()
        ),
    ],
    ids=lambda case: case.name,
)
def test_chroma_is_not_smeared_across_bar_edges(tmp_path, case):
    # Before: a 10-bit clip went through swscale's bilinear chroma upsampling (its 8-bit 4:2:0 path does not),
    # so the pixels beside each bar edge took the next bar's chroma: 68/255 off the exact RGB, and as far from
    # what Blender's sequencer shows (14.8/255 at most on a 10-bit copy of 529_2.mp4). Each chroma sample
    # now covers its own pixels, as Blender reads them: every pixel of the bars is its bar's colour.
    path = make_bars_clip(tmp_path / f"{case.name}.{case.container}", case)
    with open_source(path) as src:
        rgb = src.read(1).astype(np.float64)
    exact = np.repeat(BARS * 255, 32, axis=0)[None]
    assert np.abs(rgb - exact).max() <= 3.5


def test_untagged_hd_is_read_as_bt601_like_blender(tmp_path):
    # FFmpeg (and so Blender's sequencer) takes an untagged matrix as BT.601 whatever the size; the engine
    # must read the same plate, or the result does not sit over it in colour (measured: 30.75/255 apart
    # from the 709 reading on the green bar, the same in both).
    case = Case("untagged_hd", "bt709", False, tag_matrix="unknown", tag_range=False, height=720)
    path = make_bars_clip(tmp_path / "hd.mp4", case)
    with open_source(path) as src:
        got = bar_centres(src.read(1).astype(np.float64))
    green = got[3]
    assert green[1] > 215  # 0.75 green with 709 codes read through the 601 matrix: ~222


@pytest.mark.parametrize("trc, name", [("hlg", "HLG (arib-std-b67)"), ("pq", "PQ (smpte2084)")])
def test_hdr_clip_names_its_transfer_and_the_conversion(tmp_path, trc, name):
    # Before: an iPhone HLG clip was read as SDR Rec.709 without a word, while Blender 5.0 shows the same
    # strip as Rec.2100 (measured 26/255 mean, 110/255 max apart on the bars).
    case = Case(f"hdr_{trc}", "bt2020", False, codec="libx265", pix_fmt="yuv420p10le", trc=trc, options=X265_LOSSLESS)
    path = make_bars_clip(tmp_path / f"iphone_{trc}.mp4", case)
    with open_source(path) as src:
        note = render_settings(hdr_note(src))
    assert f"iphone_{trc}.mp4 is HDR video: {name} transfer, BT.2020 primaries" in note
    assert "reads it as SDR Rec.709" in note and "tonemap" in note and "zscale" in note
    sdr = make_bars_clip(tmp_path / "sdr.mp4", Case("sdr", "bt709", False))
    with open_source(sdr) as src:
        assert hdr_note(src) is None


def _write_rgba_png(path, straight_alpha: float) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 191, round(straight_alpha * 255)
    spec = oiio.ImageSpec(16, 16, 4, oiio.UINT8)
    spec.attribute("oiio:UnassociatedAlpha", 1)  # stored as given, straight
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(rgba)
    out.close()


def _write_rgba_exr(path, alpha: np.ndarray) -> None:
    rgba = np.full((16, 16, 4), 0.5, np.float32)
    rgba[..., 3] = alpha
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(16, 16, 4, oiio.HALF))
    out.write_image(rgba)
    out.close()


_PRORES_4444 = Case(
    "p4444", "bt709", False, codec="prores_ks", pix_fmt="yuva444p10le", container="mov", options=(("profile", "4"),)
)


def test_plate_alpha_is_named_for_images_and_video(tmp_path):
    # Before: the plate's alpha was dropped without a word: a straight PNG's colour under transparent pixels
    # (black in Blender's sequencer) was stylized as stored.
    png = tmp_path / "keyed.png"
    _write_rgba_png(png, 0.5)
    with open_source(png) as src:
        assert src.read(1)[0, 0].tolist() == [191, 0, 0]  # the colour as stored (straight), alpha not applied
        note = render_settings(alpha_note(src))
    assert "keyed.png has an alpha channel (A)" in note and "drops the alpha" in note
    keyed = np.ones((64, 256))
    keyed[:, :32] = 0.0  # a keyed-out strip down the left
    mov = make_bars_clip(tmp_path / "keyed4444.mov", _PRORES_4444, alpha=keyed)
    with open_source(mov) as src:
        assert "keyed4444.mov has an alpha channel" in alpha_note(src)
    exr = tmp_path / "render.0001.exr"
    _write_rgba_exr(exr, np.full((16, 16), 0.5, np.float32))
    with open_source(exr) as src:
        note = alpha_note(src)
    assert "render.0001.exr has an alpha channel (A): its premultiplied colour is read (over black" in note
    opaque = make_bars_clip(tmp_path / "opaque.mp4", Case("opaque", "bt709", False))
    with open_source(opaque) as src:
        assert alpha_note(src) is None


def test_opaque_alpha_is_not_warned_about(tmp_path):
    # Before: every CG/comp EXR plate (RGBA, alpha 1 everywhere) got the alpha warning, as did an opaque
    # ProRes 4444 or RGBA PNG: noise on nearly every job. The alpha of the frame the header is read from
    # is now looked at, and only an alpha that is not opaque there is said.
    _write_rgba_exr(tmp_path / "beauty.0001.exr", np.ones((16, 16), np.float32))
    _write_rgba_exr(tmp_path / "beauty.0002.exr", np.ones((16, 16), np.float32))
    _write_rgba_png(tmp_path / "opaque.png", 1.0)
    mov = make_bars_clip(tmp_path / "opaque4444.mov", _PRORES_4444)
    for plate in (tmp_path / "beauty.####.exr", tmp_path / "opaque.png", mov):
        with open_source(plate) as src:
            assert src.plate_alpha == "A" or src.kind == "video"
            assert alpha_note(src) is None, plate
    one_hole = np.ones((16, 16), np.float32)
    one_hole[3, 5] = 0.0  # one transparent pixel is enough: its colour is read as stored
    _write_rgba_exr(tmp_path / "holdout.0001.exr", one_hole)
    with open_source(tmp_path / "holdout.####.exr") as src:
        assert "holdout.####.exr has an alpha channel (A)" in alpha_note(src)


def test_alpha_that_appears_after_an_opaque_first_frame_is_found_in_the_same_read(tmp_path):
    """Before: only the first frame's alpha was looked at, so a plate keyed or faded from its fourth frame on
    was stylized from its colour as stored without a word. Each frame read is now looked at (in the decode
    that reads its colour) until one is not opaque; ``later_alpha_note`` names that frame."""
    for number in (1, 2, 3, 4):
        alpha = np.ones((16, 16), np.float32)
        if number == 4:
            alpha[:, :4] = 0.0  # keyed out from frame 4 on
        _write_rgba_exr(tmp_path / f"fade.{number:04d}.exr", alpha)
    with open_source(tmp_path / "fade.####.exr") as src:
        assert alpha_note(src) is None  # the first frame is opaque: nothing said at the start
        for number in (1, 2, 3):
            src.read(number)
        assert src.alpha_from is None and later_alpha_note(src) is None
        assert src.read(4)[0, 0].tolist() == src.read(1)[0, 0].tolist()  # colour as stored, alpha not applied
        assert src.alpha_from == 4
        note = render_settings(later_alpha_note(src))
    assert ("fade.####.exr has an alpha channel (A, transparent from frame 4 on, though the first frame is "
            "opaque)") in note

    keyed = np.ones((64, 256))
    keyed[:, :32] = 0.0
    mov = make_bars_clip(tmp_path / "late4444.mov", _PRORES_4444, frames=4, alpha=[None, None, keyed, keyed])
    with open_source(mov) as src:
        assert alpha_note(src) is None
        src.read(1), src.read(2)
        assert src.alpha_from is None
        src.read(3)
        assert src.alpha_from == 3
        assert "late4444.mov has an alpha channel (yuva444p12le, transparent from frame 3 on" in later_alpha_note(src)
    with open_source(mov) as src:  # a keyed first frame is said at the start, never again
        assert src.alpha_from is None
    with open_source(make_bars_clip(tmp_path / "head.mov", _PRORES_4444, frames=2, alpha=[keyed, None])) as src:
        assert alpha_note(src) is not None and src.alpha_from == 1 and later_alpha_note(src) is None
