"""Each output frame of an image sequence records the fingerprint of the plate file it was rendered from
(``vtoonify/plate_file``), so ``--resume`` never counts a frame as done whose plate frame was re-rendered in
place upstream since: output frame N must show input frame N.

Why per frame and in the frame (not a list in the sidecar): a farm chunk reads only its own frames, so it
fingerprints only the frames it would skip (a few blocks of each, not the whole sequence), and a frame
re-rendered later records its new plate file with it.
"""

from __future__ import annotations

from engine.errors import ConfigError, setting

PLATE_STAMP = "vtoonify/plate_file"
"""Header attribute: ``file_fingerprint`` of the plate file an output frame was rendered from."""

FRAME_BLOCK = 1 << 16
"""Bytes hashed at each of a plate frame's start, middle and end (192 KiB of a frame at most)."""


def plate_print(source, frame: int) -> str | None:
    """The fingerprint of ``frame``'s plate file, for a sequence; None for a video or still image (their one
    file is fingerprinted in the sidecar: ``shot.source_fingerprint``)."""
    from engine.io.fingerprint import file_fingerprint

    path = source.frame_file(frame) if getattr(source, "kind", "") == "sequence" else None
    return file_fingerprint(path, FRAME_BLOCK) if path is not None else None


def check_unchanged_plates(source, naming, done: list[int]) -> None:
    """ConfigError naming the frames in ``done`` (the frames ``--resume`` would skip) whose plate file is not
    the one their output frame records. Frames without a record (an earlier engine's) are trusted."""
    from engine.io.base import describe_numbers
    from engine.pipeline.outputs import header_text

    if getattr(source, "kind", "") != "sequence":
        return
    changed = []
    for frame in done:
        recorded = header_text(naming.beauty(frame), PLATE_STAMP)
        if recorded is not None and recorded != plate_print(source, frame):
            changed.append(frame)
    if not changed:
        return
    one = len(changed) == 1
    word = "frame" if one else "frames"
    raise ConfigError(
        f"{word} {describe_numbers(changed)} of {source.path_pattern} changed since {naming.out_dir} got "
        f"{'its frame' if one else 'their frames'} (re-rendered upstream?): resuming would keep "
        f"{'a frame' if one else 'frames'} showing the earlier plate",
        f"re-render {'it' if one else 'them'} with {setting('overwrite', True)} "
        f"{setting('frames', _frame_range(changed))}, which keeps the other frames, then resume; or render into "
        "a new output folder")


def _frame_range(frames: list[int]) -> str:
    """``frames`` as a ``--frames`` value (``2-3,7``): every frame, runs joined."""
    runs: list[list[int]] = []
    for n in sorted(frames):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
