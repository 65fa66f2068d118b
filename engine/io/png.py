"""PNG output: display-referred sRGB, 8 or 16 bits, optional alpha, metadata as text chunks."""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio

from engine.io.oiio_write import MetadataValue, set_metadata, write_with_oiio

_TYPES = {np.dtype(np.uint8): oiio.UINT8, np.dtype(np.uint16): oiio.UINT16}
_CHANNEL_NAMES = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}


def write_png(path: str | os.PathLike, image: np.ndarray, metadata: dict[str, MetadataValue] | None = None) -> None:
    """Write uint8/uint16 [H, W, C] (C = 1..4; or [H, W]) sRGB pixels as PNG, atomically.

    Alpha is straight (unassociated), PNG's own convention: colour is stored exactly as given. (OIIO
    otherwise assumes premultiplied data and would divide the colour by alpha on the way out.)
    """
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype not in _TYPES:
        raise ValueError(f"write_png wants uint8 or uint16 pixels, got {pixels.dtype}")
    if pixels.ndim != 3 or pixels.shape[2] not in _CHANNEL_NAMES:
        raise ValueError(f"write_png wants [H, W, 1..4] pixels, got shape {pixels.shape}")
    height, width, channels = pixels.shape
    spec = oiio.ImageSpec(width, height, channels, _TYPES[pixels.dtype])
    spec.channelnames = _CHANNEL_NAMES[channels]
    spec.alpha_channel = channels - 1 if channels in (2, 4) else -1
    if spec.alpha_channel >= 0:
        spec.attribute("oiio:UnassociatedAlpha", 1)
    spec.attribute("oiio:ColorSpace", "sRGB")
    # PNG text chunks hold only text: OIIO silently drops int/float attributes, so send strings.
    set_metadata(spec, {key: str(value) for key, value in (metadata or {}).items()})
    write_with_oiio(path, "png", spec, pixels)
