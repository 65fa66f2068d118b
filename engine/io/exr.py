"""OpenEXR output: half-float scene-linear RGBA plus ``matte.<class>`` channels in the same file.

Why one file: compositors (Nuke, Blender's compositor) read the mattes as a layer of the beauty
EXR, so a frame is complete or absent as a unit. ``full_size`` + ``origin`` write the stylized crop
as a data window inside the plate's display window, so it lines up over the plate with no transform.
"""

from __future__ import annotations

import os
import re

import numpy as np
import OpenImageIO as oiio

from engine.errors import OutputError
from engine.io.oiio_write import MetadataValue, set_metadata, write_with_oiio

COMPRESSIONS = ("zip", "dwaa", "piz", "none")
_MATTE_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def _stack_channels(rgba: np.ndarray, mattes: dict[str, np.ndarray] | None,
                    float_channels: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
    """[H, W, 4] + {name: [H, W]} (+ {channel: [H, W]}) -> [H, W, 4 + K] float32 and the channel names."""
    image = np.asarray(rgba, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"write_exr wants [H, W, 4] (or [H, W, 3]) float data, got shape {image.shape}")
    if image.shape[2] == 3:
        image = np.concatenate([image, np.ones_like(image[:, :, :1])], axis=2)
    planes = [image]
    names = ["R", "G", "B", "A"]
    for name, matte in (mattes or {}).items():
        if not _MATTE_NAME.match(name):
            raise ValueError(f"matte name {name!r} must be letters, digits, '_' or '-'")
        plane = np.asarray(matte, dtype=np.float32)
        if plane.shape != image.shape[:2]:
            raise ValueError(f"matte {name!r} is {plane.shape}, the image is {image.shape[:2]}")
        planes.append(plane[:, :, None])
        names.append(f"matte.{name}")
    for name, plane in (float_channels or {}).items():
        if np.shape(plane) != image.shape[:2]:
            raise ValueError(f"channel {name!r} is {np.shape(plane)}, the image is {image.shape[:2]}")
        planes.append(np.asarray(plane, dtype=np.float32)[:, :, None])
        names.append(name)
    return np.concatenate(planes, axis=2), names


def write_exr(
    path: str | os.PathLike,
    rgba: np.ndarray,
    mattes: dict[str, np.ndarray] | None = None,
    metadata: dict[str, MetadataValue] | None = None,
    compression: str = "zip",
    full_size: tuple[int, int] | None = None,
    origin: tuple[int, int] = (0, 0),
    full_origin: tuple[int, int] = (0, 0),
    float_channels: dict[str, np.ndarray] | None = None,
) -> None:
    """Write scene-linear ``rgba`` [H, W, 4] float32 as half-float EXR, atomically.

    ``mattes``: {class: [H, W] float32} stored as channels ``matte.<class>``.
    ``metadata``: header attributes (e.g. ``vtoonify/frame``), types kept.
    ``full_size`` (W, H): display window, starting at ``full_origin`` (x, y) (overscan plates, negative
    origins); the data window is the image placed at ``origin`` (x, y), in the same coordinates.
    ``float_channels``: {full channel name: [H, W]} kept as 32-bit float (Cryptomatte ids need every bit).
    """
    if compression not in COMPRESSIONS:
        raise OutputError(f"unknown EXR compression {compression!r}", f"use one of {', '.join(COMPRESSIONS)}")
    pixels, names = _stack_channels(rgba, mattes, float_channels)
    height, width = pixels.shape[:2]
    spec = oiio.ImageSpec(width, height, len(names), oiio.HALF)
    spec.channelnames = tuple(names)
    if float_channels:
        spec.channelformats = (oiio.HALF,) * (len(names) - len(float_channels)) + (oiio.FLOAT,) * len(float_channels)
    spec.alpha_channel = 3
    spec.x, spec.y = int(origin[0]), int(origin[1])
    full_w, full_h = (int(full_size[0]), int(full_size[1])) if full_size is not None else (width, height)
    spec.full_x, spec.full_y = int(full_origin[0]), int(full_origin[1])
    spec.full_width, spec.full_height = full_w, full_h
    spec.attribute("compression", compression)
    spec.attribute("oiio:ColorSpace", "lin_rec709")
    set_metadata(spec, metadata)
    write_with_oiio(path, "openexr", spec, pixels)
