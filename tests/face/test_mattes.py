"""Landmark mattes (classic backend): names, ranges, and that each part sits where its landmarks are.

Uses the official landmarks of real photos from preprocess_golden.json (no detection needed) and one
live detection on a video's first frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.errors import InputError
from engine.face import MATTE_CLASSES, PARSING_CLASSES, find_landmarks, landmark_mattes

EYES = {"l_eye": slice(36, 42), "r_eye": slice(42, 48)}


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict:
    data = json.loads((reference_dir / "preprocess_golden.json").read_text())
    return {entry["source"]: entry for entry in data["entries"]}


@pytest.fixture(scope="module")
def photo(golden) -> tuple[np.ndarray, tuple[int, int]]:
    entry = golden["077436.jpg"]
    return np.array(entry["landmarks_68"]), tuple(entry["decoded_shape"][:2])


@pytest.fixture(scope="module")
def mattes(photo) -> dict[str, np.ndarray]:
    return landmark_mattes(*photo)


def _hull_mask(points: np.ndarray, hw: tuple[int, int], grow_px: int) -> np.ndarray:
    mask = np.zeros(hw, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 1)
    if grow_px:
        mask = cv2.dilate(mask, np.ones((2 * grow_px + 1, 2 * grow_px + 1), np.uint8))
    return mask.astype(bool)


def _centroid(matte: np.ndarray) -> np.ndarray:
    ys, xs = np.indices(matte.shape)
    return np.array([(xs * matte).sum(), (ys * matte).sum()]) / matte.sum()


def test_parsing_classes_are_bisenet_order():
    assert len(PARSING_CLASSES) == 19
    assert PARSING_CLASSES[0] == "background" and PARSING_CLASSES[1] == "skin"
    assert PARSING_CLASSES.index("l_eye") == 4 and PARSING_CLASSES.index("nose") == 10
    assert PARSING_CLASSES.index("u_lip") == 12 and PARSING_CLASSES[17:] == ("hair", "hat")
    # Every landmark matte is a parser class, listed in the parser's order.
    assert list(MATTE_CLASSES) == [c for c in PARSING_CLASSES if c in MATTE_CLASSES]


def test_shapes_types_and_range(mattes, photo):
    _, hw = photo
    assert set(mattes) == set(MATTE_CLASSES)
    for name, matte in mattes.items():
        assert matte.shape == hw and matte.dtype == np.float32, name
        assert matte.min() >= 0.0 and matte.max() <= 1.0, name
        if name != "mouth":  # this photo's mouth is closed: see test_open_mouth
            assert matte.max() > 0.3, f"{name} is empty"
    assert mattes["mouth"].max() < 0.5


def test_open_mouth(photo):
    lm, hw = photo
    opened = lm.copy()
    opened[55:60, 1] += 12  # lower outer lip down
    opened[65:68, 1] += 12  # lower inner lip down
    mattes = landmark_mattes(opened, hw)
    inner = np.round(opened[60:68].mean(axis=0)).astype(int)
    assert mattes["mouth"][inner[1], inner[0]] > 0.9
    assert mattes["mouth"][_hull_mask(opened[60:68], hw, grow_px=2)].sum() >= 0.95 * mattes["mouth"].sum()


def test_edges_are_soft(mattes):
    for name in ("l_eye", "nose", "u_lip"):
        matte = mattes[name]
        partial = np.count_nonzero((matte > 0.05) & (matte < 0.95))
        assert partial > 0.1 * np.count_nonzero(matte >= 0.95), name


@pytest.mark.parametrize("name", sorted(EYES))
def test_eye_matte_lies_in_its_landmark_hull(mattes, photo, name):
    lm, hw = photo
    inside = _hull_mask(lm[EYES[name]], hw, grow_px=2)
    matte = mattes[name]
    assert matte[inside].sum() >= 0.95 * matte.sum()
    centre = np.round(lm[EYES[name]].mean(axis=0)).astype(int)
    assert matte[centre[1], centre[0]] > 0.9
    assert mattes["skin"][centre[1], centre[0]] < 0.05  # skin excludes the eyes
    other = "r_eye" if name == "l_eye" else "l_eye"
    assert matte[_hull_mask(lm[EYES[other]], hw, grow_px=2)].sum() == 0.0


def test_left_and_right_are_distinct_and_image_left_is_l(mattes):
    assert _centroid(mattes["l_eye"])[0] < _centroid(mattes["r_eye"])[0]
    assert _centroid(mattes["l_brow"])[0] < _centroid(mattes["r_brow"])[0]
    assert np.minimum(mattes["l_eye"], mattes["r_eye"]).max() == 0.0
    # brows above their eyes, upper lip above lower lip, nose between eyes and mouth
    for side in ("l", "r"):
        assert _centroid(mattes[f"{side}_brow"])[1] < _centroid(mattes[f"{side}_eye"])[1]
    assert _centroid(mattes["u_lip"])[1] < _centroid(mattes["l_lip"])[1]
    eyes_y = _centroid(mattes["l_eye"])[1]
    assert eyes_y < _centroid(mattes["nose"])[1] < _centroid(mattes["u_lip"])[1]


def test_parts_are_nearly_exclusive(mattes):
    total = np.sum(np.stack(list(mattes.values())), axis=0)
    assert total.max() <= 1.0 + 1e-5
    assert total.max() >= 0.99  # inside the face something owns each pixel


def test_translation_moves_the_mattes(photo):
    lm, hw = photo
    moved = landmark_mattes(lm + [7, -5], hw)
    base = landmark_mattes(lm, hw)
    for name in MATTE_CLASSES:
        np.testing.assert_allclose(
            moved[name][20:-20, 20:-20],
            np.roll(base[name], (-5, 7), (0, 1))[20:-20, 20:-20],
            atol=1e-5,
            err_msg=name,
        )


def test_face_partly_outside_frame(photo):
    lm, _ = photo
    small = landmark_mattes(lm - [230, 0], (300, 120))  # image-left half of the face is off-frame
    assert all(m.shape == (300, 120) for m in small.values())
    assert small["r_eye"].max() > 0.9 and small["l_eye"].max() == 0.0
    gone = landmark_mattes(lm + [5000, 5000], (300, 120))
    assert all(m.max() == 0.0 for m in gone.values())


def test_mattes_on_a_detected_video_frame(golden, reference_dir):
    entry = golden["529_2.mp4"]
    frame = np.asarray(Image.open(reference_dir / "preprocess" / entry["frame0_png"]).convert("RGB"))
    lm = find_landmarks(frame)
    mattes = landmark_mattes(lm, frame.shape[:2])
    for name, sl in EYES.items():
        inside = _hull_mask(lm[sl], frame.shape[:2], grow_px=2)
        assert mattes[name][inside].sum() >= 0.95 * mattes[name].sum()
    assert _centroid(mattes["skin"])[1] > _centroid(mattes["l_eye"])[1]  # skin mass is mostly below the eyes


def test_degenerate_landmarks_raise():
    with pytest.raises(InputError):
        landmark_mattes(np.zeros((68, 2)), (10, 10))
    with pytest.raises(InputError):
        landmark_mattes(np.zeros((5, 2)), (10, 10))
