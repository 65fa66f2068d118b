"""dlib 68-point landmarks, detected the way the official ``get_landmark`` does.

Official behaviour reproduced (``model/encoder/align_all_parallel.py`` ``get_landmark``): the HOG
frontal-face detector runs with **upsample 1**, and when several faces are found the shape of the
**last** detection is kept (the official loop overwrites ``shape`` on every face). The predictor is
the ``shape_predictor_68_face_landmarks.dat`` shipped in the ``face_recognition_models`` package; we
only locate that package's folder (importing it needs ``pkg_resources``).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from engine.errors import InputError, ModelFileError

PREDICTOR_FILENAME = "shape_predictor_68_face_landmarks.dat"
DETECTOR_UPSAMPLE = 1
"""Official ``detector(img, 1)``: one 2x upsampling pass, finds faces down to ~40 px."""


def default_predictor_path() -> Path:
    """Where ``face_recognition_models`` keeps the 68-point predictor (package is never imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            "the dlib 68-point landmark model is not installed (package face_recognition_models)",
            fix="pip install face_recognition_models, or pass predictor_path= to FaceLandmarker",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILENAME


def _as_dlib_image(rgb: np.ndarray) -> np.ndarray:
    """dlib wants a C-contiguous uint8 HxWx3 (or HxW) array."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim not in (2, 3):
        raise InputError(
            f"landmark detection needs a uint8 HxWx3 RGB array, got {getattr(rgb, 'dtype', type(rgb))} "
            f"{getattr(rgb, 'shape', '')}",
            fix="decode the frame to 8-bit RGB before face detection",
        )
    if rgb.ndim == 3 and rgb.shape[2] != 3:
        raise InputError(f"expected 3 colour channels, got {rgb.shape[2]}", fix="drop the alpha channel")
    return np.ascontiguousarray(rgb)


class FaceLandmarker:
    """Holds one dlib detector + 68-point predictor pair (loading the predictor takes ~1 s)."""

    def __init__(self, predictor_path: str | Path | None = None) -> None:
        import dlib  # local: importing engine.face must not require dlib

        path = Path(predictor_path) if predictor_path is not None else default_predictor_path()
        if not path.is_file():
            raise ModelFileError(
                f"dlib landmark model not found at {path}",
                fix="reinstall face_recognition_models or point predictor_path at "
                f"{PREDICTOR_FILENAME} (dlib.net/files)",
            )
        try:
            self._predictor = dlib.shape_predictor(str(path))
        except RuntimeError as exc:  # truncated / wrong file
            raise ModelFileError(
                f"cannot load dlib landmark model {path}: {exc}",
                fix=f"replace it with an intact {PREDICTOR_FILENAME}",
            ) from exc
        self._detector = dlib.get_frontal_face_detector()
        self.predictor_path = path

    def detect(self, rgb_uint8_hwc: np.ndarray) -> list:
        """Face rectangles in detection order (dlib ``rectangles``)."""
        return list(self._detector(_as_dlib_image(rgb_uint8_hwc), DETECTOR_UPSAMPLE))

    def locate(self, rgb_uint8_hwc: np.ndarray) -> tuple[np.ndarray | None, list[tuple[int, int, int, int]]]:
        """(68x2 int64 landmarks of the face used, or None; every face box as (left, top, right, bottom)).

        The face used is the last detection, as in the official code; callers warn when there are several.
        """
        img = _as_dlib_image(rgb_uint8_hwc)
        faces = self._detector(img, DETECTOR_UPSAMPLE)
        boxes = [(int(f.left()), int(f.top()), int(f.right()), int(f.bottom())) for f in faces]
        if len(faces) == 0:
            return None, boxes
        shape = self._predictor(img, faces[len(faces) - 1])  # official keeps the LAST face
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.int64), boxes  # [68,2]

    def locate_all(self, rgb_uint8_hwc: np.ndarray) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """Every face as (box (left, top, right, bottom), 68x2 int64 landmarks), in detection order."""
        img = _as_dlib_image(rgb_uint8_hwc)
        found = []
        for face in self._detector(img, DETECTOR_UPSAMPLE):
            shape = self._predictor(img, face)
            box = (int(face.left()), int(face.top()), int(face.right()), int(face.bottom()))
            found.append((box, np.array([[p.x, p.y] for p in shape.parts()], dtype=np.int64)))
        return found

    def __call__(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray | None:
        """68x2 int64 ``[x, y]`` pixel positions of the last detected face, or None if no face."""
        return self.locate(rgb_uint8_hwc)[0]

_per_thread = threading.local()


def default_landmarker() -> FaceLandmarker:
    """This thread's landmarker, built on first use.

    One per thread because dlib's detector and predictor objects are not documented as thread-safe,
    and the service renders and previews on different threads.
    """
    landmarker = getattr(_per_thread, "landmarker", None)
    if landmarker is None:
        landmarker = _per_thread.landmarker = FaceLandmarker()
    return landmarker



def locate_faces(rgb_uint8_hwc: np.ndarray, landmarker: FaceLandmarker | None = None):
    """(landmarks of the face used or None, every face box): see ``FaceLandmarker.locate``."""
    return (landmarker or default_landmarker()).locate(rgb_uint8_hwc)


def locate_all_faces(rgb_uint8_hwc: np.ndarray, landmarker: FaceLandmarker | None = None):
    """Every face's (box, landmarks): see ``FaceLandmarker.locate_all``."""
    return (landmarker or default_landmarker()).locate_all(rgb_uint8_hwc)


def several_faces_warning(frame: int, boxes: list[tuple[int, int, int, int]]) -> str | None:
    """The artist-facing note when a frame shows more than one face (None for one face)."""
    if len(boxes) < 2:
        return None
    left, top, right, bottom = boxes[-1]
    return (f"frame {frame} shows {len(boxes)} faces; the crop follows the face at x {left}-{right}, "
            f"y {top}-{bottom} (the last one found, as the official code does): crop the plate to one "
            "face to choose another")


def find_landmarks(rgb_uint8_hwc: np.ndarray, landmarker: FaceLandmarker | None = None) -> np.ndarray | None:
    """68x2 int landmarks ``[x, y]`` of the last face dlib finds in an RGB uint8 frame, or None."""
    return locate_faces(rgb_uint8_hwc, landmarker)[0]
