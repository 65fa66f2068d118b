"""Shot changes inside a clip: found during the analysis, warned about (event + sidecar), never refused.

Cuts are made of real media: two sample clips joined into one video, and two real portraits that swap
sides (the ``--faces all`` case where ids kept by screen position would swap people)."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from engine.errors import render_settings
from engine.face.cuts import CUT_SCORE, CutFinder, cut_warning, find_cuts
from engine.io import open_source, read_image, write_png
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import prepare, render

SMALL = (64, 64, 64, 64)
CLIPS = ("529.mp4", "529_2.mp4", "651.mp4", "7154235.mp4", "908.mp4")


def _frames(path, count: int | None = None) -> list[np.ndarray]:
    with open_source(str(path)) as src:
        numbers = src.frame_numbers[:count] if count else src.frame_numbers
        return [rgb for _, rgb in src.read_many(numbers)]


def _write_mp4(path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=Fraction(15, 1))
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = w, h, "yuv420p", 4_000_000
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), "rgb24")))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def joined(media_dir, tmp_path_factory) -> str:
    """908.mp4's first 12 frames, then 651.mp4's first 10 (resized to 908's 392x360): a cut at frame 13."""
    a = _frames(media_dir / "908.mp4", 12)
    b = [cv2.resize(f, (a[0].shape[1], a[0].shape[0]), interpolation=cv2.INTER_AREA)
         for f in _frames(media_dir / "651.mp4", 10)]
    path = tmp_path_factory.mktemp("joined") / "joined.mp4"
    _write_mp4(path, a + b)
    return str(path)


@pytest.mark.parametrize("name", CLIPS)
def test_the_real_sample_clips_have_no_cut_with_a_wide_margin(media_dir, name):
    finder = CutFinder()
    for number, rgb in _frames_numbered(media_dir / name):
        finder.add(number, rgb)
    assert finder.cuts == [] and max(finder.scores) < CUT_SCORE / 2 + 0.01  # measured at most 0.16


def _frames_numbered(path):
    with open_source(str(path)) as src:
        yield from src.read_many(src.frame_numbers)


def test_lighting_flicker_is_no_cut(media_dir):
    frames = _frames(media_dir / "651.mp4", 6)
    finder = CutFinder()
    for i, rgb in enumerate(frames):
        gain = 1.25 if i % 2 else 0.8  # +-25 % exposure every other frame
        finder.add(i + 1, np.clip(rgb.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    assert finder.cuts == []


def test_joined_clips_are_found_at_the_first_frame_of_the_second_shot(joined):
    with open_source(joined) as src:
        assert find_cuts(src) == [13]


def test_one_face_render_warns_names_the_cut_and_chunks_resume_to_the_same_files(joined, tmp_path):
    events: list[dict] = []
    whole = render(RenderConfig(source=joined, output=str(tmp_path / "whole"), backend="classic", padding=SMALL),
                   on_event=events.append)
    warned = [e["message"] for e in events if e.get("event") == "warning" and "changes shot" in e["message"]]
    assert len(warned) == 1 and "at frame 13:" in warned[0] and "frames 1-12, 13-22" in warned[0]
    assert "trim=end_frame=12" in warned[0] and "--start-number 13" in render_settings(warned[0])
    assert warned[0] in whole.warnings
    sidecar = json.loads((tmp_path / "whole" / "joined.vtoonify.json").read_text())
    assert sidecar["warnings"] == warned and sidecar["version"] == 1  # one-face sidecars stay version 1

    chunked = tmp_path / "chunked"
    config = RenderConfig(source=joined, output=str(chunked), backend="classic", padding=SMALL, frames="1-22")
    assert warned[0] in prepare(config).warnings
    for frames in ("1-10", "11-22"):
        again = render(RenderConfig(source=joined, output=str(chunked), backend="classic", padding=SMALL,
                                    frames=frames, resume=True))
        assert warned[0] in again.warnings  # reused from the sidecar, not analysed again
    assert (chunked / "joined.vtoonify.json").read_text() == (tmp_path / "whole" / "joined.vtoonify.json").read_text()
    written = sorted((tmp_path / "whole").glob("joined.*.exr"))
    assert len(written) == 22
    for path in written:
        assert np.array_equal(read_image(chunked / path.name), read_image(path)), path.name


def test_faces_that_swap_sides_at_a_cut_are_warned_about_with_follow_faces(media_dir, tmp_path):
    """An image sequence is searched frame by frame only with --follow-faces: there the cut is found."""
    left = _frames(media_dir / "077436.jpg")[0]
    right = _frames(media_dir / "038648.jpg")[0]
    folder = tmp_path / "swap"
    folder.mkdir()
    for frame in range(1, 7):
        canvas = np.full((384, 1008, 3), 90, np.uint8)
        a, b = (left, right) if frame <= 3 else (right, left)
        canvas[:a.shape[0], :a.shape[1]] = a
        canvas[:b.shape[0], 1008 - b.shape[1]:] = b
        write_png(folder / f"swap.{frame:04d}.png", canvas)
    source = str(folder / "swap.####.png")
    base = dict(source=source, backend="classic", faces="all", padding=SMALL)
    followed = render(RenderConfig(output=str(tmp_path / "follow"), follow_faces=True, **base))
    notes = [w for w in followed.warnings if "changes shot" in w]
    assert len(notes) == 1 and "at frame 4:" in notes[0] and "frames 1-3, 4-6" in notes[0]
    assert "another person" in notes[0] and "into a folder of their own" in notes[0]
    fixed = render(RenderConfig(output=str(tmp_path / "fixed"), **base))
    assert not [w for w in fixed.warnings if "changes shot" in w]  # files are not read through without it


def test_the_warning_names_every_shot_and_stays_short():
    frames = list(range(1001, 1401))
    note = cut_warning(list(range(1010, 1400, 10)), frames)
    assert "(and 31 more)" in note and "1001-1009, 1010-1019" in note and len(note) < 1000
    assert cut_warning([], frames) is None
