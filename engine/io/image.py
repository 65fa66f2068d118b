"""Still images through OIIO: ``read_image`` (float, any channels) and ``read_rgb8`` (what frames feed
to the face pipeline: HxWx3 uint8 display sRGB).

Why uint8 sRGB for frames: the official pipeline works on 8-bit RGB frames (``cv2`` decode), and the
preprocessing goldens were computed on those exact bytes. 8-bit files are passed through untouched
(OIIO's JPEG decode matches OpenCV's bit for bit on the sample photos); 16-bit files are rounded to
8 bits; float files (EXR plates) go from their declared colour space (scene-linear Rec.709 when they
declare none) to sRGB, then uint8.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from engine.errors import InputError
from engine.io.colour import float_to_srgb, quantise_uint8, uint16_to_uint8
from engine.io.files import require_regular_file
from engine.io.oiio_errors import error_text, libpng_lines_dropped

_FLOAT_TYPES = (oiio.FLOAT, oiio.HALF, oiio.DOUBLE)
MAX_IMAGE_PIXELS = 1 << 28
"""Largest display or data window read (268 M pixels, e.g. 16384x16384). The header is checked first:
a 200-byte EXR may claim a 1M x 1M display window, which reading would try to allocate (6 TB)."""
MAX_IMAGE_VALUES = 1 << 30
"""Largest width x height x channels read (4 GiB as float): many-channel EXRs are read whole."""


def _check_header(spec: oiio.ImageSpec, path) -> None:
    """InputError for a header whose windows or channel count are absurd, or that is no flat 2D picture
    (a deep EXR: reading its pixels as flat ones crashes OIIO's Python binding), before any pixel is
    allocated."""
    if spec.deep:
        raise InputError(f"image {path} is a deep EXR (a list of samples per pixel), not a flat picture",
                         "render a flattened plate (e.g. Nuke's DeepToImage, or `oiiotool in.exr --flatten -o "
                         "flat.exr`)")
    if spec.depth > 1:
        raise InputError(f"image {path} is a volume ({spec.depth} slices deep), not a flat picture",
                         "render a 2D plate")
    for what, w, h in (("display window", spec.full_width, spec.full_height), ("data window", spec.width, spec.height)):
        if w <= 0 or h <= 0 or w * h > MAX_IMAGE_PIXELS:
            raise InputError(f"image {path} declares a {w}x{h} {what}, beyond the {MAX_IMAGE_PIXELS:,} pixels "
                             "the engine reads (a damaged or hostile header)",
                             "re-export the image, or crop/scale it below 16384x16384")
    if spec.nchannels == 1 and spec.alpha_channel == 0:  # a matte or holdout pass: no picture to find a face in
        raise InputError(f"image {path} holds only an alpha channel ({spec.channelnames[0]!r}), no colour",
                         "give the plate with its colour (RGB or RGBA) channels, not a matte pass")
    if spec.width * spec.height * max(spec.nchannels, 1) * max(spec.depth, 1) > MAX_IMAGE_VALUES:
        raise InputError(f"image {path} holds {spec.nchannels} channels of {spec.width}x{spec.height}"
                         + (f"x{spec.depth}" if spec.depth > 1 else "") + ", too much to read as one frame",
                         "write the plate with its colour channels only (RGB or RGBA)")


_CLAIMED_SIZE = re.compile(r"claimed to be (\d+)x(\d+)")


def open_error(path, detail: str) -> InputError:
    """InputError for an image OIIO would not open, in one line: a header claiming more pixels than OIIO's
    memory limit gets the engine's own size message (OIIO's advice to raise its limit is not for artists)."""
    claimed = _CLAIMED_SIZE.search(detail)
    if claimed:
        w, h = int(claimed[1]), int(claimed[2])
        return InputError(f"image {path} declares a {w}x{h} image, beyond what the engine reads (a damaged or "
                          "hostile header)", "re-export the image, or crop/scale it below 16384x16384")
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    # libpng's text comes back up to three times ("Read error: ...", "PNG read error: IDAT: Read error: ...",
    # "PNG library error"): keep each reason once, the line that says most about it
    lines = [line for line in dict.fromkeys(lines) if line != "PNG library error"
             and not any(line != other and line in other for other in lines)] or lines
    return InputError(f"cannot read image {path}: {'; '.join(lines) or 'unknown reason'}",
                      "check the file is a complete EXR/PNG/JPG/TIFF image")


def _read_header(path) -> oiio.ImageSpec:
    """The checked header of ``path`` (a regular file), without reading pixels."""
    require_regular_file(path)
    if os.stat(path).st_size == 0:  # a frame whose render or copy was killed: OIIO would say "Not a PNG file"
        raise InputError(f"image {path} is empty (0 bytes)",
                         "render or copy it again: the render, copy or download that made it did not finish")
    with libpng_lines_dropped():
        inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise open_error(path, error_text())
    try:
        spec = inp.spec()
        _check_header(spec, path)
        return spec
    finally:
        inp.close()


def _open_buf(path: str | os.PathLike) -> oiio.ImageBuf:
    """Open and fully read an image; OIIO's error strings become InputError."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a folder, not an image", "give an image file or a sequence pattern")
    _read_header(p)  # sizes checked before ImageBuf allocates anything
    # Ask for alpha as stored: OIIO would otherwise premultiply PNG/TIFF colour by alpha on read.
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    with libpng_lines_dropped():
        buf = oiio.ImageBuf(str(p), 0, 0, config)
        read = not buf.has_error and buf.read(force=True)
    if not read:
        raise open_error(p, error_text(buf) or error_text())
    if buf.file_format_name == "jpeg" and jpeg_truncated(p):
        raise InputError(f"image {p} is truncated: its JPEG data stops before the end-of-image marker (the "
                         "lower part would be filled with grey)", "copy or export the file again")
    return buf


