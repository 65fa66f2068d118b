"""Renders (classic backend) that carry the source's timecode and Cryptomatte layers, read back with OIIO."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import ConfigError
from engine.io import cryptomatte as cm
from engine.io import srgb_to_linear
from engine.io.timecode import SourceTimecode, from_smpte_words, parse_timecode, to_smpte_words
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render

SMALL = (64, 64, 64, 64)
NTSC = Fraction(30000, 1001)


def _decoded_frames(media_dir, count):
    with av.open(str(media_dir / "7154235.mp4")) as c:
        frames = []
        for frame in c.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                return frames


@pytest.fixture(scope="module")
def df_mov(media_dir, tmp_path_factory):
    """The sample clip's first frames as a 29.97 MOV whose tmcd track starts a frame before a DF minute."""
    path = tmp_path_factory.mktemp("mov") / "shot.mov"
    with av.open(str(path), "w") as out:
        out.metadata["timecode"] = "01:00:59;28"
        stream = out.add_stream("mjpeg", rate=NTSC)
        stream.width, stream.height, stream.pix_fmt = 640, 576, "yuvj420p"
        stream.options = {"qscale": "2"}
        for rgb in _decoded_frames(media_dir, 4):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


def _read(path):
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        return inp.spec(), inp.read_image(oiio.FLOAT)
    finally:
        inp.close()


