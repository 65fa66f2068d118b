"""Cryptomatte and timecode read back as a hostile compositor would: an independent decoder (no engine
helpers: its own MurmurHash3, float conversion, BCD timecode and drop-frame counting) over the written EXRs."""

from __future__ import annotations

import json
import re
import struct
from fractions import Fraction

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.pipeline.config import RenderConfig
from engine.pipeline.render import prepare, render
from tests.pipeline.test_render_metadata import _read, _small_mov

SMALL = (64, 64, 64, 64)


def mmh3_32(text: str) -> int:
    """MurmurHash3_x86_32, seed 0, written out for this test from the algorithm's description."""
    data, h = text.encode("utf-8"), 0
    mask = 0xFFFFFFFF

    def mix(k: int) -> int:
        k = (k * 0xCC9E2D51) & mask
        k = ((k << 15) | (k >> 17)) & mask
        return (k * 0x1B873593) & mask

    n = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: 4 * n]):
        h ^= mix(k)
        h = ((((h << 13) | (h >> 19)) & mask) * 5 + 0xE6546B64) & mask
    tail = data[4 * n :]
    if tail:
        h ^= mix(int.from_bytes(tail, "little"))
    h ^= len(data)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h ^= h >> shift
        h = (h * mult) & mask
    return h ^ (h >> 16)


def spec_float_bits(name: str) -> int:
    h = mmh3_32(name)
    exponent = min(254, max(1, (h >> 23) & 0xFF))
    return (h & 0x80000000) | (exponent << 23) | (h & 0x7FFFFF)


def test_own_hash_matches_the_spec_example():
    assert f"{spec_float_bits('bunny'):08x}" == "13851a76" and f"{spec_float_bits('default'):08x}" == "42c9679f"


def _clip(media_dir, path, timecode, rate, count):
    """The sample clip's first ``count`` frames, the timecode on the stream's tag this time, not the container's."""
    return _small_mov(media_dir, path, timecode, rate, count, on_stream=True)


