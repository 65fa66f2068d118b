"""The math of crops that follow their face (``engine/face/follow.py``): numbers checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.face import CropParams
from engine.face.follow import (
    crop_size,
    downsampling_factor,
    fill_gaps,
    follow_offsets,
    link_to_seeds,
    offset_at,
    runs_problem,
    smooth,
    snap,
    to_runs,
)


def test_gaps_are_interpolated_between_sightings_and_held_at_the_ends():
    values = np.array([[np.nan, np.nan], [10, 20], [np.nan, np.nan], [np.nan, np.nan], [16, 26], [np.nan, np.nan]])
    assert fill_gaps(values).tolist() == [[10, 20], [10, 20], [12, 22], [14, 24], [16, 26], [16, 26]]
    with pytest.raises(ValueError):
        fill_gaps(np.full((3, 2), np.nan))


def test_smoothing_keeps_steady_motion_to_the_last_frame_and_removes_jitter():
    line = np.stack([np.arange(20) * 3.0 + 5, np.full(20, 7.0)], 1)
    assert np.allclose(smooth(line), line)  # point reflection: no lag at the ends
    rng = np.random.default_rng(0)
    jitter = np.full((40, 2), 100.0) + rng.uniform(-1.5, 1.5, (40, 2))
    assert np.abs(smooth(jitter)[4:-4] - 100).max() < np.abs(jitter - 100).max() * 0.6
    assert smooth(jitter).std() < jitter.std() * 0.6
    assert smooth(np.array([[1.0, 2.0]])).tolist() == [[1.0, 2.0]]
    assert np.allclose(smooth(line[:3]), line[:3])  # shorter than the window


def test_snapping_is_on_the_step_grid_within_the_frame_with_hysteresis():
    assert snap(np.array([3.9, 4.1, 11.9, 14.1, 20.1]), 8, 100).tolist() == [0, 0, 8, 16, 16]
    # a target wandering around a grid line does not flicker between two offsets
    assert set(snap(np.array([7, 9, 6.5, 9.5, 7, 9]), 8, 100).tolist()) == {8}
    assert set(snap(np.array([3.5, 4.5, 3.5, 4.5]), 8, 100).tolist()) == {0}
    assert snap(np.array([-50.0, 500.0]), 8, 99).tolist() == [0, 96]  # kept inside, on the grid


def test_crop_size_is_the_padding_window_within_the_frame():
    assert crop_size((200, 200, 200, 200), (1000, 1200)) == (400, 400)
    assert crop_size((64, 70, 64, 64), (100, 1000)) == (128, 96)


def test_offsets_follow_a_sliding_face_on_the_grid():
    crop = CropParams(h=600, w=800, top=0, bottom=128, left=0, right=128, scale=0.5)
    xs = 400 + 6.0 * np.arange(30)  # source px: 3 resized px per frame
    centres = np.stack([xs, np.full(30, 300.0)], 1)
    centres[[4, 5, 17]] = np.nan
    size, offsets = follow_offsets(centres, crop, (64, 64, 64, 64), 8)
    assert size == (128, 128)
    assert (offsets % 8 == 0).all() and (offsets[:, 1] == 88).all()  # 300*0.5 - 64 = 86 -> 88
    target = xs * 0.5 - 64
    assert np.abs(offsets[:, 0] - target).max() <= 8 * 0.75
    assert (np.diff(offsets[:, 0]) >= 0).all()


def test_runs_store_changes_only_and_read_back_per_frame():
    frames = [1001, 1002, 1003, 1005, 1006]
    offsets = np.array([[8, 0], [8, 0], [16, 0], [16, 0], [16, 8]])
    runs = to_runs(frames, offsets)
    assert runs == [[1001, 8, 0], [1003, 16, 0], [1006, 16, 8]]
    assert [offset_at(runs, f) for f in frames] == [tuple(o) for o in offsets.tolist()]
    assert offset_at(runs, 1000) == (8, 0) and offset_at(runs, 1004) == (16, 0)
    assert runs_problem(runs, frames, (64, 64), (200, 100), 8) is None
    assert "grid" in runs_problem([[1001, 4, 0]], frames, (64, 64), (200, 100), 8)
    assert "off the plate" in runs_problem([[1001, 144, 0]], frames, (64, 64), (200, 100), 8)
    assert "first frame" in runs_problem([[1002, 8, 0]], frames, (64, 64), (200, 100), 8)
    assert "first frame" in runs_problem([[1001, 8, 0], [1001, 16, 0]], frames, (64, 64), (200, 100), 8)
    assert runs_problem([], frames, (64, 64), (200, 100), 8) is not None


def test_linking_keeps_each_face_on_its_own_boxes_through_a_miss():
    lm = np.zeros((68, 2))
    a = [(10 + 2 * i, 10, 60 + 2 * i, 60) for i in range(5)]
    b = [(200 - 3 * i, 10, 250 - 3 * i, 60) for i in range(5)]
    detections = {1: [(a[0], lm + 1)], 2: [(b[1], lm + 2), (a[1], lm + 1)], 3: [(b[2], lm + 2)],
                  4: [(a[3], lm + 1), (b[3], lm + 2)], 5: [(b[4], lm + 2), (a[4], lm + 1)]}
    found = link_to_seeds([1, 2, 3, 4, 5], detections, [(1, a[0]), (2, b[1])])
    assert sorted(found[0]) == [1, 2, 4, 5] and all(v[0, 0] == 1 for v in found[0].values())
    assert sorted(found[1]) == [2, 3, 4, 5] and all(v[0, 0] == 2 for v in found[1].values())


def test_the_vtoonify_encoder_downsamples_by_eight():
    from engine.models.vtoonify import VToonify

    net = VToonify(backbone="toonify", channels={4: 8, 8: 8, 16: 8, 32: 8, 64: 8, 128: 8, 256: 8, 512: 8, 1024: 8})
    assert downsampling_factor(net.encoder) == 8
    assert downsampling_factor(torch.nn.Conv2d(3, 3, 3, 1, 1)) == 1


def test_search_windows_grow_the_last_boxes_and_skip_frames_before_any_face():
    from engine.face.follow import SeedLinker, detect_in

    linker = SeedLinker([1, 2, 3], [(2, (100, 100, 140, 150))])
    assert linker.windows(1, (1000, 800)) == []                     # no face followed yet: no search
    assert linker.windows(2, (1000, 800)) == [(50, 50, 191, 201)]   # grown by one box side, clipped
    assert linker.windows(2, (200, 200)) is None                    # most of a small frame: search it all
    linker.add(2, [((110, 100, 150, 150), np.zeros((68, 2)))])
    assert linker.windows(3, (1000, 800)) == [(60, 50, 201, 201)]   # follows the face it linked

    seen = []

    def locate(rgb):
        seen.append(rgb.shape[:2])
        return [((5, 6, 25, 26), np.ones((68, 2), np.int64))]

    frame = np.zeros((300, 400, 3), np.uint8)
    found = detect_in(locate, frame, [(100, 50, 200, 150), (110, 50, 210, 150)])
    assert seen == [(100, 100), (100, 100)]
    assert [box for box, _ in found] == [(105, 56, 125, 76), (115, 56, 135, 76)]
    assert found[0][1][0].tolist() == [101, 51]
    assert len(detect_in(locate, frame, [(100, 50, 200, 150), (100, 50, 200, 150)])) == 1  # kept once
    assert detect_in(locate, frame, None)[0][0] == (5, 6, 25, 26) and seen[-1] == (300, 400)
