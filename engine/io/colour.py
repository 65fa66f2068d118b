"""sRGB <-> scene-linear (Rec.709 primaries) conversions.

The EXR writer stores scene-linear light and the image readers turn float plates back into display
sRGB, so both directions are needed. ``impl='oiio'`` goes through OIIO's colour config (OCIO; the
built-in config unless ``$OCIO`` names a studio config); ``impl='ref'`` is the piecewise IEC 61966-2-1
formula in numpy, kept beside it so a test can compare the two.

Why the space is named ``"linear"`` and not the ``scene_linear`` role: OIIO 3's built-in config maps
the ``scene_linear`` role to ACEScg, which would also change the primaries; ``"linear"`` resolves to
"Linear Rec.709 (sRGB)", the transfer-function-only conversion artists expect from an sRGB plate.
"""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio

from engine.errors import EngineError
from engine.io.oiio_errors import error_text

SRGB_SPACE = "sRGB"
LINEAR_SPACE = "linear"
IMPLS = ("oiio", "ref")


def srgb_to_linear_ref(rgb: np.ndarray) -> np.ndarray:
    """Numpy reference: sRGB-encoded float (any shape) -> linear float32."""
    x = np.asarray(rgb, dtype=np.float32)
    low = x / np.float32(12.92)
    high = np.power((np.maximum(x, 0.0) + np.float32(0.055)) / np.float32(1.055), np.float32(2.4))
    return np.where(x <= 0.04045, low, high).astype(np.float32)


def linear_to_srgb_ref(rgb: np.ndarray) -> np.ndarray:
    """Numpy reference: linear float (any shape) -> sRGB-encoded float32."""
    x = np.asarray(rgb, dtype=np.float32)
    low = x * np.float32(12.92)
    high = np.float32(1.055) * np.power(np.maximum(x, 0.0), np.float32(1.0 / 2.4)) - np.float32(0.055)
    return np.where(x <= 0.0031308, low, high).astype(np.float32)


def _convert_oiio(rgb: np.ndarray, from_space: str, to_space: str) -> np.ndarray:
    """Run OIIO colorconvert on an [..., 3] float array (alpha, if any, is the caller's business)."""
    x = np.ascontiguousarray(rgb, dtype=np.float32)
    shape = x.shape
    if x.ndim == 1 or shape[-1] != 3:
        raise ValueError(f"expected [..., 3] colour data, got shape {shape}")
    flat = x.reshape(1, -1, 3)  # [1, P, 3]: OIIO wants an image
    buf = oiio.ImageBuf(flat)
    out = oiio.ImageBufAlgo.colorconvert(buf, from_space, to_space)
    if out.has_error:
        raise EngineError(f"colour conversion {from_space} -> {to_space} failed: {error_text(out)}",
                          "check the OCIO config ($OCIO) defines these colour spaces")
    return out.get_pixels(oiio.FLOAT).reshape(shape)


def _check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


def srgb_to_linear(rgb: np.ndarray, impl: str = "oiio") -> np.ndarray:
    """sRGB-encoded float [..., 3] in [0, 1] -> scene-linear float32 (Rec.709 primaries)."""
    _check_impl(impl)
    return srgb_to_linear_ref(rgb) if impl == "ref" else _convert_oiio(rgb, SRGB_SPACE, LINEAR_SPACE)


def linear_to_srgb(rgb: np.ndarray, impl: str = "oiio") -> np.ndarray:
    """Scene-linear float [..., 3] -> sRGB-encoded float32 (not clipped)."""
    _check_impl(impl)
    return linear_to_srgb_ref(rgb) if impl == "ref" else _convert_oiio(rgb, LINEAR_SPACE, SRGB_SPACE)


def float_to_srgb(rgb: np.ndarray, from_space: str | None) -> np.ndarray:
    """Float pixels [..., 3] in a file's declared colour space (None = scene-linear Rec.709) -> sRGB.

    Why honour the declaration: an ACEScg EXR plate (``colorInteropID`` lin_ap1_scene) read as Rec.709
    would come out with skewed hues; a float TIFF that says it is sRGB-encoded must not be encoded twice.
    """
    if from_space:
        try:
            return _convert_oiio(rgb, from_space, SRGB_SPACE)
        except EngineError:
            pass  # a space the OCIO config does not know: fall back to the EXR convention
    return linear_to_srgb(rgb)


def quantise_uint8(rgb_float: np.ndarray) -> np.ndarray:
    """Display float in [0, 1] -> uint8 with rounding (values outside are clipped)."""
    return np.clip(np.rint(np.asarray(rgb_float, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def uint16_to_uint8(values: np.ndarray) -> np.ndarray:
    """16-bit -> 8-bit with rounding: v8 = round(v16 * 255 / 65535)."""
    v = np.asarray(values, dtype=np.uint32)
    return ((v * 255 + 32767) // 65535).astype(np.uint8)