def test_cryptomatte_decodes_independently(media_dir, tmp_path, empty_models_dir):
    clip = _clip(media_dir, tmp_path / "c.mov", "01:02:03:04", Fraction(24), 2)
    render(
        RenderConfig(
            source=str(clip),
            output=str(tmp_path / "out"),
            mattes=True,
            cryptomatte=True,
            padding=SMALL,
            backend="classic",
        )
    )
    spec, pixels = _read(tmp_path / "out" / "c.0001.exr")
    attrs = {a.name: a.value for a in spec.extra_attribs}
    keys = {m.group(1) for n in attrs if (m := re.fullmatch(r"cryptomatte/([0-9a-f]{7})/name", n))}
    assert len(keys) == 1
    key = keys.pop()
    name = attrs[f"cryptomatte/{key}/name"]
    assert key == f"{mmh3_32(name):08x}"[:7]
    assert attrs[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert attrs[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    manifest = json.loads(attrs[f"cryptomatte/{key}/manifest"])
    for obj, hexid in manifest.items():
        assert re.fullmatch(r"[0-9a-f]{8}", hexid) and int(hexid, 16) == spec_float_bits(obj), obj
    channels = list(spec.channelnames)
    layers = sorted({c[:-2] for c in channels if re.fullmatch(re.escape(name) + r"\d\d\.[RGBA]", c)})
    assert layers == [f"{name}00", f"{name}01", f"{name}02"]
    index = [channels.index(f"{layer}.{c}") for layer in layers for c in "RGBA"]
    assert all(spec.channelformat(i) == oiio.FLOAT for i in index)
    pairs = pixels[:, :, index]
    ids, cov = pairs[:, :, 0::2].copy().view(np.uint32), pairs[:, :, 1::2]
    exponent = (ids >> 23) & 0xFF
    assert ((ids == 0) | ((exponent >= 1) & (exponent <= 254))).all()  # no NaN/inf/denormal id
    assert set(np.unique(ids).tolist()) <= {int(v, 16) for v in manifest.values()} | {0}
    assert (np.diff(cov, axis=2) <= 1e-7).all() and ((ids == 0) == (cov == 0)).all()
    alpha = pixels[:, :, channels.index("A")]
    solid = alpha > 0.999
    assert solid.sum() > 500
    total = cov.sum(axis=2)
    assert np.abs(total[solid] - 1.0).max() < 2e-3 and np.abs(total - alpha).max() < 2e-3
    for matte in (c[len("matte.") :] for c in channels if c.startswith("matte.")):
        own = np.where(ids == int(manifest[f"face/{matte}"], 16), cov, 0).sum(axis=2)
        assert np.abs(own - pixels[:, :, channels.index(f"matte.{matte}")]).max() < 2e-3, matte


def _labels(start: str, fps: int, drop: int, count: int) -> list[str]:
    """Labels counted one frame at a time; a drop-frame count skips ``drop`` labels at minutes not /10."""
    h, m, s, f = (int(x) for x in re.split("[:;]", start))
    out = []
    for _ in range(count):
        out.append(f"{h:02d}:{m:02d}:{s:02d}{';' if drop else ':'}{f:02d}")
        f += 1
        s, f = s + f // fps, f % fps
        m, s = m + s // 60, s % 60
        h, m = (h + m // 60) % 24, m % 60
        if drop and s == 0 and f == 0 and m % 10:
            f = drop
    return out


def _bcd_label(words, fps: int) -> str:
    w = int(words[0])

    def digit(shift, tens_bits):
        return ((w >> (shift + 4)) & ((1 << tens_bits) - 1)) * 10 + ((w >> shift) & 0xF)

    frames = digit(0, 2) * 2 + bool(w & 0x8000) if fps > 30 else digit(0, 2)
    sep = ";" if w & 0x40 else ":"
    return f"{digit(24, 2):02d}:{digit(16, 3):02d}:{digit(8, 3):02d}{sep}{frames:02d}"


@pytest.mark.parametrize(
    ("start", "rate", "fps", "drop"),
    [
        ("01:02:03:04", Fraction(24), 24, 0),
        ("01:02:59;20", Fraction(30000, 1001), 30, 2),  # across a minute that drops ;00 and ;01
        ("00:09:59;20", Fraction(30000, 1001), 30, 2),  # across a tenth minute, which drops none
        ("01:00:59;50", Fraction(60000, 1001), 60, 4),
    ],
)
def test_frame_n_timecode_in_whole_range_and_chunk_renders(
    media_dir, tmp_path, empty_models_dir, start, rate, fps, drop
):
    clip = _clip(media_dir, tmp_path / "t.mov", start, rate, 20)
    common = dict(source=str(clip), padding=SMALL, backend="classic", start_number=1001)
    expected = dict(zip(range(1001, 1021), _labels(start, fps, drop, 20)))
    full = render(RenderConfig(output=str(tmp_path / "full"), **common))
    part = render(RenderConfig(output=str(tmp_path / "part"), frames="1010-1020", **common))
    prepare(RenderConfig(output=str(tmp_path / "farm"), **common))
    for chunk in ("1001-1007", "1008-1014", "1015-1020"):
        assert not render(RenderConfig(output=str(tmp_path / "farm"), frames=chunk, **common)).analysed
    assert full.timecode == part.timecode and full.timecode["start"] == start
    for folder in ("full", "part", "farm"):
        sidecar = json.loads((tmp_path / folder / "t.vtoonify.json").read_text())["timecode"]
        assert sidecar["start"] == start and sidecar["first_frame"] == 1001 and sidecar["drop_frame"] == bool(drop)
        for frame, label in expected.items():
            if folder == "part" and frame < 1010:
                continue
            spec, _ = _read(tmp_path / folder / f"t.{frame}.exr")
            assert _bcd_label(spec.getattribute("smpte:TimeCode"), fps) == label, (folder, frame)
            assert spec.getattribute("vtoonify/timecode") == label
            assert tuple(spec.getattribute("framesPerSecond")) == (rate.numerator, rate.denominator)
    from vtoonify_addon.core.job_settings import timecode_text

    assert timecode_text(full.timecode).startswith(f"source TC {expected[1001]} at frame 1001")


def test_two_faces_decode_to_their_own_faces_without_overlap(media_dir, tmp_path, empty_models_dir):
    import dlib

    from engine.io import open_source, write_png

    def portrait(name):
        with open_source(str(media_dir / name)) as src:
            return src.read(src.frame_numbers[0])

    canvas = np.full((384, 1008, 3), 90, np.uint8)
    canvas[:375, :500], canvas[20:353, 508:] = portrait("077436.jpg"), portrait("038648.jpg")
    (tmp_path / "src").mkdir()
    write_png(tmp_path / "src" / "two.0001.png", canvas)
    boxes = sorted((r.left(), r.top(), r.right(), r.bottom()) for r in dlib.get_frontal_face_detector()(canvas, 1))
    assert len(boxes) == 2
    render(
        RenderConfig(
            source=str(tmp_path / "src" / "two.####.png"),
            output=str(tmp_path / "out"),
            faces="all",
            mattes=True,
            cryptomatte=True,
            padding=SMALL,
            backend="classic",
        )
    )
    spec, pixels = _read(tmp_path / "out" / "two.0001.exr")
    attrs = {a.name: a.value for a in spec.extra_attribs}
    key = f"{mmh3_32('CryptoFace'):08x}"[:7]
    manifest = json.loads(attrs[f"cryptomatte/{key}/manifest"])
    assert sorted(manifest) == ["face01", "face02"]
    channels = list(spec.channelnames)
    pairs = pixels[:, :, [channels.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
    ids, cov = pairs[:, :, 0::2].copy().view(np.uint32), pairs[:, :, 1::2]
    alpha = pixels[:, :, 3]
    planes = {}
    for face, box in zip(("face01", "face02"), boxes):  # ids go left to right
        assert int(manifest[face], 16) == spec_float_bits(face)
        planes[face] = np.where(ids == spec_float_bits(face), cov, 0).sum(axis=2)
        ys, xs = np.nonzero(planes[face] > 0.5)
        cx, cy = xs.mean() + spec.x, ys.mean() + spec.y
        assert box[0] < cx < box[2] and box[1] < cy < box[3], (face, cx, cy, box)
        for cls in ("skin", "nose"):
            assert (pixels[:, :, channels.index(f"matte.{face}_{cls}")] <= planes[face] + 2e-3).all()
    assert np.minimum(planes["face01"], planes["face02"]).max() < 1e-6  # no pixel claimed by both
    assert np.abs(planes["face01"] + planes["face02"] - alpha).max() < 2e-3
