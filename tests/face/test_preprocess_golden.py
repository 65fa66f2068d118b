"""engine.face against the official preprocessing goldens (reference/preprocess_golden.json).

Every media file is decoded the official way (photos: OpenCV imread + channel swap; videos: the
stored first frame PNG so the video decoder cannot matter) and run through landmarks -> crop
parameters -> scale-and-crop -> alignment; integers must match exactly, pixels within the README
tolerances. Landmarks are detected once per file (module-scoped cache): dlib on a 2880x1920 photo
takes seconds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.errors import ConfigError, InputError, ModelFileError
from engine.face import (
    CropParams,
    FaceLandmarker,
    align_face,
    crop_parameters,
    find_landmarks,
    num_preblurs,
    plan_alignment,
    scale_and_crop,
)
from engine.face.align import gaussian_blur_reflect

OFFICIAL_PADDING = (200, 200, 200, 200)
ENTRY_NAMES = [
    "077436.jpg",
    "pexels-andrea-piacquadio-733872.jpg",
    "ILip77SbmOE.jpg",
    "081680.jpg",
    "529_2.mp4",
    "651.mp4",
    "7154235.mp4",
]


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict:
    data = json.loads((reference_dir / "preprocess_golden.json").read_text())
    return {entry["source"]: entry for entry in data["entries"]}


def _read_png_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


class _Shot:
    """One media file's frame and everything derived from it, computed on first use."""

    def __init__(self, entry: dict, media_dir: Path, reference_dir: Path) -> None:
        self.entry = entry
        self.ref = reference_dir / "preprocess"
        if entry["kind"] == "image":
            bgr = cv2.imread(str(media_dir / entry["source"]))
            self.frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        else:
            self.frame = _read_png_rgb(self.ref / entry["frame0_png"])
        self._cache: dict = {}

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def landmarks(self) -> np.ndarray:
        return self._once("lm", lambda: find_landmarks(self.frame))

    @property
    def params(self) -> CropParams:
        return self._once(
            "cp", lambda: crop_parameters(self.landmarks, self.frame.shape[:2], OFFICIAL_PADDING)
        )

    @property
    def crop(self) -> np.ndarray:
        return self._once("crop", lambda: scale_and_crop(self.frame, self.params))

    @property
    def crop_landmarks(self) -> np.ndarray:
        return self._once("crop_lm", lambda: find_landmarks(self.crop))


@pytest.fixture(scope="module")
def shots(golden, media_dir, reference_dir) -> dict:
    return {name: _Shot(golden[name], media_dir, reference_dir) for name in ENTRY_NAMES}


def test_golden_covers_every_entry(golden):
    assert sorted(golden) == sorted(ENTRY_NAMES)


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_decoded_frame_is_the_official_one(shots, name):
    shot = shots[name]
    assert list(shot.frame.shape) == shot.entry["decoded_shape"]
    assert hashlib.sha256(shot.frame.tobytes()).hexdigest() == shot.entry["decoded_rgb_sha256"]


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_landmarks_match_exactly(shots, name):
    shot = shots[name]
    lm = shot.landmarks
    assert lm is not None and lm.shape == (68, 2) and np.issubdtype(lm.dtype, np.integer)
    np.testing.assert_array_equal(lm, np.array(shot.entry["landmarks_68"]))


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_crop_parameters_match_exactly(shots, name):
    shot = shots[name]
    expected = shot.entry["crop_params"]
    assert shot.params.as_tuple() == tuple(expected["as_tuple"])
    assert all(type(v) is int for v in shot.params.as_tuple()[:6])
    assert shot.params.scale == expected["scale"]


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_crop_params_dict_round_trip(shots, name):
    params = shots[name].params
    again = CropParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again == params and again.as_tuple() == params.as_tuple()


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_scaled_crop_matches_official(shots, name):
    shot = shots[name]
    golden_crop = shot.entry["scale_image_crop"]
    assert num_preblurs(shot.params.scale) == golden_crop["num_sepfilter_blurs"]
    expected = _read_png_rgb(shot.ref / golden_crop["png"])
    assert shot.crop.shape == expected.shape == tuple(golden_crop["shape"])
    assert np.abs(shot.crop.astype(np.float64) - expected).mean() <= 0.5
    # The crop is the input of a second detection: its landmarks must also be the official ones.
    np.testing.assert_array_equal(shot.crop_landmarks, np.array(golden_crop["landmarks_68"]))


