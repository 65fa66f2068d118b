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


@dataclass(frozen=True)
class PathCheck:
    """Dropped or picked paths split into those that can be shots and one line per refused path
    (what is wrong with it, and what to do)."""

    usable: list[str]
    refused: list[str]


def check_paths(paths: list[str]) -> PathCheck:
    """Which dropped paths can become shots: a folder holding media, a readable video or image, a
    sequence pattern with frames on disk. Everything else gets a reason, so a drop is never
    silently half taken."""
    usable: list[str] = []
    refused: list[str] = []
    for path in paths:
        name = path
        if is_sequence_pattern(path) and not os.path.exists(path):
            if catalog.sequence_members(path):
                usable.append(path)
            else:
                refused.append(f"{name}: no frames of this sequence on disk; check the folder and the #### "
                               "padding")
        elif not os.path.lexists(path):
            refused.append(f"{name} does not exist (moved or deleted?): drop it again from where it is now")
        elif os.path.isdir(path):
            if not os.access(path, os.R_OK | os.X_OK):
                refused.append(f"{name}: no permission to read this folder; fix its permissions")
            elif not _shots_in_folder(path):
                refused.append(f"{name}: no videos or images in this folder (sub-folders are not searched); "
                               "drop the folder that holds the frames")
            else:
                usable.append(path)
        elif not os.path.isfile(path):
            refused.append(f"{name} is not a file (a broken link or a device?): drop the file it stands for")
        elif not is_media(path):
            refused.append(f"{name} is not a video or image the engine reads; use one of "
                           + " ".join(MEDIA_SUFFIXES))
        elif not os.access(path, os.R_OK):
            refused.append(f"{name}: no permission to read this file; fix its permissions")
        else:
            usable.append(path)
    return PathCheck(usable, refused)


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