def jpeg_truncated(path: str | os.PathLike) -> bool:
    """Whether a JPEG's scan data never reaches its end-of-image marker (FF D9): a copy or download that
    stopped. libjpeg fills the missing rows with grey and OIIO reports no error, so it is checked here.
    The header segments are walked by their lengths to the image's first start-of-scan (FF DA; an EXIF
    thumbnail's own scan and end marker sit inside a segment); in scan data every FF byte is followed by
    00 or a restart marker, so an FF D9 after that is the real end."""
    import mmap

    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size < 4:
            return True
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = 2  # after SOI
            while pos + 4 <= len(data):
                if data[pos] != 0xFF:
                    return False  # not the layout expected: leave it to the decoder
                marker = data[pos + 1]
                if marker == 0xFF:  # fill byte
                    pos += 1
                elif marker == 0xDA:
                    return data.find(b"\xff\xd9", pos) < 0
                elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
                    pos += 2
                else:
                    pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
            return True  # the header itself is cut short


def _full_window(buf: oiio.ImageBuf) -> oiio.ImageBuf:
    """Expand a data window that differs from the display window to the display window (black fill)."""
    spec = buf.spec()
    full = buf.roi_full
    if (spec.x, spec.y, spec.width, spec.height) == (full.xbegin, full.ybegin, full.width, full.height):
        return buf
    out = oiio.ImageBufAlgo.crop(buf, full)
    out.set_origin(0, 0)
    return out