def _assert_plan_matches_trace(plan, trace: dict) -> None:
    values = trace["values_in_order"]
    face = plan.face
    for field, got in [
        ("eye_left", face.eye_left),
        ("eye_right", face.eye_right),
        ("eye_avg", face.eye_avg),
        ("eye_to_eye", face.eye_to_eye),
        ("mouth_avg", face.mouth_avg),
        ("eye_to_mouth", face.eye_to_mouth),
        ("c", face.center),
    ]:
        np.testing.assert_allclose(got, values[field][-1], rtol=0, atol=1e-6, err_msg=field)
    np.testing.assert_allclose(face.x_vec, trace["x_vec"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(face.y_vec, trace["y_vec"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(face.quad, values["quad"][0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(plan.quad, values["quad"][-1], rtol=0, atol=1e-6)
    assert face.qsize == pytest.approx(values["qsize"][0], abs=1e-6)
    assert plan.shrink == values["shrink"][0]
    assert plan.shrunk == trace["shrink_applied"]
    assert ([list(plan.resized_size)] if plan.shrunk else []) == values["rsize"]
    assert plan.border == values["border"][0]
    assert list(plan.crop_box) == values["crop"][-1]
    assert list(plan.pad) == values["pad"][-1]
    assert plan.padded == trace["padding_applied"]
    if plan.padded:
        assert plan.blur_sigma == pytest.approx(values["blur"][0], abs=1e-6)


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_align_original_frame(shots, name):
    shot = shots[name]
    golden_aligned = shot.entry["aligned_from_original"]
    _assert_plan_matches_trace(plan_alignment(shot.landmarks, shot.frame.shape[:2]), golden_aligned["trace"])
    aligned = align_face(shot.frame, shot.landmarks)
    assert aligned.shape == (256, 256, 3) and aligned.dtype == np.uint8
    assert _mean_abs(aligned, _read_png_rgb(shot.ref / golden_aligned["png"])) <= 1.0


@pytest.mark.parametrize("name", ENTRY_NAMES)
def test_align_scaled_crop(shots, name):
    shot = shots[name]
    golden_aligned = shot.entry["scale_image_crop"]["aligned"]
    plan = plan_alignment(shot.crop_landmarks, shot.crop.shape[:2])
    _assert_plan_matches_trace(plan, golden_aligned["trace"])
    aligned = align_face(shot.crop, shot.crop_landmarks)
    assert _mean_abs(aligned, _read_png_rgb(shot.ref / golden_aligned["png"])) <= 1.0


def test_branches_are_covered(shots):
    """The goldens exercise shrink and padding; make sure our plans take those branches too."""
    big = shots["ILip77SbmOE.jpg"]
    assert plan_alignment(big.landmarks, big.frame.shape[:2]).shrunk
    edge = shots["081680.jpg"]
    assert plan_alignment(edge.crop_landmarks, edge.crop.shape[:2]).padded
    assert {num_preblurs(s.params.scale) for s in shots.values()} == {0, 1, 2}


def test_padding_changes_the_crop(shots):
    shot = shots["7154235.mp4"]
    tight = crop_parameters(shot.landmarks, shot.frame.shape[:2], (100, 100, 100, 100))
    assert (tight.h, tight.w, tight.scale) == (shot.params.h, shot.params.w, shot.params.scale)
    assert tight.right - tight.left < shot.params.right - shot.params.left
    assert all(v % 8 == 0 for v in (tight.top, tight.bottom, tight.left, tight.right))


def test_gaussian_blur_matches_scipy_definition():
    """Our scipy replacement: separable sampled Gaussian, 4-sigma truncation, half-sample reflect."""
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (40, 50, 3)).astype(np.float32)
    sigma = 2.3
    radius = int(4 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(img.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), "symmetric")
    rows = sum(taps[k] * padded[k : k + 40] for k in range(2 * radius + 1))  # [40,50+2r,3]
    expected = sum(taps[k] * rows[:, k : k + 50] for k in range(2 * radius + 1))  # [40,50,3]
    np.testing.assert_allclose(gaussian_blur_reflect(img, sigma), expected, atol=1e-3)


def json_free_landmarks() -> list[list[int]]:
    """A plausible 68-point face (eyes 64 px apart) without reading any file."""
    lm = [[100 + 12 * i, 200 + (i - 8) ** 2] for i in range(17)]  # jaw
    lm += [[130 + 10 * i, 150] for i in range(10)]  # brows
    lm += [[180, 170 + 8 * i] for i in range(4)] + [[168 + 6 * i, 205] for i in range(5)]  # nose
    lm += [[140 + 6 * (i % 4), 175] for i in range(6)] + [[204 + 6 * (i % 4), 175] for i in range(6)]  # eyes
    lm += [[160 + 4 * i, 230] for i in range(12)] + [[165 + 4 * i, 232] for i in range(8)]  # mouth
    return lm


def test_no_face_returns_none():
    assert find_landmarks(np.full((120, 160, 3), 128, np.uint8)) is None


def test_bad_inputs_raise_typed_errors(tmp_path):
    with pytest.raises(InputError):
        find_landmarks(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError):
        crop_parameters(np.zeros((5, 2)), (100, 100))
    with pytest.raises(ConfigError):
        CropParams.from_dict({"h": 10})
    with pytest.raises(ConfigError):  # a sidecar whose window does not fit its frame
        CropParams.from_dict({"h": 10, "w": 10, "top": 0, "bottom": 16, "left": 0, "right": 8, "scale": 1.0})
    face_off_the_bottom = np.array(json_free_landmarks()) + [0, 5000]
    with pytest.raises(InputError):
        crop_parameters(face_off_the_bottom, (400, 400))
    with pytest.raises(ModelFileError) as err:
        FaceLandmarker(tmp_path / "missing.dat")
    assert err.value.fix
    broken = tmp_path / "broken.dat"
    broken.write_bytes(b"not a dlib model")
    with pytest.raises(ModelFileError):
        FaceLandmarker(broken)
