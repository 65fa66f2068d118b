"""Shot changes inside a clip: found on the frames the render decodes anyway (no second decode), warned
about as the render reaches them, never refused.

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
from engine.face.cuts import CUT_SCORE, CutFinder, CutWatch, cut_warning, signature
from engine.io import open_source, read_image, write_png
from engine.io.video import VideoSource
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
        watch = CutWatch(src.frame_numbers, "video")
        for number, rgb in src.read_many(src.frame_numbers):
            watch.add(number, rgb)
    assert watch.finder.cuts == [13] and "at frame 13:" in watch.news() and watch.news() is None
    assert watch.rest() is None


def test_only_neighbours_in_the_source_are_compared(joined):
    """Across frames the job does not decode (a range, frames a resume skipped) nothing is compared; the
    frame before the job's first is read once, so a chunk starting on the cut finds it."""
    with open_source(joined) as src:
        watch = CutWatch(src.frame_numbers, "video")
        for number in (10, 11, 20, 21):  # 11 -> 20 spans the cut but skips frames: no comparison
            watch.add(number, src.read(number))
        assert watch.finder.cuts == [] and len(watch.finder.scores) == 2
        chunk = CutWatch(src.frame_numbers, "video")
        chunk.seed(src, 13)
        chunk.add(13, src.read(13))
        assert chunk.finder.cuts == [13]


def test_a_large_frame_is_thumbnailed_fast_to_the_same_signature(media_dir):
    """1920x1080: a 16x16 area resize of a size it does not divide took 11-15 ms; shrunk by a whole factor
    first, about 1 ms, and the thumbnail moves by less than 0.03 (the cut score's threshold is 0.32)."""
    def exact(rgb):  # the 16x16 area thumbnail of the whole frame, as measured for CUT_SCORE
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        thumb = cv2.resize(luma, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
        return (thumb - thumb.mean()) / max(float(thumb.std()), 8.0)

    small = _frames(media_dir / "529.mp4", 1)[0]
    large = cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    assert np.abs(signature(large) - exact(large)).max() < 0.03
    assert np.array_equal(signature(small), exact(small))  # small frames keep their exact thumbnails


def test_one_face_render_warns_names_the_cut_without_decoding_the_clip_twice(joined, tmp_path, monkeypatch):
    decoded = []
    original = VideoSource._decode_to
    monkeypatch.setattr(VideoSource, "_decode_to", lambda self, index: decoded.append(index) or original(self, index))
    events: list[dict] = []
    whole = render(RenderConfig(source=joined, output=str(tmp_path / "whole"), backend="classic", padding=SMALL,
                                batch=2), on_event=events.append)
    assert len(decoded) <= 22 + 1, "each frame decoded once by the render (before: twice, the cut check's pass)"
    warned = [e["message"] for e in events if e.get("event") == "warning" and "changes shot" in e["message"]]
    assert len(warned) == 1 and "at frame 13:" in warned[0] and "frames 1-12, 13-22" in warned[0]
    assert "trim=end_frame=12" in warned[0] and "--start-number 13" in render_settings(warned[0])
    assert warned[0] in whole.warnings
    order = ["cut" if "changes shot" in e.get("message", "") else e.get("frame") for e in events
             if e["event"] == "frame_done" or "changes shot" in e.get("message", "")]
    assert order.index("cut") < order.index(13), "warned before the first frame after the cut is written"
    sidecar = json.loads((tmp_path / "whole" / "joined.vtoonify.json").read_text())
    assert sidecar["warnings"] == [] and sidecar["version"] == 1  # one-face sidecars stay version 1


def test_farm_chunks_warn_where_their_frames_follow_the_cut_and_match_one_run(joined, tmp_path):
    """``prepare`` decodes no frame for it; the chunk holding frames after the cut warns, also when it
    starts on the cut (the frame before it is read once); the chunk before the cut has nothing to warn."""
    render(RenderConfig(source=joined, output=str(tmp_path / "whole"), backend="classic", padding=SMALL))
    chunked = tmp_path / "chunked"
    config = RenderConfig(source=joined, output=str(chunked), backend="classic", padding=SMALL, frames="1-22")
    assert not [w for w in prepare(config).warnings if "changes shot" in w]
    notes = {}
    for frames in ("1-12", "13-22"):
        again = render(RenderConfig(source=joined, output=str(chunked), backend="classic", padding=SMALL,
                                    frames=frames, resume=True))
        notes[frames] = [w for w in again.warnings if "changes shot" in w]
    assert notes["1-12"] == [] and len(notes["13-22"]) == 1 and "at frame 13:" in notes["13-22"][0]
    assert (chunked / "joined.vtoonify.json").read_text() == (tmp_path / "whole" / "joined.vtoonify.json").read_text()
    written = sorted((tmp_path / "whole").glob("joined.*.exr"))
    assert len(written) == 22
    for path in written:
        assert np.array_equal(read_image(chunked / path.name), read_image(path)), path.name


def test_faces_that_swap_sides_in_an_image_sequence_are_warned_about(media_dir, tmp_path):
    """An image sequence holding a cut is warned about like a video: with --follow-faces by the analysis's
    per-frame search, with fixed crops by the render's decode (before, not at all: files were not read
    twice for it)."""
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
    assert [w for w in fixed.warnings if "changes shot" in w] == notes  # the same warning, once


def test_the_warning_names_every_shot_and_stays_short():
    frames = list(range(1001, 1401))
    note = cut_warning(list(range(1010, 1400, 10)), frames)
    assert "(and 31 more)" in note and "1001-1009, 1010-1019" in note and len(note) < 1000
    assert cut_warning([], frames) is None
