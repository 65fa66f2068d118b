"""Leftovers of the hostile-media probe of ``python -m engine render``: a pattern of video files, an EXR whose
channels are not R, G, B, and a frame too large to stylize in reasonable time and memory."""

from __future__ import annotations

import shutil

import pytest

from engine.errors import InputError
from engine.io import open_source


def test_a_pattern_of_video_files_says_so_and_what_to_do(media_dir, tmp_path):
    """``shot.####.mp4`` was opened as an image sequence and failed with OpenImageIO's "no format reader"."""
    for number in (1, 2):
        shutil.copy(media_dir / "529_2.mp4", tmp_path / f"shot.{number:04d}.mp4")
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "shot.####.mp4")
    message, fix = info.value.message, info.value.fix
    assert "shot.####.mp4" in message and "video files" in message and "format reader" not in message
    assert "shot.0001.mp4" in fix and "one" in fix
