"""Image sequences (####, %04d, @@@@, one member file), single images and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import FrameRangeError, InputError
from engine.io import open_source, read_rgb8, write_exr, write_png
from engine.io.colour import srgb_to_linear_ref
from engine.io.sequence import parse_pattern


def _frame(number: int, size=(20, 12)) -> np.ndarray:
    """Distinct uint8 RGB content per frame number: [H, W, 3]."""
    width, height = size
    rng = np.random.default_rng(number)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.int64).astype(np.uint8)


@pytest.fixture
def png_sequence(tmp_path):
    numbers = [1001, 1002, 1003, 1005, 1006, 1009]
    for n in numbers:
        write_png(tmp_path / f"shot.{n:04d}.png", _frame(n))
    write_png(tmp_path / "shot.0007.png", _frame(7))  # a lower number with the same padding
    write_png(tmp_path / "shot.12.png", _frame(12))  # wrong padding: not a member
    write_png(tmp_path / "other.1004.png", _frame(4))  # another sequence in the same folder
    return tmp_path, [7] + numbers


@pytest.mark.parametrize("pattern", ["shot.####.png", "shot.%04d.png", "shot.@@@@.png"])
def test_patterns_find_the_right_files(png_sequence, pattern):
    folder, numbers = png_sequence
    with open_source(str(folder / pattern)) as src:
        assert src.kind == "sequence" and src.fps is None and src.size == (20, 12)
        assert src.frame_numbers == numbers
        assert src.path_pattern == str(folder / "shot.####.png")
        assert len(src.files()) == len(numbers)
        for n in [1009, 7, 1002]:
            np.testing.assert_array_equal(src.read(n), _frame(n))
        got = dict(src.read_many([1001, 1003]))
        np.testing.assert_array_equal(got[1003], _frame(1003))


def test_member_file_finds_siblings(png_sequence):
    folder, numbers = png_sequence
    with open_source(folder / "shot.1003.png") as src:
        assert src.kind == "sequence" and src.frame_numbers == numbers


def test_gap_reported_only_when_requested(png_sequence):
    folder, _ = png_sequence
    src = open_source(str(folder / "shot.####.png"))
    assert src.missing_text() == "8-1000, 1004, 1007-1008"
    src.read(1005)  # frames around the gap are fine
    with pytest.raises(InputError) as info:
        src.read(1004)
    assert "frame 1004 is missing" in info.value.message and "1007-1008" in info.value.message
    with pytest.raises(InputError, match="1004, 1007-1008"):
        src.require([1003, 1004, 1005, 1007, 1008])
    src.require([1001, 1002, 1003])
    with pytest.raises(FrameRangeError):
        src.read(2000)


def test_unpadded_printf_pattern(tmp_path):
    for n in (1, 2, 10):
        write_png(tmp_path / f"f.{n}.png", _frame(n))
    write_png(tmp_path / "f.03.png", _frame(3))  # zero padded: not %d
    with open_source(str(tmp_path / "f.%d.png")) as src:
        assert src.frame_numbers == [1, 2, 10]


def test_wide_numbers_beyond_padding(tmp_path):
    for n in (9999, 10000, 10001):
        write_png(tmp_path / f"s.{n:04d}.png", _frame(n))
    with open_source(str(tmp_path / "s.####.png")) as src:
        assert src.frame_numbers == [9999, 10000, 10001]
        np.testing.assert_array_equal(src.read(10000), _frame(10000))


def test_exr_sequence_is_converted_linear_to_srgb(tmp_path):
    srgb8 = {n: _frame(n) for n in (1, 2)}
    for n, rgb in srgb8.items():
        linear = srgb_to_linear_ref(rgb.astype(np.float32) / 255.0)
        rgba = np.concatenate([linear, np.ones_like(linear[:, :, :1])], axis=2)
        write_exr(tmp_path / f"plate.{n:04d}.exr", rgba)
    with open_source(str(tmp_path / "plate.####.exr")) as src:
        for n, rgb in srgb8.items():
            frame = src.read(n)
            assert frame.dtype == np.uint8 and frame.shape == (12, 20, 3)
            assert np.abs(frame.astype(int) - rgb).max() <= 1  # half-float storage, then rounding


def test_sixteen_bit_png_is_rounded_to_8_bit(tmp_path):
    rgb16 = np.array([[[0, 257, 65535], [128, 129, 32896]]], np.uint16)
    write_png(tmp_path / "deep.0001.png", rgb16)
    write_png(tmp_path / "deep.0002.png", rgb16)
    with open_source(str(tmp_path / "deep.####.png")) as src:
        assert src.read(1).tolist() == [[[0, 1, 255], [0, 1, 128]]]


def test_mixed_resolution_is_input_error(tmp_path):
    write_png(tmp_path / "m.0001.png", _frame(1, (20, 12)))
    write_png(tmp_path / "m.0002.png", _frame(2, (22, 12)))
    with open_source(str(tmp_path / "m.####.png")) as src, \
            pytest.raises(InputError, match="is 22x12 but the sequence is 20x12"):
        src.read(2)


def test_empty_pattern_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no files match") as info:
        open_source(str(tmp_path / "none.####.exr"))
    assert info.value.fix


def test_single_image_is_one_frame(media_dir):
    with open_source(media_dir / "077436.jpg", start_number=1001) as src:
        assert src.kind == "image" and src.frame_numbers == [1001] and src.size == (500, 375)
        frame = src.read(1001)
        assert frame.shape == (375, 500, 3) and frame.dtype == np.uint8
        with pytest.raises(FrameRangeError):
            src.read(1002)


def test_photo_folder_with_numeric_names_is_not_a_sequence(media_dir):
    """077436.jpg sits beside 077559.jpg etc.: different photos, not frames."""
    with open_source(media_dir / "077436.jpg") as src:
        assert src.kind == "image" and len(src) == 1


def test_lone_numbered_file_is_an_image(tmp_path):
    write_png(tmp_path / "still.0042.png", _frame(42))
    with open_source(tmp_path / "still.0042.png", start_number=5) as src:
        assert src.kind == "image" and src.frame_numbers == [5]


def test_rgba_png_drops_alpha_keeps_straight_colour(tmp_path):
    rgba = np.dstack([_frame(1), np.full((12, 20, 1), 60, np.uint8)])
    write_png(tmp_path / "a.png", rgba)
    np.testing.assert_array_equal(read_rgb8(tmp_path / "a.png"), rgba[:, :, :3])


def test_grey_image_becomes_rgb(tmp_path):
    grey = _frame(3)[:, :, 0]
    write_png(tmp_path / "g.png", grey)
    np.testing.assert_array_equal(read_rgb8(tmp_path / "g.png"), np.dstack([grey] * 3))


def test_corrupt_image_is_input_error(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InputError):
        open_source(path).read(1)
    with pytest.raises(InputError, match="folder"):
        open_source(tmp_path)


def test_parse_pattern():
    p = parse_pattern("/a/b/shot_v2.%05d.exr")
    assert (p.prefix, p.padding, p.suffix) == ("shot_v2.", 5, ".exr")
    assert p.name_for(12) == "shot_v2.00012.exr"
    assert parse_pattern("/a/b/shot.exr") is None
    assert parse_pattern("s.##.png").number_of("s.07.png") == 7
    assert parse_pattern("s.##.png").number_of("s.7.png") is None


def test_float_plate_in_declared_acescg_is_converted_from_acescg(tmp_path):
    """An EXR that declares ACEScg (colorInteropID lin_ap1_scene) is not read as Rec.709."""
    import OpenImageIO as oiio

    from engine.io.colour import linear_to_srgb

    pixels = np.tile(np.array([0.5, 0.1, 0.05], np.float32), (4, 6, 1))  # [4, 6, 3]
    for space, name in (("ACEScg", "aces.exr"), ("lin_rec709", "rec709.exr")):
        spec = oiio.ImageSpec(6, 4, 3, oiio.FLOAT)
        spec.attribute("oiio:ColorSpace", space)
        out = oiio.ImageOutput.create(str(tmp_path / name))
        assert out.open(str(tmp_path / name), spec) and out.write_image(pixels) and out.close()
    aces = read_rgb8(tmp_path / "aces.exr")[0, 0].astype(int)
    rec709 = read_rgb8(tmp_path / "rec709.exr")[0, 0].astype(int)
    expected_rec709 = np.rint(linear_to_srgb(pixels[:1, :1], impl="ref")[0, 0] * 255).astype(int)
    assert np.abs(rec709 - expected_rec709).max() <= 1
    assert aces[0] - rec709[0] > 20  # AP1 red is far more saturated than Rec.709 red


def test_tiff_sequence_member(tmp_path):
    import OpenImageIO as oiio

    for n in (10, 11):
        buf = oiio.ImageBuf(_frame(n))
        assert buf.write(str(tmp_path / f"scan_{n:03d}.tif")), oiio.geterror()
    with open_source(tmp_path / "scan_011.tif") as src:
        assert src.kind == "sequence" and src.frame_numbers == [10, 11]
        np.testing.assert_array_equal(src.read(10), _frame(10))


def test_exif_orientation_is_applied_like_opencv(tmp_path):
    """The official code reads photos with cv2.imread, which applies the EXIF rotation."""
    import cv2
    import OpenImageIO as oiio

    path = tmp_path / "portrait.jpg"
    spec = oiio.ImageSpec(40, 24, 3, oiio.UINT8)
    spec.attribute("Orientation", 6)  # stored landscape, shown rotated 90 degrees clockwise
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(_frame(5, (40, 24))) and out.close()
    with open_source(path) as src:
        assert src.size == (24, 40)
        rgb = src.read(1)
    assert rgb.shape == (40, 24, 3)
    expected = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb, expected)
