"""Output writers: ``write_exr``, ``write_png`` and ``write_grey`` (one matte per file, for hosts
such as Blender's VSE that cannot read EXR layers)."""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio

from engine.io.exr import write_exr
from engine.io.oiio_write import MetadataValue, set_metadata, write_with_oiio
from engine.io.png import write_png

__all__ = ["write_exr", "write_grey", "write_png"]


def write_grey(
    path: str | os.PathLike,
    matte: np.ndarray,
    fmt: str = "png",
    bits: int = 8,
    metadata: dict[str, MetadataValue] | None = None,
) -> None:
    """Write a [H, W] float matte in [0, 1] as a one-channel file, atomically.

    ``fmt='png'``: 8- or 16-bit grey (values are coverage, so no colour transfer is applied).
    ``fmt='exr'``: float for ``bits=32``, half float otherwise (8 and 16 both give half, so one
    ``png_bits`` setting can be passed whatever the format), channel ``Y``.
    """
    values = np.clip(np.asarray(matte, dtype=np.float32), 0.0, 1.0)
    if values.ndim != 2:
        raise ValueError(f"write_grey wants a [H, W] matte, got shape {values.shape}")
    if fmt == "png":
        if bits not in (8, 16):
            raise ValueError(f"PNG mattes are 8 or 16 bit, not {bits}")
        scale, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
        write_png(path, np.rint(values * scale).astype(dtype), metadata)  # [H, W] -> one grey channel
    elif fmt == "exr":
        if bits not in (8, 16, 32):
            raise ValueError(f"EXR mattes are 16 (half) or 32 (float) bit, not {bits}")
        height, width = values.shape
        spec = oiio.ImageSpec(width, height, 1, oiio.FLOAT if bits == 32 else oiio.HALF)
        spec.channelnames = ("Y",)
        spec.attribute("compression", "zip")
        set_metadata(spec, metadata)
        write_with_oiio(path, "openexr", spec, values[:, :, None])
    else:
        raise ValueError(f"matte format must be 'png' or 'exr', not {fmt!r}")
