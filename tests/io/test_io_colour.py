"""sRGB <-> linear: the OIIO/OCIO path against the numpy reference formula."""

from __future__ import annotations

import numpy as np
import pytest

from engine.io.colour import (
    linear_to_srgb,
    linear_to_srgb_ref,
    quantise_uint8,
    srgb_to_linear,
    srgb_to_linear_ref,
    uint16_to_uint8,
)


def test_reference_formula_known_values():
    # IEC 61966-2-1: sRGB 0.5 -> linear 0.21404; 0.04045 is the knee; 1 -> 1.
    values = srgb_to_linear_ref(np.array([0.0, 0.04045, 0.5, 1.0], np.float32))
    np.testing.assert_allclose(values, [0.0, 0.04045 / 12.92, 0.2140411, 1.0], atol=1e-6)


@pytest.mark.parametrize("impl", ["oiio", "ref"])
def test_round_trip(impl):
    srgb = np.random.default_rng(0).random((17, 9, 3), dtype=np.float32)
    back = linear_to_srgb(srgb_to_linear(srgb, impl=impl), impl=impl)
    np.testing.assert_allclose(back, srgb, atol=1e-4)


def test_oiio_matches_reference_srgb_to_linear():
    srgb = np.linspace(0.0, 1.0, 4096, dtype=np.float32).reshape(64, 64, 1).repeat(3, axis=2)
    oiio_result = srgb_to_linear(srgb, impl="oiio")
    assert oiio_result.shape == srgb.shape and oiio_result.dtype == np.float32
    np.testing.assert_allclose(oiio_result, srgb_to_linear_ref(srgb), atol=1e-3)


def test_oiio_matches_reference_linear_to_srgb_including_overbrights():
    linear = np.concatenate([np.linspace(0.0, 1.0, 3000), np.linspace(1.0, 4.0, 72)]).astype(np.float32)
    linear = np.stack([linear, linear[::-1], np.roll(linear, 7)], axis=-1)  # [N, 3], channels differ
    np.testing.assert_allclose(linear_to_srgb(linear, impl="oiio"), linear_to_srgb_ref(linear), atol=1e-3)


def test_conversion_is_per_channel_not_a_primaries_change():
    # A pure-red sRGB pixel stays pure red: the "linear" space is Rec.709, not ACEScg.
    red = np.array([[[1.0, 0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(srgb_to_linear(red), red, atol=1e-4)


def test_rejects_wrong_shape_and_impl():
    with pytest.raises(ValueError):
        srgb_to_linear(np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError):
        srgb_to_linear(np.zeros((4, 4, 3), np.float32), impl="fast")


def test_quantisers_round():
    assert quantise_uint8(np.array([0.0, 0.5, 1.0, 1.5, -0.2])).tolist() == [0, 128, 255, 255, 0]
    assert uint16_to_uint8(np.array([0, 128, 129, 32896, 65535])).tolist() == [0, 0, 1, 128, 255]