def test_mov_timecode_and_cryptomatte_in_every_exr(df_mov, tmp_path, empty_models_dir):
    config = RenderConfig(source=str(df_mov), output=str(tmp_path / "out"), frames="1001-1004", start_number=1001,
                          mattes=True, cryptomatte=True, padding=SMALL, backend="classic")
    result = render(config)
    expected = {1001: "01:00:59;28", 1002: "01:00:59;29", 1003: "01:01:00;02", 1004: "01:01:00;03"}
    assert result.to_dict()["timecode"] == {"start": "01:00:59;28", "rate": "30000/1001", "fps": 29.97,
                                            "drop_frame": True, "first_frame": 1001}
    sidecar = json.loads((tmp_path / "out" / "shot.vtoonify.json").read_text())
    assert sidecar["timecode"]["start"] == "01:00:59;28"
    key = cm.layer_key(cm.TYPE_NAME)
    for frame, label in expected.items():
        spec, pixels = _read(tmp_path / "out" / f"shot.{frame}.exr")
        assert str(from_smpte_words(spec.getattribute("smpte:TimeCode"))) == label
        assert tuple(spec.getattribute("framesPerSecond")) == (30000, 1001)
        assert spec.getattribute("vtoonify/timecode") == label
        # Cryptomatte: channels, header, manifest, and coverage that decodes back to the mattes.
        names = list(spec.channelnames)
        crypto = cm.channel_names(cm.TYPE_NAME)
        assert set(crypto) <= set(names)
        assert all(spec.channelformat(names.index(n)) == oiio.FLOAT for n in crypto)
        assert spec.getattribute(f"cryptomatte/{key}/name") == "CryptoFace"
        assert spec.getattribute(f"cryptomatte/{key}/hash") == "MurmurHash3_32"
        assert spec.getattribute(f"cryptomatte/{key}/conversion") == "uint32_to_float32"
        manifest = json.loads(spec.getattribute(f"cryptomatte/{key}/manifest"))
        mattes = [n[len("matte."):] for n in names if n.startswith("matte.")]
        assert set(manifest) == {f"face/{m}" for m in mattes} | {"face/other"}
        pairs = pixels[:, :, [names.index(n) for n in crypto]]
        ids = pairs[:, :, 0::2]
        assert np.isfinite(pairs).all()
        known = {int(v, 16) for v in manifest.values()} | {0}
        assert set(np.unique(ids.view(np.uint32)).tolist()) <= known          # every id is in the manifest
        cov = pairs[:, :, 1::2]
        assert (np.diff(cov, axis=2) <= 1e-7).all()                           # ranks sorted by coverage
        alpha = pixels[:, :, names.index("A")]
        np.testing.assert_allclose(cov.sum(axis=2), alpha, atol=2e-3)         # the objects fill the alpha
        for m in mattes:
            stored = pixels[:, :, names.index(f"matte.{m}")]                  # half float
            np.testing.assert_allclose(cm.decode(pairs, f"face/{m}"), stored, atol=2e-3)
        skin = pixels[:, :, names.index("matte.skin")]
        assert skin.max() > 0.9 and (cm.decode(pairs, "face/skin") > 0.5).sum() > 100
        for y, x in np.argwhere(alpha > 0.3)[:: max(1, int((alpha > 0.3).sum()) // 7)][:7]:  # several pixels
            got = {name: cm.decode(pairs[y:y + 1, x:x + 1], name)[0, 0] for name in manifest}
            assert abs(sum(got.values()) - alpha[y, x]) < 2e-3


def test_exr_sequence_timecode_full_data_window_and_png_text(media_dir, tmp_path, empty_models_dir):
    plates = tmp_path / "plates"
    plates.mkdir()
    start = parse_timecode("10:00:00:22")
    for i, rgb in enumerate(_decoded_frames(media_dir, 3)):
        frame = 1001 + i
        spec = oiio.ImageSpec(640, 576, 3, oiio.HALF)
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode,
                       to_smpte_words(SourceTimecode(start, Fraction(24), 1001).at(frame)))
        spec.attribute("framesPerSecond", oiio.TypeRational, (24, 1))
        out = oiio.ImageOutput.create("openexr")
        assert out.open(str(plates / f"plate.{frame}.exr"), spec)
        out.write_image(np.ascontiguousarray(srgb_to_linear(rgb.astype(np.float32) / 255.0)))
        out.close()
    config = RenderConfig(source=str(plates / "plate.####.exr"), output=str(tmp_path / "exr"), frames="1002-1003",
                          mattes=True, matte_files=True, cryptomatte=True, data_window="full", padding=SMALL,
                          backend="classic")
    result = render(config)
    assert result.timecode["start"] == "10:00:00:22" and result.timecode["first_frame"] == 1001
    for frame, label in ((1002, "10:00:00:23"), (1003, "10:00:01:00")):
        spec, pixels = _read(tmp_path / "exr" / f"plate.{frame}.exr")
        assert str(from_smpte_words(spec.getattribute("smpte:TimeCode"))) == label
        assert tuple(spec.getattribute("framesPerSecond")) == (24, 1)
        header = (tmp_path / "exr" / f"plate.{frame}.exr").read_bytes()[:4096]  # OpenEXR's standard names
        assert b"timeCode\x00timecode\x00" in header and b"framesPerSecond\x00rational\x00" in header
        names = list(spec.channelnames)
        assert (spec.width, spec.height) == (640, 576)                        # full data window
        pairs = pixels[:, :, [names.index(n) for n in cm.channel_names(cm.TYPE_NAME)]]
        np.testing.assert_allclose(pairs[:, :, 1::2].sum(axis=2), pixels[:, :, names.index("A")], atol=2e-3)
        grey, _ = _read(tmp_path / "exr" / f"plate.matte_skin.{frame}.exr")   # matte files: same timecode,
        assert str(from_smpte_words(grey.getattribute("smpte:TimeCode"))) == label
        assert not [a.name for a in grey.extra_attribs if a.name.startswith("cryptomatte/")]  # no Cryptomatte
    png = RenderConfig(source=str(plates / "plate.####.exr"), output=str(tmp_path / "png"), frames="1003",
                       format="png", padding=SMALL, backend="classic")
    render(png)
    spec, _ = _read(tmp_path / "png" / "plate.1003.png")
    assert spec.getattribute("vtoonify/timecode") == "10:00:01:00"
    assert spec.getattribute("vtoonify/fps") == "24/1"


def test_source_without_timecode_gets_none(media_dir, tmp_path, empty_models_dir):
    config = RenderConfig(source=str(media_dir / "7154235.mp4"), output=str(tmp_path / "out"), frames="1",
                          padding=SMALL, backend="classic")
    result = render(config)
    assert result.timecode is None
    spec, _ = _read(result.outputs[0])
    assert spec.getattribute("smpte:TimeCode") is None and spec.getattribute("vtoonify/timecode") is None
    assert json.loads((tmp_path / "out" / "7154235.vtoonify.json").read_text())["timecode"] is None


def test_cryptomatte_needs_exr_and_mattes(tmp_path):
    with pytest.raises(ConfigError, match="EXR") as err:
        RenderConfig(source="a.mov", output=str(tmp_path), format="png", mattes=True, cryptomatte=True)
    assert "--format exr" in err.value.fix
    with pytest.raises(ConfigError, match="mattes"):
        RenderConfig(source="a.mov", output=str(tmp_path), cryptomatte=True)
    with pytest.raises(ConfigError, match="dwaa") as err:  # lossy: it rounds the id channels (tests/io)
        RenderConfig(source="a.mov", output=str(tmp_path), mattes=True, cryptomatte=True, exr_compression="dwaa")
    assert "--exr-compression zip or --exr-compression piz" in err.value.fix
    for lossless in ("zip", "piz", "none"):
        RenderConfig(source="a.mov", output=str(tmp_path), mattes=True, cryptomatte=True, exr_compression=lossless)


def test_no_matte_layers_gives_a_plain_rgba_beauty_beside_its_matte_files(media_dir, tmp_path, empty_models_dir):
    """For sequencers that cannot show multilayer EXRs (Blender 4.2): RGBA beauty, mattes as their own files,
    and a job key of its own (a folder never mixes the two layouts)."""
    common = dict(source=str(media_dir / "7154235.mp4"), frames="1", padding=SMALL, backend="classic",
                  format="exr", mattes=True, matte_files=True)
    plain = render(RenderConfig(output=str(tmp_path / "plain"), matte_layers=False, **common))
    layered = render(RenderConfig(output=str(tmp_path / "layered"), **common))
    plain_spec, plain_pixels = _read(plain.outputs[0])
    layered_spec, layered_pixels = _read(layered.outputs[0])
    assert list(plain_spec.channelnames) == ["R", "G", "B", "A"]
    assert any(name.startswith("matte.") for name in layered_spec.channelnames)
    np.testing.assert_array_equal(plain_pixels[..., :4], layered_pixels[..., :4])
    mattes = sorted(p.name for p in (tmp_path / "plain").glob("7154235.matte_*.exr"))
    assert mattes and mattes == sorted(p.name for p in (tmp_path / "layered").glob("7154235.matte_*.exr"))
    assert plain_spec.getattribute("vtoonify/job") != layered_spec.getattribute("vtoonify/job")
    with pytest.raises(ConfigError, match="no-matte-layers"):
        RenderConfig(output=str(tmp_path / "x"), matte_layers=False, **{**common, "matte_files": False})


def _small_mov(media_dir, path, timecode: str, rate: Fraction, count: int = 20, on_stream: bool = False):
    """``count`` frames of the sample clip at 320x288 as an MJPEG MOV whose tmcd track starts at ``timecode``,
    tagged on the container (or with ``on_stream``, on the video stream: FFmpeg reads either)."""
    with av.open(str(media_dir / "7154235.mp4")) as clip, av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=rate)
        (stream if on_stream else out).metadata["timecode"] = timecode
        stream.width, stream.height, stream.pix_fmt = 320, 288, "yuvj420p"
        for index, frame in enumerate(clip.decode(video=0)):
            if index == count:
                break
            rgb = frame.reformat(width=320, height=288).to_ndarray(format="rgb24")
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


