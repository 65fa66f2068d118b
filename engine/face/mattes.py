"""Soft face-part mattes drawn from the 68 dlib landmarks (the classic backend has no parser).

Gives the same class names as the BiSeNet parser (``engine.face.PARSING_CLASSES``) so compositors
see one set of matte layers whichever backend rendered the shot. Parts are exclusive like parser
labels: ``skin`` is the face oval (jaw line closed over a forehead estimated above the brows) minus
every other part, and all mattes of a pixel sum to at most 1. Edges are anti-aliased (sub-pixel
polygon fill) and feathered by a Gaussian whose width follows the face size.

Left/right: ``l_*`` is the part on the **image's left** (dlib points 17-21 brow, 36-41 eye; the
official code calls these ``lm_eye_left``). That is also how the CelebAMask-HQ labels are commonly
read (``l_eye`` on the image's left for a frontal face); we found no official statement of the
convention, so it is kept in one place (``_PART_POINTS``) to be swapped if a parser disagrees.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.errors import InputError

MATTE_CLASSES: tuple[str, ...] = (
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
)
"""Classes drawn from landmarks, in the parser's class order."""

_SUBPIXEL_BITS = 4  # cv2.fillPoly shift: vertices on a 1/16 px grid
_BROW_THICKNESS = 0.12  # of the eye-centre distance, pushed from the brow line towards the eye
_FOREHEAD_RAISE = 0.55  # of the eye-to-mouth distance, brows raised to close the face oval
_FEATHER_SIGMA = 0.025  # Gaussian sigma, fraction of the eye-centre distance (>= 0.5 px)

_PART_POINTS: dict[str, tuple[int, ...]] = {
    "l_eye": tuple(range(36, 42)),
    "r_eye": tuple(range(42, 48)),
    "nose": (27, 31, 32, 33, 34, 35),
    "mouth": tuple(range(60, 68)),  # inner lip contour = the opening
    "u_lip": (48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60),
    "l_lip": (54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64),
}
_BROWS = {"l_brow": tuple(range(17, 22)), "r_brow": tuple(range(22, 27))}


def _face_axes(lm: np.ndarray) -> tuple[float, np.ndarray]:
    """(eye-centre distance px, unit vector pointing from the eyes down to the mouth)."""
    eye_l, eye_r = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    eye_dist = float(np.hypot(*(eye_r - eye_l)))
    down = (lm[48] + lm[54]) / 2 - (eye_l + eye_r) / 2
    norm = float(np.hypot(*down))
    if eye_dist < 1e-6 or norm < 1e-6:
        raise InputError("landmarks are degenerate (eyes or mouth coincide)", fix="use detected landmarks")
    return eye_dist, down / norm


def _part_polygons(lm: np.ndarray) -> dict[str, np.ndarray]:
    """Each class's polygon as [K,2] float64 pixel coordinates."""
    eye_dist, down = _face_axes(lm)
    polys = {name: lm[list(idx)] for name, idx in _PART_POINTS.items()}
    for name, idx in _BROWS.items():
        top = lm[list(idx)]  # [5,2] dlib traces the brow's upper edge
        polys[name] = np.concatenate([top, (top + down * eye_dist * _BROW_THICKNESS)[::-1]])
    eye_to_mouth = float(np.hypot(*((lm[48] + lm[54]) / 2 - (lm[36:48].mean(axis=0)))))
    forehead = lm[26:16:-1] - down * eye_to_mouth * _FOREHEAD_RAISE  # [10,2] right brow -> left brow
    polys["skin"] = np.concatenate([lm[0:17], forehead])
    return polys


def _fill(shape_hw: tuple[int, int], poly: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Anti-aliased filled polygon in [0,1]: float32 HxW."""
    canvas = np.zeros(shape_hw, np.uint8)
    pts = np.round((poly - origin) * (1 << _SUBPIXEL_BITS)).astype(np.int32)[None]  # [1,K,2]
    cv2.fillPoly(canvas, pts, 255, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return canvas.astype(np.float32) / 255.0


def landmark_mattes(landmarks: np.ndarray, frame_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """68x2 landmarks -> {class: float32 HxW in [0,1]} for every name in ``MATTE_CLASSES``.

    Work happens in the face's bounding box (plus feather margin) so large plates stay cheap.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise InputError(f"expected 68x2 landmarks, got shape {lm.shape}", fix="use dlib's 68-point model")
    height, width = int(frame_hw[0]), int(frame_hw[1])
    eye_dist, _ = _face_axes(lm)
    sigma = max(0.5, eye_dist * _FEATHER_SIGMA)
    polys = _part_polygons(lm)

    margin = int(np.ceil(3 * sigma)) + 2
    every = np.concatenate(list(polys.values()))
    x0 = int(np.clip(np.floor(every[:, 0].min()) - margin, 0, width))
    y0 = int(np.clip(np.floor(every[:, 1].min()) - margin, 0, height))
    x1 = int(np.clip(np.ceil(every[:, 0].max()) + margin + 1, 0, width))
    y1 = int(np.clip(np.ceil(every[:, 1].max()) + margin + 1, 0, height))
    out = {name: np.zeros((height, width), np.float32) for name in MATTE_CLASSES}
    if x1 <= x0 or y1 <= y0:  # face entirely outside the frame
        return out

    roi_hw, origin = (y1 - y0, x1 - x0), np.array([x0, y0], np.float64)
    soft = {}
    for name in MATTE_CLASSES:
        hard = _fill(roi_hw, polys[name], origin)
        soft[name] = cv2.GaussianBlur(hard, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    # Exclusive like parser labels: where feathered parts overlap (lips over a closed mouth) they
    # share the pixel in proportion, and skin gets only what the parts leave.
    names = [n for n in MATTE_CLASSES if n != "skin"]
    parts_sum = np.sum(np.stack([soft[n] for n in names]), axis=0)  # [h,w]
    share = 1.0 / np.maximum(parts_sum, 1.0)
    for name in names:
        soft[name] = soft[name] * share
    soft["skin"] = np.minimum(soft["skin"], 1.0 - np.minimum(parts_sum, 1.0))
    for name in MATTE_CLASSES:
        out[name][y0:y1, x0:x1] = np.clip(soft[name], 0.0, 1.0)
    return out
