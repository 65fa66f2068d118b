"""One place that writes an array through an OIIO ImageOutput, atomically.

OIIO reports failure through ``None``/``False`` return values and ``geterror()`` instead of raising;
this turns those into OutputError. The temp file ends in ``.tmp``, so the plugin is chosen by
format name, not by extension.
"""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio

from engine.errors import OutputError
from engine.io.atomic import atomic_path

MetadataValue = str | int | float | tuple
"""A plain value, or (oiio.TypeDesc, values) for typed attributes such as ``smpte:TimeCode``."""


def set_metadata(spec: oiio.ImageSpec, metadata: dict[str, MetadataValue] | None) -> None:
    """Copy ``metadata`` into header attributes, keeping int/float types (bools become ints)."""
    for key, value in (metadata or {}).items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], oiio.TypeDesc):
            spec.attribute(str(key), value[0], value[1])
        elif isinstance(value, (bool, int, np.integer)):
            spec.attribute(str(key), int(value))
        elif isinstance(value, (float, np.floating)):
            spec.attribute(str(key), float(value))
        else:
            spec.attribute(str(key), str(value))


def write_with_oiio(path: str | os.PathLike, format_name: str, spec: oiio.ImageSpec, pixels: np.ndarray) -> None:
    """Write ``pixels`` [H, W, C] described by ``spec`` to ``path`` with plugin ``format_name``."""
    with atomic_path(path) as temp:
        out = oiio.ImageOutput.create(format_name)
        if out is None:
            raise OutputError(f"OIIO has no {format_name} writer: {oiio.geterror().strip()}",
                              "install an OpenImageIO build with that format")
        try:
            if not out.open(str(temp), spec):
                raise OutputError(f"cannot open {path} for writing: {out.geterror().strip()}",
                                  "check the folder is writable and the disk is not full")
            if not out.write_image(np.ascontiguousarray(pixels)):
                raise OutputError(f"writing {path} failed: {out.geterror().strip()}",
                                  "check free disk space")
        finally:
            closed = out.close()
        if not closed:
            raise OutputError(f"finishing {path} failed: {out.geterror().strip()}", "check free disk space")