def _label(spec) -> str:
    """The EXR ``timeCode`` as OIIO's own decoder spells it, ';' when its drop-frame bit (0x40) is set."""
    attribute = next(a for a in spec.extra_attribs if a.name == "smpte:TimeCode")
    text = oiio.ImageSpec.metadata_val(attribute)
    return text[:8] + (";" if spec.getattribute("smpte:TimeCode")[0] & 0x40 else ":") + text[9:]


def _non_drop_24(n: int) -> str:
    count = (10 * 24 + 5) + n - 1  # 01:00:10:05 is frame 1
    return f"01:00:{count // 24:02d}:{count % 24:02d}"


def _drop_frame_29_97(n: int) -> str:
    # 01:00:59;15 is frame 1; minute 01:01 is not a tenth minute, so its labels ;00 and ;01 do not exist
    return f"01:00:59;{14 + n:02d}" if n <= 15 else f"01:01:00;{n - 14:02d}"


@pytest.mark.slow
@pytest.mark.parametrize(("start", "rate", "label"), [("01:00:10:05", Fraction(24), _non_drop_24),
                                                      ("01:00:59;15", NTSC, _drop_frame_29_97)])
def test_frame_n_carries_the_source_timecode_plus_n_and_a_farm_chunk_the_same(media_dir, tmp_path, empty_models_dir,
                                                                              start, rate, label):
    mov = _small_mov(media_dir, tmp_path / "tc.mov", start, rate)
    common = dict(source=str(mov), padding=SMALL, backend="classic")
    full = render(RenderConfig(output=str(tmp_path / "full"), **common))
    chunk = render(RenderConfig(output=str(tmp_path / "chunk"), frames="10-19", **common))
    png = render(RenderConfig(output=str(tmp_path / "png"), frames="15-16", format="png", **common))
    assert full.rendered == 20 and chunk.rendered == 10 and full.timecode == chunk.timecode == png.timecode
    assert full.timecode["start"] == start and full.timecode["drop_frame"] == (";" in start)
    for n in range(1, 21):
        spec, _ = _read(tmp_path / "full" / f"tc.{n:04d}.exr")
        assert _label(spec) == spec.getattribute("vtoonify/timecode") == label(n), n
        assert tuple(spec.getattribute("framesPerSecond")) == (rate.numerator, rate.denominator)
        if 10 <= n <= 19:  # a chunk labels its frames as the whole render does
            chunk_spec, _ = _read(tmp_path / "chunk" / f"tc.{n:04d}.exr")
            assert _label(chunk_spec) == label(n) and chunk_spec.getattribute("vtoonify/timecode") == label(n)
        if n in (15, 16):
            png_spec, _ = _read(tmp_path / "png" / f"tc.{n:04d}.png")
            assert png_spec.getattribute("vtoonify/timecode") == label(n)
    for folder in ("full", "chunk", "png"):
        assert json.loads((tmp_path / folder / "tc.vtoonify.json").read_text())["timecode"]["start"] == start
