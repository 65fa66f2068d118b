"""``open_source``: pick the right FrameSource for a path (video, image sequence or single image)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.io.base import FrameSource, check_frame_pixels
from engine.io.files import require_regular_file, require_utf8_path
from engine.io.image import (
    alpha_channel,
    alpha_opaque,
    apng_frame_count,
    channels_read,
    display_window,
    part_names,
    read_rgb8,
)
from engine.io.sequence import SequenceSource, parse_pattern, pattern_from_member, scan
from engine.io.video import VideoSource
from engine.service import catalog

IMAGE_EXTENSIONS = frozenset(catalog.IMAGE_SUFFIXES)


class ImageSource(FrameSource):
    """One still image as a one-frame source numbered ``start_number``."""

    kind = "image"

    def __init__(self, path: str | os.PathLike, start_number: int = 1) -> None:
        self._path = Path(path)
        self.path_pattern = str(self._path)
        self.start_number = int(start_number)
        self.fps = None
        x, y, w, h = display_window(self._path)
        check_frame_pixels(w, h, self.path_pattern, self.kind)
        self.size = (w, h)
        self.display_origin = (x, y)
        self.parts = tuple(part_names(self._path))
        self.channels_read = channels_read(self._path)
        """The channels read as the picture (``engine.io.image.channels_read``)."""
        self.plate_alpha = alpha_channel(self._path)
        """The alpha channel's name (``A``) when the image has one: only colour is read, the job says so
        unless it is opaque (``plate_alpha_opaque``)."""
        self.animated_frames = apng_frame_count(self._path) if self._path.suffix.lower() == ".png" else 0
        """Frames of an animated PNG, of which only the first is read (0: a still image)."""
        self._rgb: np.ndarray | None = None

    @functools.cached_property
    def plate_alpha_opaque(self) -> bool:
        """Whether the alpha is 1 everywhere: read when the job asks, so opening the plate decodes nothing."""
        return self.plate_alpha is None or alpha_opaque(self._path)

    @property
    def frame_numbers(self) -> list[int]:
        return [self.start_number]

    def read(self, frame_number: int) -> np.ndarray:
        if int(frame_number) != self.start_number:
            raise self._out_of_range(frame_number)
        if self._rgb is None:
            self._rgb = read_rgb8(self._path)
            self.size = (self._rgb.shape[1], self._rgb.shape[0])
        return self._rgb.copy()


def open_source(path: str | os.PathLike, start_number: int = 1, orientation: str = "display") -> FrameSource:
    """Open a video, an image sequence (pattern or one member file) or a single image. ``orientation``
    (videos): ``display`` turns frames by the container's display rotation, ``stored`` keeps them as coded.

    Raises InputError with a fix for missing, unreadable, truncated or non-media files.
    """
    text = os.path.expanduser(str(path))
    require_utf8_path(text)
    pattern = parse_pattern(text)
    file = Path(text)
    try:
        exists = file.exists()
    except OSError as exc:  # a name or path too long for the file system, a permission problem
        raise InputError(f"cannot read {text[:200]}: {exc.strerror or exc}", "check the path") from None
    if not exists and text.strip() != text:
        _refuse_padded_path(text)
    if pattern is not None and not exists:
        if pattern.suffix.lower() in catalog.VIDEO_SUFFIXES:
            _refuse_video_pattern(pattern)
        try:
            return SequenceSource(pattern)
        except InputError as exc:
            if not exc.message.startswith("no files match"):
                raise
            near = _folder_fix(file.parent)  # the sequences that ARE there (padding, case or extension off)
            if not near.startswith("give the image sequence in it"):
                raise
            raise InputError(exc.message, near.replace("give the image sequence in it as a pattern",
                                                       "the folder holds")) from None
    if not exists:
        if file.is_symlink():
            raise InputError(f"{file} is a link that leads nowhere (its target is missing, or links form a loop)",
                             "point the link at the media file, or give the file itself")
        if any(mark in file.name for mark in ("*", "?", "$F")):  # a shell wildcard or Houdini's $F4
            raise InputError(f"no such file: {text} (a frame pattern writes the frame number as #### or %04d)",
                             _folder_fix(file.parent).replace("in it", "of its folder"))
        raise InputError(f"no such file: {file}", "check the path")
    if file.is_dir():
        raise InputError(f"{file} is a folder", _folder_fix(file))
    require_regular_file(file)  # a FIFO, socket or device would block the read forever
    if file.suffix.lower() in IMAGE_EXTENSIONS:
        member = pattern_from_member(file)
        if member is not None:
            siblings = scan(member)
            if len(siblings) > 1 and file in siblings.values():
                return SequenceSource(member, siblings)
        return ImageSource(file, start_number)
    return VideoSource(file, start_number, apply_rotation=orientation == "display")


def _refuse_video_pattern(pattern) -> None:
    """InputError for ``shot.####.mp4``: a frame pattern reads one picture per file, so a pattern of video
    files was opened as images and OpenImageIO answered only "no format reader"."""
    found = scan(pattern)
    if not found:
        return  # the generic "no files match" names the sequences the folder does hold
    first = found[min(found)]
    raise InputError(f"{pattern.hash_pattern} is a pattern of video files ({len(found)} match): a frame pattern "
                     "names an image sequence, one picture per file",
                     f"render one video per job (e.g. {first}), or join the clips into one video first "
                     "(ffmpeg's concat demuxer), or give the frames as an image sequence (shot.####.exr)")


def _refuse_padded_path(text: str) -> None:
    """InputError when ``text`` names nothing but would without its leading/trailing white space (a path
    pasted from a terminal or a spreadsheet): the invisible end is then the whole problem."""
    stripped = text.strip()
    pattern = parse_pattern(stripped) if stripped else None
    if not stripped or not (os.path.exists(stripped) or (pattern is not None and scan(pattern))):
        return
    where = "ends" if text[-1].isspace() else "starts"
    what = "a newline" if "\n" in text else "white space"
    raise InputError(f"no such file: {text!r} (the path {where} with {what})", f"remove it: {stripped}")


def _folder_fix(folder: Path, limit: int = 5000) -> str:
    """The fix for a folder given as the source: the sequences in it by pattern (the first few hundred
    names looked at), else the generic advice."""
    found: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= limit:
                    break
                name = Path(entry.name)
                member = pattern_from_member(folder / name) if name.suffix.lower() in IMAGE_EXTENSIONS else None
                if member is not None and member.hash_pattern not in found:
                    found.append(member.hash_pattern)
    except OSError:
        found = []
    if found:
        shown = " or ".join(sorted(found)[:3])
        return f"give the image sequence in it as a pattern: {shown}"
    return "give a video, an image, or a sequence pattern such as shot.####.exr"