def read_image(path: str | os.PathLike, full_window: bool = False) -> np.ndarray:
    """Any image -> float32 [H, W, C] exactly as stored (no colour conversion, straight alpha left
    straight; 8/16-bit normalised to [0, 1]).

    ``full_window=True`` returns the display window (pixels outside the data window are 0); the default
    returns the data window, which is what was written.
    """
    buf = _open_buf(path)
    if full_window:
        buf = _full_window(buf)
    pixels = buf.get_pixels(oiio.FLOAT)
    if pixels is None or buf.has_error:
        raise InputError(f"cannot decode pixels of {path}: {error_text(buf)}", "check the file is not damaged")
    return np.asarray(pixels, dtype=np.float32).reshape(buf.spec().height, buf.spec().width, -1)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(W, H) of the display window, read from the header only."""
    return display_window(path)[2:]


def display_window(path: str | os.PathLike) -> tuple[int, int, int, int]:
    """(x, y, W, H) of the display window, read from the header only (x, y are 0 except for EXR plates
    with overscan or a moved origin; W, H are swapped for EXIF-rotated photos as ``read_rgb8`` turns them)."""
    spec = _read_header(path)
    width, height = int(spec.full_width), int(spec.full_height)
    if spec.format.basetype not in _FLOAT_TYPES and spec.getattribute("Orientation") in (5, 6, 7, 8):
        width, height = height, width  # read_rgb8 applies the 90-degree EXIF rotation
    return int(spec.full_x), int(spec.full_y), width, height


def channels_read(path: str | os.PathLike) -> tuple[str, ...]:
    """The names of the channels ``read_rgb8`` takes as the picture, from the header: the first three as red,
    green and blue, or the first one as grey (one or two channels). Said on the job when they are not R, G,
    B (``colour_names``): an EXR of X/Y/Z or P.x/P.y/P.z would otherwise be read as a picture without a word."""
    names = tuple(str(n) for n in _read_header(path).channelnames)
    return names[:3] if len(names) >= 3 else names[:1]


def alpha_channel(path: str | os.PathLike) -> str | None:
    """The name of the image's alpha channel (from the header), or None: ``read_rgb8`` reads colour only,
    so a plate's alpha is dropped and the job says so (``colour_notes.alpha_note``)."""
    spec = _read_header(path)
    index = int(spec.alpha_channel)
    names = tuple(str(n) for n in spec.channelnames)
    return names[index] if 0 <= index < len(names) and len(names) > 1 else None


OPAQUE_FROM = 1.0 - 1.0 / 2048
"""Alpha at or above this is opaque: half float's step just below 1, so a written 1.0 in any depth counts."""


def alpha_opaque(path: str | os.PathLike) -> bool:
    """Whether the image's alpha is opaque over its whole data window (True when it has none). Only the
    alpha channel is decoded: CG and comp EXRs carry an alpha that is 1 everywhere, which needs no warning."""
    spec = _read_header(path)
    index = int(spec.alpha_channel)
    if not 0 <= index < spec.nchannels:
        return True
    with libpng_lines_dropped():
        inp = oiio.ImageInput.open(str(path))
    if inp is None:
        error_text()  # the frame read reports it
        return True
    try:
        alpha = inp.read_image(0, 0, index, index + 1, oiio.FLOAT)
    finally:
        inp.close()
    if alpha is None:
        error_text()
        return True
    return bool(np.all(np.asarray(alpha) >= OPAQUE_FROM))  # NaN is not opaque


GREY_NAMES = frozenset({"Y", "L", "R", "G", "GREY", "GRAY", "LUMINANCE"})
"""Names a grey picture's one channel goes by (OpenImageIO names a grey PNG/JPEG/TIFF channel ``Y``)."""


def colour_names(channels: tuple[str, ...]) -> bool:
    """Whether ``channels`` (``channels_read``) are a picture's: R, G, B, or one grey channel, with or without
    a layer name before them (``beauty.R``)."""
    last = tuple(name.rsplit(".", 1)[-1].upper() for name in channels)
    return last == ("R", "G", "B") if len(last) == 3 else len(last) == 1 and last[0] in GREY_NAMES


def part_names(path: str | os.PathLike, limit: int = 16) -> list[str]:
    """The names of the parts (subimages) of a multi-part EXR or multi-page TIFF, first first; one name for
    an ordinary image. The engine reads only the first part, so a caller can say which one that was."""
    with libpng_lines_dropped():
        inp = oiio.ImageInput.open(str(path))
    if inp is None:
        error_text()  # the frame read reports it
        return []
    names = []
    try:
        while len(names) <= limit and inp.seek_subimage(len(names), 0):
            name = inp.spec().getattribute("name")
            names.append(name if isinstance(name, str) and name else f"#{len(names)}")
    finally:
        inp.close()
    return names


