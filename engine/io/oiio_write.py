"""One place that writes an array through an OIIO ImageOutput, atomically.

OIIO reports failure through ``None``/``False`` return values and ``geterror()`` instead of raising;
this turns those into OutputError. Some of its writers (PNG) also fail *without* reporting it when the
disk fills, so every file is read back (header, then its last row, which needs every byte before it)
before it takes its name. The temp file ends in ``.tmp``, so the plugin is chosen by format name.
"""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio

from engine.errors import OutputError
from engine.io.atomic import atomic_reopenable
from engine.io.oiio_errors import error_text, libpng_lines_dropped

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


def check_written(path: str | os.PathLike, format_name: str, spec: oiio.ImageSpec | None = None,
                  name: str | None = None) -> None:
    """Raise OutputError unless ``path`` is a complete ``format_name`` image (matching ``spec`` if given).

    Reads the header, then the last row of pixels: PNG decodes as one stream and EXR's last chunk sits
    at the end of the file, so a truncated or empty file fails here.
    """
    with libpng_lines_dropped():  # a truncated PNG's "libpng error:" line: our error says it
        _check_written(path, format_name, spec, name or os.path.basename(str(path)))


def _check_written(path, format_name: str, spec: oiio.ImageSpec | None, label: str) -> None:
    inp = oiio.ImageInput.open(str(path))  # found by content: the temp name ends in .tmp
    if inp is None or inp.format_name() != format_name:
        detail = error_text() if inp is None else f"it reads as {inp.format_name()}"
        if inp is not None:
            inp.close()
        raise OutputError(f"{label} is not a readable {format_name} file ({detail or 'bad header'})",
                          "check free disk space; the frame was not written")
    try:
        got = inp.spec()
        if got.deep:  # a planted deep EXR is no frame of ours (and reading it as flat rows is unsafe)
            raise OutputError(f"{label} is a deep EXR, not a flat frame", "move it away; the frame was not written")
        if spec is not None and (got.width, got.height, got.nchannels, got.x, got.y) != \
                (spec.width, spec.height, spec.nchannels, spec.x, spec.y):
            raise OutputError(f"{label} reads back as {got.width}x{got.height}x{got.nchannels}, "
                              f"not {spec.width}x{spec.height}x{spec.nchannels}", "check free disk space")
        last = inp.read_scanline(got.y + got.height - 1, got.z, oiio.FLOAT)
        if last is None or inp.has_error:
            raise OutputError(f"{label} is truncated ({error_text(inp) or 'last row unreadable'})",
                              "check free disk space; the frame was not written")
    finally:
        inp.close()


def write_with_oiio(path: str | os.PathLike, format_name: str, spec: oiio.ImageSpec, pixels: np.ndarray) -> None:
    """Write ``pixels`` [H, W, C] described by ``spec`` to ``path`` with plugin ``format_name``; the file
    is read back before it is renamed into place."""
    def verify(temp) -> None:
        check_written(temp, format_name, spec, os.path.basename(str(path)))

    with atomic_reopenable(path, verify) as temp, libpng_lines_dropped():
        out = oiio.ImageOutput.create(format_name)
        if out is None:
            raise OutputError(f"OIIO has no {format_name} writer: {error_text()}",
                              "install an OpenImageIO build with that format")
        try:
            if not out.open(str(temp), spec):
                raise OutputError(f"cannot open {path} for writing: {error_text(out)}",
                                  "check the folder is writable and the disk is not full")
            if not out.write_image(np.ascontiguousarray(pixels)):
                raise OutputError(f"writing {path} failed: {error_text(out)}",
                                  "check free disk space")
        finally:
            closed = out.close()
        if not closed:
            raise OutputError(f"finishing {path} failed: {error_text(out)}", "check free disk space")
