"""What the artist picked or dropped, as sources the engine accepts (plain Python, no Qt).

A picked file is that file: ``908.mp4`` and ``sh010_plate_v001.mov`` are videos and never become
patterns, a photo (``077436.jpg``) is a single image. A sequence is offered only when the artist
picks a frame of one and confirms, or picks several frames of it. The name grammar is the engine's
(``engine/service/catalog.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.service import catalog

VIDEO_SUFFIXES = catalog.VIDEO_SUFFIXES
IMAGE_SUFFIXES = catalog.IMAGE_SUFFIXES
MEDIA_SUFFIXES = VIDEO_SUFFIXES + IMAGE_SUFFIXES


def is_video(source: str) -> bool:
    return Path(source).suffix.lower() in VIDEO_SUFFIXES


def is_media(path: str) -> bool:
    return Path(path).suffix.lower() in MEDIA_SUFFIXES


def is_sequence_pattern(source: str) -> bool:
    return catalog.is_pattern(source)


def first_frame_file(source: str) -> Path | None:
    """The file holding the source's first frame: the video or image itself, or the lowest-numbered
    member of a sequence pattern; None when nothing matching exists."""
    if not is_sequence_pattern(source):
        path = Path(source)
        return path if path.is_file() else None
    members = catalog.sequence_members(source)
    return Path(next(iter(members.values()))) if members else None


@dataclass(frozen=True)
class SequenceOffer:
    """A picked still is one frame of a sequence on disk: ask before using the whole sequence."""

    picked: str
    pattern: str
    frames: int


def sequence_offer(picked_file: str) -> SequenceOffer | None:
    """The sequence a picked still belongs to, when at least one sibling frame exists; else None
    (videos, photos named by number and lone stills are used as they are)."""
    member = catalog.pattern_of_member(picked_file)
    if member is None:
        return None
    members = catalog.sequence_members(member[0])
    if len(members) < 2 or os.path.normpath(picked_file) not in map(os.path.normpath, members.values()):
        return None
    return SequenceOffer(picked_file, member[0], len(members))


def source_for_picks(paths: list[str]) -> str | None:
    """Several frames of ONE sequence -> its pattern; one file -> that file; else None (the caller
    then makes one shot per file)."""
    if len(paths) == 1:
        return paths[0]
    return catalog.sequence_for_frames(paths)


def shots_from_paths(paths: list[str]) -> list[str]:
    """Dropped or multi-picked files and folders -> one source per shot, in the given order.

    Files are taken as they are, except that several frames of the same sequence become one
    pattern. A folder contributes its videos, its sequences (one pattern each, 2+ frames) and its
    other stills, sorted by name; sub-folders are not entered (a plate folder, not a disk)."""
    shots: list[str] = []
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            shots.extend(_shots_in_folder(path))
        elif is_media(path) or is_sequence_pattern(path):
            files.append(path)
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    for path in files:
        member = catalog.pattern_of_member(path)
        key = member[0] if member else path
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(path)
    for key in order:
        group = groups[key]
        shots.append(key if len(group) > 1 else group[0])
    return _unique(shots)


def _shots_in_folder(folder: str) -> list[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    shots: list[str] = []
    seen_patterns: set[str] = set()
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or not is_media(path):
            continue
        offer = sequence_offer(path)
        if offer is not None:
            if offer.pattern not in seen_patterns:
                seen_patterns.add(offer.pattern)
                shots.append(offer.pattern)
            continue
        shots.append(path)
    return shots


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in items if not (i in seen or seen.add(i))]


def local_path_of_drop(text_or_url: str) -> str:
    """A dropped ``file:///a/b%20c.mp4`` URL or plain text -> the local path it names."""
    from urllib.parse import unquote, urlparse

    text = text_or_url.strip().splitlines()[0].strip() if text_or_url.strip() else ""
    if text.startswith("file://"):
        return unquote(urlparse(text).path)
    return text
