"""The one list of styles, render defaults and image-sequence names the engine, the panel and the
Blender add-on share.

STDLIB ONLY and import-free (no engine, torch or numpy import), so the add-on can copy this file into
its package and the panel can import it without the render stack. RenderConfig
(engine/pipeline/config.py) takes its choices and defaults from here; engine/io/sequence.py its name
grammar.

Sequence name grammar: a pattern names the frame number with a run of ``#`` or ``@`` (one per digit;
the LAST run is the frame number) or a printf field ``%04d`` (``%d`` = no padding). A member file is
``<prefix><digits><suffix>`` where the stem ends in digits after at least one other character, so
``shot.1001.png`` belongs to ``shot.####.png`` while ``077436.jpg`` (a photo named by number) belongs
to no sequence. A member is wider than the padding only without a leading zero (frame 10000 of a
``####`` sequence).
"""

from __future__ import annotations

import os
import re

# --- choices ------------------------------------------------------------------------------------

STYLE_FAMILIES = ("cartoon", "caricature", "arcane", "comic", "pixar", "illustration")
"""The official VToonify model families (folder ``vtoonify_<d|t>_<family>``)."""
MODEL_BACKBONES = ("dualstylegan", "toonify")
"""VToonify-D (exemplar, degree, colour transfer) and VToonify-T (a fine-tuned StyleGAN2)."""
FAMILY_BACKBONES = {
    "cartoon": MODEL_BACKBONES, "caricature": MODEL_BACKBONES, "arcane": MODEL_BACKBONES,
    "comic": MODEL_BACKBONES, "pixar": MODEL_BACKBONES, "illustration": ("dualstylegan",),
}
"""Which backbones the authors published for each family."""

