"""Cryptomatte encoding: MurmurHash3 vectors, the spec's float conversion and manifest, ranks, EXR."""

from __future__ import annotations

import json
import struct

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.io import cryptomatte as cm
from engine.io.exr import write_exr

# Published MurmurHash3_x86_32 vectors (SMHasher's reference implementation), (data, seed, hash).
MURMUR_VECTORS = [
    (b"", 0, 0x00000000),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\xff\xff\xff\xff", 0, 0x76293B50),
    (b"!Ce\x87", 0, 0xF55B516B),
    (b"!Ce\x87", 0x5082EDEE, 0x2362F9DE),
    (b"!Ce", 0, 0x7E4A8634),
    (b"!C", 0, 0xA0F7B07A),
    (b"!", 0, 0x72661CF4),
    (b"a", 0x9747B28C, 0x7FA09EA6),
    (b"aa", 0x9747B28C, 0x5D211726),
    (b"aaa", 0x9747B28C, 0x283E0130),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"Hello, world!", 0x9747B28C, 0x24884CBA),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
]


@pytest.mark.parametrize(("data", "seed", "expected"), MURMUR_VECTORS)
def test_murmurhash3_matches_published_vectors(data, seed, expected):
    assert cm.murmurhash3_32(data, seed) == expected


def test_manifest_ids_match_the_specification_example():
    # The spec's manifest example: {"bunny":"13851a76", "default":"42c9679f"}.
    assert cm.object_id_hex("bunny") == "13851a76"
    assert cm.object_id_hex("default") == "42c9679f"
    assert struct.pack(">f", cm.object_id("bunny")).hex() == "13851a76"


# Ids and a layer key another production implementation computes (Gaffer's Cryptomatte tests).
INDEPENDENT_IDS = {
    "hello": 6.0705627102400005616e-17,
    "cube": -4.08461912519e+15,
    "sphere": 2.79018604383e+15,
    "plane": 3.66557617593e-11,
    "/GAFFERBOT/C_torso_GRP/C_head_GRP/C_head_CPT/C_head001_REN": -2.5222249091461295e+36,
    "shader:b0d1fe5b982bcae64d6329033cbadc70": 876260905451520.0,
}


@pytest.mark.parametrize("name", sorted(INDEPENDENT_IDS))
def test_ids_match_an_independent_implementation(name):
    assert cm.object_id(name) == np.float32(INDEPENDENT_IDS[name])


def test_layer_key_matches_an_independent_implementation():
    assert cm.layer_key("crypto_object") == "f834d0a"


def _spec_rule(hash32: int) -> float:
    """The specification's reference conversion, written out as the spec's pseudo-code reads."""
    mantissa = hash32 & ((1 << 23) - 1)
    exponent = min(max((hash32 >> 23) & 0xFF, 1), 254)
    sign = hash32 >> 31
    value = struct.unpack("<f", struct.pack("<I", (exponent << 23) | mantissa))[0]
    return -value if sign else value


@pytest.mark.parametrize("hash32", [0x00000000, 0x007FFFFF, 0x80000001, 0x7F800000, 0x7FFFFFFF, 0xFFFFFFFF,
                                    0xFF800000, 0x3F800000, 0x12345678, 0xDEADBEEF])
def test_float_conversion_follows_the_spec_and_never_gives_nan_inf_or_zero(hash32):
    bits = cm.hash_to_float_bits(hash32)
    value = np.array([bits], np.uint32).view(np.float32)[0]
    assert np.isfinite(value) and value != 0.0 and abs(value) >= np.finfo(np.float32).tiny  # normal floats
    assert value == np.float32(_spec_rule(hash32))
    if 1 <= (hash32 >> 23) & 0xFF <= 254:
        assert bits == hash32  # an ordinary exponent is a bit-for-bit copy


def test_object_ids_of_many_names_are_finite_normal_floats():
    ids = np.array([cm.object_id(f"face/object_{i}") for i in range(2000)], np.float32)
    assert np.isfinite(ids).all() and (np.abs(ids) >= np.finfo(np.float32).tiny).all()


