"""Leftovers of the hostile-media probe of ``python -m engine render``: a pattern of video files, an EXR whose
channels are not R, G, B, and a frame too large to stylize in reasonable time and memory."""

from __future__ import annotations

import shutil
import struct
import zlib

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import InputError
from engine.io import open_source
from engine.io.base import MAX_FRAME_PIXELS


def test_a_pattern_of_video_files_says_so_and_what_to_do(media_dir, tmp_path):
    """``shot.####.mp4`` was opened as an image sequence and failed with OpenImageIO's "no format reader"."""
    for number in (1, 2):
        shutil.copy(media_dir / "529_2.mp4", tmp_path / f"shot.{number:04d}.mp4")
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "shot.####.mp4")
    message, fix = info.value.message, info.value.fix
    assert "shot.####.mp4" in message and "video files" in message and "format reader" not in message
    assert "shot.0001.mp4" in fix and "one" in fix


def _png_header(path, width: int, height: int):
    """A PNG whose header claims ``width`` x ``height`` and whose data is a few zero rows: all the size check
    may read (a real all-black 16000x12000 PNG is 577 KB on disk and took 141 s and 9.8 GB to render)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * (3 * width + 1) * 4)) + chunk(b"IEND", b""))
    return path


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["black.png", "shot.####.png"])
def test_a_frame_above_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path, name, monkeypatch):
    from engine.io import image

    decoded = []
    monkeypatch.setattr(image, "_open_buf", lambda path: decoded.append(path))
    for file in ("black.png",) if name == "black.png" else ("shot.0001.png", "shot.0002.png"):
        _png_header(tmp_path / file, 16000, 12000)
    with pytest.raises(InputError) as info:
        with open_source(tmp_path / name) as source:
            source.read(source.frame_numbers[0])
    assert not decoded
    message, fix = info.value.message, info.value.fix
    assert "16000x12000 (192,000,000 pixels)" in message and f"{MAX_FRAME_PIXELS:,} pixels" in message
    if name == "black.png":
        assert "oiiotool black.png --resize 50% -o black_small.png or ffmpeg -i black.png -vf scale=iw/2:-2 " in fix
    else:
        assert "oiiotool 'shot.####.png' --resize 50% -o 'small_shot.####.png'" in fix


def test_a_video_above_the_pixel_limit_is_refused_before_its_first_frame_is_decoded(tmp_path, monkeypatch):
    import av

    from engine.io import base

    path = tmp_path / "big.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height = 64, 48
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    monkeypatch.setattr(base, "MAX_FRAME_PIXELS", 64 * 48 - 1)
    with pytest.raises(InputError) as info:
        open_source(path)
    assert "64x48 (3,072 pixels)" in info.value.message and "ffmpeg -i big.mp4 -vf scale=" in info.value.fix


def _exr(path, channels: list[str], size=(8, 8)):
    spec = oiio.ImageSpec(size[0], size[1], len(channels), oiio.HALF)
    spec.channelnames = tuple(channels)
    out = oiio.ImageOutput.create(str(path))
    pixels = np.linspace(0, 1, size[0] * size[1] * len(channels), dtype=np.float32).reshape(size[1], size[0], -1)
    assert out.open(str(path), spec) and out.write_image(pixels) and out.close()
    return path


def test_exr_channels_that_are_not_rgb_are_named_when_read_as_rgb(tmp_path):
    """An EXR holding X/Y/Z (a position or normal pass) was read as R/G/B without a word."""
    from engine.pipeline.render import channels_note

    with open_source(_exr(tmp_path / "pos v1.exr", ["X", "Y", "Z"])) as source:
        assert source.channels_read == ("X", "Y", "Z")
        note = channels_note(source)
    assert note.startswith("pos v1.exr holds no R, G, B channels: its channels 'X', 'Y', 'Z' are read as red, "
                           "green and blue")
    for number in (1, 2):
        _exr(tmp_path / f"shot.{number:04d}.exr", ["P.x", "P.y", "P.z", "A"])
    with open_source(tmp_path / "shot.####.exr") as sequence:
        note = channels_note(sequence)  # OpenEXR stores channels sorted: the alpha comes first and is read as red
    assert "its channels 'A', 'P.x', 'P.y' are read as red, green and blue" in note
    assert note.endswith("oiiotool 'shot.####.exr' --ch R=A,G=P.x,B=P.y -o 'shot.####_rgb.exr')")
    for fine in (["R", "G", "B", "A"], ["beauty.R", "beauty.G", "beauty.B"], ["Y"], ["Y", "A"]):
        with open_source(_exr(tmp_path / "fine.exr", fine)) as source:
            assert channels_note(source) is None, fine