BACKENDS = ("auto", "vtoonify", "classic")
BACKBONES = ("auto", *MODEL_BACKBONES)
FORMATS = ("exr", "png")
OUTPUT_SPACES = ("plate", "crop")
FACE_MODES = ("one", "all")
"""``one``: the official last face; ``all``: every face of the shot (plate output only)."""
ORIENTATIONS = ("display", "stored")
"""Video frames turned by the container's display rotation (as players and Blender 5.0 show them), or as
stored (as Blender 4.2's sequencer shows them)."""
DEVICES = ("auto", "cpu", "cuda")
"""Device names; ``cuda:N`` (a GPU by index) is accepted too (``is_device_name``)."""
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""Network compute precision; auto = bf16 where the device has fast bf16, else fp32."""
COMPILE_MODES = ("auto", "on", "off")
"""torch.compile of the network (default off: no gain measured on an idle CPU); auto = CPU jobs long enough."""
EXR_COMPRESSIONS = ("zip", "dwaa", "piz", "none")
PNG_BITS = (8, 16)
MATTE_CLASSES = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r", "nose",
                 "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")
"""Face-parsing classes a job may ask for (BiSeNet's, less background)."""
CLASSIC_MATTE_CLASSES = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip", "l_lip")
"""The landmark mattes the classic backend draws (a subset of MATTE_CLASSES)."""

STYLE_ONLY_SETTINGS = ("style", "backbone", "style_id", "degree", "color_transfer", "exstyle_image")
"""Settings only the VToonify backend uses; the classic backend ignores them."""

DEFAULTS = {
    "backend": "auto",
    "backbone": "auto",
    "style": "cartoon",
    "style_id": 26,
    "degree": 0.5,
    "color_transfer": False,
    "device": "auto",
    "format": "exr",
    "exr_compression": "zip",
    "png_bits": 8,
    "start_number": 1,
    "output_space": "plate",
    "scale": 1.0,
    "mattes": False,
    "matte_files": False,
    "matte_layers": True,
    "batch": 0,
    "precision": "auto",
    "compile": "off",
}
"""Render defaults (RenderConfig's field defaults are these values)."""

SCALE_RANGE = (0.05, 8.0)
DEGREE_RANGE = (0.0, 1.0)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf")
IMAGE_SUFFIXES = (".exr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dpx", ".bmp", ".webp", ".hdr", ".tga",
                  ".sgi", ".rgb", ".cin", ".jp2", ".jxl", ".heic", ".avif")
"""Still-image file types the engine reads (OpenImageIO); only these can be sequence members."""


# --- output file stems ---------------------------------------------------------------------------

def _stem_char(c: str) -> bool:
    """ASCII letters/digits, '.', '_', '-', and any script's letters, digits and combining marks
    (``Ünïcödé``, ``日本``, Devanagari vowel signs). Never separators, spaces, symbols or emoji, controls,
    bidi/zero-width format characters (they make a name read differently from what it is) or surrogate
    escapes of undecodable bytes (they cannot be written back as UTF-8)."""
    if c.isascii():
        return c.isalnum() or c in "._-"
    import unicodedata

    return unicodedata.category(c)[0] in "LNM"


def file_stem(text: str) -> str:
    """A name made safe as an output file stem, keeping Unicode letters (``Ünïcödé 日本 😀 shot`` ->
    ``Ünïcödé_日本_shot``): NFC (the form Linux and Windows tools type; macOS's decomposed names compose
    the same), every run of other characters -> ``_``, no '.', '_', '-' or mark first (a dot file, an
    option ``-rf``); ``render`` when nothing is left. A Windows device name (``con.mp4`` -> ``con``)
    gets a ``_`` (``con_``), so a Windows host can open the frames over a shared folder."""
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    stem = "".join(c if _stem_char(c) else "\0" for c in text)
    stem = re.sub("\0+", "_", stem).strip("._-")  # one '_' per run of unsafe characters
    while stem and unicodedata.category(stem[0]).startswith("M"):
        stem = stem[1:].lstrip("._-")
    if windows_device_name(stem):
        head, dot, tail = stem.partition(".")
        stem = f"{head}_{dot}{tail}"
    return stem or "render"


def is_file_stem(name: str) -> bool:
    """``name`` is usable as given as an output stem: no folder, dot file, option or unsafe character,
    and no Windows device name (``windows_device_name``)."""
    import unicodedata

    return (isinstance(name, str) and bool(name) and not name.startswith((".", "-"))
            and not unicodedata.category(name[0]).startswith("M") and all(_stem_char(c) for c in name)
            and not windows_device_name(name))


WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")])
"""Names Windows gives to devices: a file or folder so named (with any extension: ``nul.0001.exr``) cannot
be opened by a Windows host, e.g. over an SMB share of the output folder."""


def windows_device_name(name: str) -> bool:
    """Whether ``name`` is a Windows device name before its first dot (``CON``, ``com1.0001.exr``,
    ``Aux .txt``): such a file or folder cannot be opened on Windows."""
    return name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_DEVICE_NAMES


WINDOWS_FORBIDDEN_CHARS = frozenset(':<>|?*"\\' + "".join(map(chr, range(32))))
"""Characters no Windows file or folder name can hold (``\\`` is its separator; 0-31 are controls); a
POSIX name holding one (``take:2``) shows as a mangled name or not at all over SMB."""


def windows_forbidden_chars(name: str) -> str:
    """The characters of ``name`` that Windows cannot hold in a name, in order, each once ('' if none)."""
    return "".join(dict.fromkeys(c for c in name if c in WINDOWS_FORBIDDEN_CHARS))


def windows_reserved(name: str) -> bool:
    """Whether Windows refuses ``name`` as a file or folder name: a device name (``windows_device_name``),
    a name ending in a dot or a space (Windows strips them, so ``shot.`` and ``shot`` are one name
    there, and the files in ``shot.`` are out of reach) or one holding ``:<>|?*"\\`` or a control
    character (``windows_forbidden_chars``)."""
    if not name or name in (".", ".."):
        return False
    return name[-1] in ". " or windows_device_name(name) or bool(windows_forbidden_chars(name))


# --- sequence names -----------------------------------------------------------------------------

_PRINTF = re.compile(r"%(0?)(\d*)d", re.ASCII)
_HASHES = re.compile(r"#+|@+")
_TRAILING_DIGITS = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)$", re.ASCII)