def test_header_key_names_and_manifest():
    meta = cm.header("CryptoFace", ["face/skin", "face/hair"])
    key = f"{cm.murmurhash3_32('CryptoFace'):08x}"[:7]
    assert set(meta) == {f"cryptomatte/{key}/{k}" for k in ("name", "hash", "conversion", "manifest")}
    assert meta[f"cryptomatte/{key}/name"] == "CryptoFace"
    assert meta[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert meta[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    manifest = json.loads(meta[f"cryptomatte/{key}/manifest"])
    assert manifest == {"face/skin": cm.object_id_hex("face/skin"), "face/hair": cm.object_id_hex("face/hair")}
    assert cm.channel_names("CryptoFace", 4) == ["CryptoFace00.R", "CryptoFace00.G", "CryptoFace00.B",
                                                 "CryptoFace00.A", "CryptoFace01.R", "CryptoFace01.G",
                                                 "CryptoFace01.B", "CryptoFace01.A"]
    with pytest.raises(ValueError, match="pairs"):
        cm.channel_names("CryptoFace", 3)


def test_ranks_sorted_by_coverage_with_zero_past_the_objects():
    cov = np.array([[[0.1]], [[0.6]], [[0.0]], [[0.3]]], np.float32)  # 4 objects, one pixel
    ids = np.array([1.5, 2.5, 3.5, 4.5], np.float32)
    pairs = cm.encode_ranks(cov, ids, ranks=6)[0, 0]
    np.testing.assert_array_equal(pairs, np.float32([2.5, 0.6, 4.5, 0.3, 1.5, 0.1, 0, 0, 0, 0, 0, 0]))
    two = cm.encode_ranks(cov, ids, ranks=2)[0, 0]  # fewer ranks than objects: the smallest is dropped
    np.testing.assert_array_equal(two, np.float32([2.5, 0.6, 4.5, 0.3]))
    np.testing.assert_array_equal(cov[:, 0, 0], np.float32([0.1, 0.6, 0.0, 0.3]))  # the input is left alone
    tie = cm.encode_ranks(np.full((3, 1, 1), 0.25, np.float32), ids[:3], ranks=2)[0, 0]
    np.testing.assert_array_equal(tie, np.float32([1.5, 0.25, 2.5, 0.25]))  # equal coverage: object order


def test_ranks_match_a_full_sort_reference():
    rng = np.random.default_rng(7)
    cov = rng.random((11, 9, 13)).astype(np.float32)
    cov[cov < 0.4] = 0.0  # some pixels have fewer objects than ranks
    ids = rng.normal(size=11).astype(np.float32)
    order = np.argsort(-cov, axis=0, kind="stable")[:6]
    top = np.take_along_axis(cov, order, axis=0)
    expected = np.zeros((9, 13, 12), np.float32)
    expected[:, :, 0::2] = np.where(top > 0, ids[order], 0).transpose(1, 2, 0)
    expected[:, :, 1::2] = top.transpose(1, 2, 0)
    np.testing.assert_array_equal(cm.encode_ranks(cov, ids, ranks=6), expected)


def test_layers_reproduce_the_mattes_and_fill_the_alpha():
    rng = np.random.default_rng(3)
    h, w = 24, 32
    raw = rng.random((4, h, w)).astype(np.float32) ** 3
    alpha = rng.random((h, w)).astype(np.float32)
    raw *= alpha / np.maximum(raw.sum(axis=0), 1.0)  # exclusive classes: sum <= alpha
    mattes = {"skin": raw[0], "nose": raw[1], "l_eye": raw[2], "mouth": raw[3]}
    channels, meta = cm.cryptomatte_layers(mattes, alpha)
    pairs = np.stack([channels[n] for n in cm.channel_names(cm.TYPE_NAME)], axis=2)
    for name, matte in mattes.items():
        np.testing.assert_allclose(cm.decode(pairs, f"face/{name}"), matte, atol=1e-6)
    np.testing.assert_allclose(pairs[:, :, 1::2].sum(axis=2), alpha, atol=1e-5)
    manifest = json.loads(next(v for k, v in meta.items() if k.endswith("/manifest")))
    assert sorted(manifest) == ["face/l_eye", "face/mouth", "face/nose", "face/other", "face/skin"]


def test_exr_float_channels_keep_every_id_bit(tmp_path):
    alpha = np.linspace(0, 1, 8 * 6, dtype=np.float32).reshape(6, 8)
    mattes = {"skin": alpha * 0.7, "nose": alpha * 0.2}
    channels, meta = cm.cryptomatte_layers(mattes, alpha)
    rgba = np.dstack([np.zeros((6, 8, 3), np.float32), alpha])
    path = tmp_path / "crypto.exr"
    write_exr(path, rgba, mattes=mattes, metadata=meta, float_channels=channels)
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    pixels = inp.read_image(oiio.FLOAT)
    inp.close()
    names = list(spec.channelnames)
    assert names[:4] == ["R", "G", "B", "A"] and {"matte.skin", "matte.nose"} <= set(names)
    crypto = cm.channel_names(cm.TYPE_NAME)
    assert set(crypto) <= set(names)
    for name in crypto:
        assert spec.channelformat(names.index(name)) == oiio.FLOAT
        np.testing.assert_array_equal(pixels[:, :, names.index(name)].view(np.uint32),
                                      channels[name].view(np.uint32))
    for key, value in meta.items():
        assert spec.getattribute(key) == value


@pytest.mark.parametrize(("compression", "lossless"), [("zip", True), ("piz", True), ("dwaa", False)])
def test_only_lossless_compression_keeps_the_ids(tmp_path, compression, lossless):
    """Why the engine refuses --cryptomatte with dwaa: DWAA treats every ``.R``/``.G``/``.B`` channel as
    colour, float ones included, and rounds the ids into values no name hashes to."""
    rng = np.random.default_rng(5)
    h, w = 64, 64
    raw = rng.random((3, h, w)).astype(np.float32)
    alpha = np.ones((h, w), np.float32)
    mattes = {"skin": raw[0] / raw.sum(axis=0), "nose": raw[1] / raw.sum(axis=0)}
    channels, meta = cm.cryptomatte_layers(mattes, alpha)
    path = tmp_path / f"{compression}.exr"
    write_exr(path, np.dstack([np.zeros((h, w, 3), np.float32), alpha]), metadata=meta, float_channels=channels,
              compression=compression)
    inp = oiio.ImageInput.open(str(path))
    names, pixels = list(inp.spec().channelnames), inp.read_image(oiio.FLOAT)
    inp.close()
    ids = pixels[:, :, [names.index(n) for n in cm.channel_names(cm.TYPE_NAME)[0::2]]]
    known = {int(v, 16) for v in json.loads(next(v for k, v in meta.items() if k.endswith("/manifest"))).values()}
    unknown = set(np.unique(ids.view(np.uint32)).tolist()) - known - {0}
    assert (not unknown) == lossless, f"{compression}: {len(unknown)} ids no name hashes to"