def apng_frame_count(path: str | os.PathLike, most_bytes: int = 1 << 20) -> int:
    """Frames of an animated PNG (its ``acTL`` chunk, which comes before the first ``IDAT``), 0 for a still
    PNG: OpenImageIO reads only the first frame and says nothing of the others."""
    import struct

    try:
        with open(path, "rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return 0
            while handle.tell() < most_bytes:
                head = handle.read(8)
                if len(head) < 8:
                    return 0
                length, kind = struct.unpack(">I4s", head)
                if kind == b"acTL":
                    data = handle.read(4)
                    return struct.unpack(">I", data)[0] if len(data) == 4 else 0
                if kind in (b"IDAT", b"IEND"):
                    return 0
                handle.seek(length + 4, os.SEEK_CUR)  # the chunk's data and CRC
    except OSError:
        return 0
    return 0


def empty_plate_reason(path: str | os.PathLike) -> str | None:
    """Why an image's display window holds no pixels at all (its data window lies wholly outside it, as a
    comp with a mis-set data window writes), or None: the plate the engine reads is then black."""
    try:
        spec = _read_header(path)
    except InputError:
        return None
    data = (spec.x, spec.y, spec.x + spec.width, spec.y + spec.height)
    full = (spec.full_x, spec.full_y, spec.full_x + spec.full_width, spec.full_y + spec.full_height)
    if data[0] < full[2] and full[0] < data[2] and data[1] < full[3] and full[1] < data[3]:
        return None
    return (f"the pixels of {Path(path).name} lie wholly outside its display window (data window "
            f"{data[0]},{data[1]}-{data[2]},{data[3]}, display window {full[0]},{full[1]}-{full[2]},{full[3]}), "
            "so the plate is empty")


def _to_three_channels(pixels: np.ndarray) -> np.ndarray:
    """[H, W, C] -> [H, W, 3]: grey is repeated, alpha and extra channels are dropped."""
    if pixels.shape[2] >= 3:
        return pixels[:, :, :3]
    return np.repeat(pixels[:, :, :1], 3, axis=2)


def read_rgb8(path: str | os.PathLike) -> np.ndarray:
    """Image file -> uint8 [H, W, 3] display sRGB, display window, EXIF orientation applied."""
    return read_rgb8_and_alpha(path)[0]


def _alpha_full(pixels: np.ndarray, index: int, top: float) -> bool:
    """Whether channel ``index`` of ``pixels`` [H, W, C] is opaque everywhere (True when there is none)."""
    if not 0 <= index < pixels.shape[2] or pixels.shape[2] < 2:
        return True
    return bool(np.all(pixels[:, :, index] >= top * OPAQUE_FROM))  # NaN is not opaque


def read_rgb8_and_alpha(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """``read_rgb8``, and whether the image's alpha (if it has one) is opaque everywhere, from the same
    decode: an image sequence checks every frame's alpha without reading a frame twice."""
    buf = _full_window(_open_buf(path))
    spec = buf.spec()
    basetype, alpha = spec.format.basetype, int(spec.alpha_channel)
    if basetype in _FLOAT_TYPES:
        declared = spec.getattribute("oiio:ColorSpace")  # e.g. lin_rec709_scene, lin_ap1_scene
        pixels = buf.get_pixels(oiio.FLOAT)
        opaque = _alpha_full(pixels, alpha, 1.0)
        linear = np.ascontiguousarray(_to_three_channels(pixels))
        # NaN/inf pixels (bad renders, broken comps) become black / clipped, without numpy warnings.
        linear = np.nan_to_num(linear, nan=0.0, posinf=np.finfo(np.float32).max, neginf=0.0)
        rgb = quantise_uint8(float_to_srgb(linear, declared if isinstance(declared, str) else None))
    else:
        # cv2.imread honours the EXIF orientation and the official code reads photos with it.
        if buf.orientation != 1:
            buf = oiio.ImageBufAlgo.reorient(buf)
        if basetype in (oiio.UINT16, oiio.INT16, oiio.UINT32, oiio.INT32):
            pixels = buf.get_pixels(oiio.UINT16)
            opaque = _alpha_full(pixels, alpha, 65535.0)
            rgb = uint16_to_uint8(_to_three_channels(pixels))
        else:
            pixels = buf.get_pixels(oiio.UINT8)
            opaque = _alpha_full(pixels, alpha, 255.0)
            rgb = _to_three_channels(pixels)
    return np.ascontiguousarray(rgb, dtype=np.uint8), opaque