def is_device_name(name: str) -> bool:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (one GPU by index): the one rule for every --device."""
    head, _, index = str(name).partition(":")
    return name in DEVICES or (head == "cuda" and index.isdigit())


def device_arg(text: str) -> str:
    """argparse ``type=`` for --device: the name as given, or a usage error naming the choices."""
    if is_device_name(text):
        return text
    import argparse

    raise argparse.ArgumentTypeError(f"unknown device {text!r} (use auto, cpu, cuda or cuda:N)")


def split_pattern(name: str) -> tuple[str, int, str] | None:
    """``shot.####.exr`` / ``shot.%04d.exr`` / ``shot.@@@@.exr`` -> (prefix, padding, suffix); None
    when the name has no frame placeholder."""
    match = _PRINTF.search(name)
    if match:
        return name[:match.start()], int(match.group(2) or 1), name[match.end():]
    runs = list(_HASHES.finditer(name))
    if not runs:
        return None
    last = runs[-1]
    return name[:last.start()], len(last.group(0)), name[last.end():]


def is_pattern(path: str) -> bool:
    """Whether the file name holds a frame placeholder (``####``, ``@@@@`` or ``%04d``)."""
    return split_pattern(os.path.basename(path)) is not None


def split_member(name: str) -> tuple[str, str, str] | None:
    """``shot.1001.png`` -> (``shot.``, ``1001``, ``.png``): a name that may be a sequence member.

    None for names whose stem does not end in digits, names made only of digits (``077436.jpg``)
    and files that are not still images (``908.mp4`` and ``sh010_plate_v001.mov`` are videos)."""
    stem, ext = os.path.splitext(name)
    if ext.lower() not in IMAGE_SUFFIXES:
        return None
    match = _TRAILING_DIGITS.match(stem)
    if not match or not match.group("prefix"):
        return None
    return match.group("prefix"), match.group("digits"), ext


def member_number(name: str, prefix: str, padding: int, suffix: str) -> int | None:
    """Frame number of ``name`` in the sequence (prefix, padding, suffix), or None if not a member."""
    if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) < len(prefix) + len(suffix):
        return None
    digits = name[len(prefix):len(name) - len(suffix)]
    sign = -1 if digits.startswith("-") else 1
    digits = digits[1:] if sign < 0 else digits
    if not digits.isdigit() or not digits.isascii():
        return None
    if len(digits) == padding or (len(digits) > padding and digits[0] != "0"):
        return sign * int(digits)
    return None


def frame_name(prefix: str, number: int, padding: int, suffix: str) -> str:
    """Frame ``number`` with ``padding`` digits; a negative frame puts its sign before them
    (``-0005`` for ``####``, as Blender expands ``#``), so every name has the digits the pattern shows."""
    number = int(number)
    return f"{prefix}{'-' if number < 0 else ''}{abs(number):0{padding}d}{suffix}"


def frame_path(pattern: str, number: int) -> str:
    """``/a/shot.####.png`` + 7 -> ``/a/shot.0007.png`` (also ``%04d`` and ``@@@@``)."""
    folder, name = os.path.split(pattern)
    parts = split_pattern(name)
    if parts is None:
        raise ValueError(f"sequence pattern {pattern!r} has no #### or %0Nd frame field")
    prefix, padding, suffix = parts
    return os.path.join(folder, frame_name(prefix, number, padding, suffix))


def pattern_name(prefix: str, padding: int, suffix: str) -> str:
    """The file name pattern written with ``#`` per digit (``shot.####.exr``)."""
    return f"{prefix}{'#' * padding}{suffix}"


def hash_pattern(folder: str, prefix: str, padding: int, suffix: str) -> str:
    """The pattern with its folder (``/a/shot.####.exr``)."""
    return os.path.join(folder, pattern_name(prefix, padding, suffix))


def pattern_of_member(path: str) -> tuple[str, int] | None:
    """A picked frame ``/a/shot.1001.png`` -> (``/a/shot.####.png``, 1001); None when the file cannot
    be a sequence member (see ``split_member``). Nothing on disk is looked at."""
    folder, name = os.path.split(path)
    parts = split_member(name)
    if parts is None:
        return None
    prefix, digits, suffix = parts
    return hash_pattern(folder, prefix, len(digits), suffix), int(digits)


def sequence_members(pattern: str) -> dict[int, str]:
    """Frame number -> path of every file on disk that belongs to ``pattern`` (sorted by number)."""
    folder, name = os.path.split(pattern)
    parts = split_pattern(name)
    if parts is None:
        return {}
    prefix, padding, suffix = parts
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return {}
    found: dict[int, str] = {}
    for entry in names:
        number = member_number(entry, prefix, padding, suffix)
        if number is not None and number not in found:
            found[number] = os.path.join(folder, entry)
    return dict(sorted(found.items()))


def sequence_for_frames(paths: list[str]) -> str | None:
    """Several picked files that are frames of ONE sequence -> its pattern; None otherwise."""
    patterns = {pattern_of_member(p)[0] if pattern_of_member(p) else None for p in paths}
    if len(paths) < 2 or len(patterns) != 1 or None in patterns:
        return None
    return patterns.pop()
