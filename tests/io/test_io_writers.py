"""EXR and PNG writers, read back through OIIO: channels, types, windows, metadata, compression."""

from __future__ import annotations

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import OutputError
from engine.io import read_image, write_exr, write_grey, write_png


def _spec(path) -> oiio.ImageSpec:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    inp.close()
    return spec


def _half(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


@pytest.fixture
def rgba():
    rng = np.random.default_rng(3)
    image = rng.random((24, 40, 4), dtype=np.float32) * 2.0  # scene-linear, overbrights included
    image[:, :, 3] = rng.random((24, 40), dtype=np.float32)
    return image


def test_exr_channels_half_mattes_metadata(tmp_path, rgba):
    mattes = {"skin": np.linspace(0, 1, 24 * 40, dtype=np.float32).reshape(24, 40),
              "hair": np.eye(24, 40, dtype=np.float32)}
    meta = {"vtoonify/source": "/plates/shot.mp4", "vtoonify/frame": 1001, "vtoonify/backend": "classic",
            "vtoonify/degree": 0.5}
    path = tmp_path / "shot.1001.exr"
    write_exr(path, rgba, mattes=mattes, metadata=meta, compression="piz")

    spec = _spec(path)
    assert set(spec.channelnames) == {"R", "G", "B", "A", "matte.skin", "matte.hair"}
    assert spec.channelnames[:4] == ("R", "G", "B", "A")
    assert spec.format == oiio.TypeDesc(oiio.HALF)
    assert spec.alpha_channel == 3
    assert spec.getattribute("compression") == "piz"
    assert spec.getattribute("vtoonify/source") == "/plates/shot.mp4"
    assert spec.getattribute("vtoonify/frame") == 1001
    assert spec.getattribute("vtoonify/backend") == "classic"
    assert spec.getattribute("vtoonify/degree") == pytest.approx(0.5)
    # Data window == display window by default.
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, 40, 24)
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (0, 0, 40, 24)

    pixels = read_image(path)
    names = list(spec.channelnames)
    assert pixels.shape == (24, 40, 6)
    np.testing.assert_array_equal(pixels[:, :, :4], _half(rgba))
    np.testing.assert_array_equal(pixels[:, :, names.index("matte.skin")], _half(mattes["skin"]))
    np.testing.assert_array_equal(pixels[:, :, names.index("matte.hair")], mattes["hair"])
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("compression", ["zip", "dwaa", "piz", "none"])
def test_exr_compression_attribute(tmp_path, rgba, compression):
    path = tmp_path / f"c_{compression}.exr"
    write_exr(path, rgba, compression=compression)
    assert _spec(path).getattribute("compression") == compression
    pixels = read_image(path)
    tolerance = 0.0 if compression != "dwaa" else 0.05  # DWAA is lossy on RGB
    np.testing.assert_allclose(pixels, _half(rgba), atol=tolerance)


def test_exr_data_window_inside_display_window(tmp_path, rgba):
    path = tmp_path / "crop.exr"
    write_exr(path, rgba, full_size=(200, 100), origin=(30, 50))
    spec = _spec(path)
    assert (spec.x, spec.y, spec.width, spec.height) == (30, 50, 40, 24)
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (0, 0, 200, 100)
    full = read_image(path, full_window=True)
    assert full.shape == (100, 200, 4)
    np.testing.assert_array_equal(full[50:74, 30:70], _half(rgba))
    assert full[:50].max() == 0.0 and full[:, :30].max() == 0.0 and full[74:].max() == 0.0


def test_exr_rgb_gets_opaque_alpha(tmp_path, rgba):
    path = tmp_path / "rgb.exr"
    write_exr(path, rgba[:, :, :3])
    pixels = read_image(path)
    assert pixels.shape[2] == 4 and np.all(pixels[:, :, 3] == 1.0)


def test_exr_bad_input_is_rejected_before_writing(tmp_path, rgba):
    with pytest.raises(OutputError, match="compression"):
        write_exr(tmp_path / "a.exr", rgba, compression="b44x")
    with pytest.raises(ValueError, match="matte"):
        write_exr(tmp_path / "a.exr", rgba, mattes={"bad name": rgba[:, :, 0]})
    with pytest.raises(ValueError, match="matte"):
        write_exr(tmp_path / "a.exr", rgba, mattes={"skin": rgba[:5, :, 0]})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype,channels", [(np.uint8, 3), (np.uint8, 4), (np.uint16, 3), (np.uint16, 4)])
def test_png_round_trip(tmp_path, dtype, channels):
    top = np.iinfo(dtype).max
    image = np.random.default_rng(5).integers(0, top + 1, size=(13, 21, channels), dtype=np.int64).astype(dtype)
    path = tmp_path / "frame.png"
    write_png(path, image, metadata={"vtoonify/frame": 7, "vtoonify/source": "a.mp4"})
    spec = _spec(path)
    assert spec.format == oiio.TypeDesc(oiio.UINT8 if dtype == np.uint8 else oiio.UINT16)
    assert spec.nchannels == channels
    assert spec.getattribute("vtoonify/frame") == "7"
    assert spec.getattribute("vtoonify/source") == "a.mp4"
    # An independent reader (OpenCV, BGR order, straight alpha) sees exactly the bytes given.
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == dtype
    order = [2, 1, 0, 3][:channels]
    np.testing.assert_array_equal(back[:, :, order], image)
    np.testing.assert_allclose(read_image(path), image / top, atol=1e-6)


def test_png_rejects_float(tmp_path):
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))


@pytest.mark.parametrize("fmt,bits,tolerance", [("png", 8, 0.5 / 255), ("png", 16, 0.5 / 65535),
                                                ("exr", 16, 1e-3), ("exr", 32, 0.0), ("exr", 8, 1e-3)])
def test_grey_matte_round_trip(tmp_path, fmt, bits, tolerance):
    matte = np.clip(np.random.default_rng(1).random((11, 17), dtype=np.float32) * 1.2 - 0.1, 0, 1)
    path = tmp_path / f"shot.matte_skin.0001.{fmt}"
    write_grey(path, matte, fmt=fmt, bits=bits)
    back = read_image(path)
    assert back.shape == (11, 17, 1)
    np.testing.assert_allclose(back[:, :, 0], matte, atol=tolerance + 1e-7)
    spec = _spec(path)
    if fmt == "png":
        assert spec.format == oiio.TypeDesc(oiio.UINT8 if bits == 8 else oiio.UINT16)
    else:
        assert spec.format == oiio.TypeDesc(oiio.FLOAT if bits == 32 else oiio.HALF)


def test_grey_rejects_bad_options(tmp_path):
    with pytest.raises(ValueError):
        write_grey(tmp_path / "a.png", np.zeros((4, 4), np.float32), fmt="png", bits=12)
    with pytest.raises(ValueError):
        write_grey(tmp_path / "a.tif", np.zeros((4, 4), np.float32), fmt="tif")
