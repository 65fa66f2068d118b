"""Official ``--scale_image`` crop: rescale so the eyes are 64 px apart, crop ~400 px around them.

Reproduces ``util.get_video_crop_parameter`` and the frame preparation of ``style_transfer.py``:
the first frame's landmarks fix one set of parameters that every later frame of the shot reuses,
so the crop is stable over time (and can be stored in the job sidecar via ``to_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import ConfigError, InputError

EYE_DISTANCE_PX = 64.0
"""Horizontal distance of the eye centres after scaling (the official constant)."""
DEFAULT_PADDING = (200, 200, 200, 200)
"""Official ``--padding``: left, right, top, bottom around the eye centre, in scaled pixels."""
PREBLUR_KERNEL = np.array([[0.125], [0.375], [0.375], [0.125]])  # [4,1] float64, [1,3,3,1]/8
"""Anti-alias kernel applied before shrinking (``style_transfer.py`` ``kernel_1d``)."""
PREBLUR_THRESHOLDS = (0.75, 0.375)
"""One blur pass per threshold the scale is at or below."""

LEFT_EYE = slice(36, 42)  # dlib: eye on the image's left
RIGHT_EYE = slice(42, 48)  # dlib: eye on the image's right


@dataclass(frozen=True)
class CropParams:
    """Resize to (w, h), then keep rows [top, bottom) and columns [left, right)."""

    h: int
    """Height of the rescaled frame."""
    w: int
    """Width of the rescaled frame."""
    top: int
    bottom: int
    left: int
    right: int
    scale: float
    """Rescale factor = 64 / eye x-distance (<1 shrinks)."""

    def __post_init__(self) -> None:
        if not (0 <= self.top < self.bottom <= self.h and 0 <= self.left < self.right <= self.w):
            raise ConfigError(
                f"crop window rows {self.top}:{self.bottom}, cols {self.left}:{self.right} does not fit "
                f"a {self.w}x{self.h} frame",
                fix="recompute the crop parameters from the shot's landmarks",
            )
        if not self.scale > 0:
            raise ConfigError(f"crop scale must be positive, got {self.scale}", fix="recompute the crop")

    @property
    def crop_size(self) -> tuple[int, int]:
        """(height, width) of the cropped frame; both divisible by 8 except at frame edges."""
        return self.bottom - self.top, self.right - self.left

    def as_tuple(self) -> tuple[int, int, int, int, int, int, float]:
        """The official return order ``h, w, top, bottom, left, right, scale``."""
        return (self.h, self.w, self.top, self.bottom, self.left, self.right, self.scale)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CropParams:
        try:
            return cls(
                **{
                    f.name: (float if f.name == "scale" else int)(data[f.name])
                    for f in dataclasses.fields(cls)
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad crop parameters {data!r}: {exc}", fix="re-run the shot analysis") from exc


def crop_parameters(
    landmarks: np.ndarray, frame_hw: tuple[int, int], padding: tuple[int, int, int, int] = DEFAULT_PADDING
) -> CropParams:
    """Official crop for a frame of size ``frame_hw`` = (H, W) with 68x2 landmarks.

    Same float64 operation order as the official code so the Python ``round`` (halves to even)
    and the ``// 8 * 8`` snapping land on identical integers.
    """
    lm = np.asarray(landmarks)
    if lm.shape != (68, 2):
        raise InputError(f"expected 68x2 landmarks, got shape {lm.shape}", fix="use dlib's 68-point model")
    pad_left, pad_right, pad_top, pad_bottom = padding
    eye_left = np.mean(lm[LEFT_EYE], axis=0)  # [2]
    eye_right = np.mean(lm[RIGHT_EYE], axis=0)  # [2]
    eye_dx = eye_right[0] - eye_left[0]
    if not eye_dx > 0:
        raise InputError(
            "the eyes are not side by side (face turned or upside down): cannot derive the crop scale",
            fix="pick a frame where the face is roughly upright and frontal",
        )
    scale = EYE_DISTANCE_PX / eye_dx
    center = ((eye_right + eye_left) / 2) * scale  # [2] (x, y) in rescaled pixels
    h, w = round(frame_hw[0] * scale), round(frame_hw[1] * scale)
    left = max(round(center[0] - pad_left), 0) // 8 * 8
    right = min(round(center[0] + pad_right), w) // 8 * 8
    top = max(round(center[1] - pad_top), 0) // 8 * 8
    bottom = min(round(center[1] + pad_bottom), h) // 8 * 8
    if not (top < bottom and left < right):
        raise InputError(
            f"the face sits too close to the frame edge to crop around it (rows {top}:{bottom}, "
            f"cols {left}:{right} of a {w}x{h} rescaled frame)",
            fix="pick a frame where the whole face is inside the picture",
        )
    return CropParams(int(h), int(w), int(top), int(bottom), int(left), int(right), float(scale))


def num_preblurs(scale: float) -> int:
    """How many [1,3,3,1]/8 blur passes precede the resize: 0, 1 (scale <= 0.75) or 2 (<= 0.375)."""
    return sum(1 for threshold in PREBLUR_THRESHOLDS if scale <= threshold)


def scale_and_crop(rgb: np.ndarray, params: CropParams) -> np.ndarray:
    """Pre-blur, resize to (w, h) bilinear, crop: HxWx3 uint8 -> (bottom-top)x(right-left)x3 uint8.

    OpenCV defaults on purpose (even kernel with default anchor, reflect-101 border, uint8 rounding)
    because the official frames went through exactly those calls. The crop is copied out: a view would
    keep the whole rescaled frame (scale squared times the plate: ~80 MB for a small face on a 1080p
    plate) alive for as long as the crop waits in the render's queues.
    """
    frame = np.ascontiguousarray(rgb)
    for _ in range(num_preblurs(params.scale)):
        frame = cv2.sepFilter2D(frame, -1, PREBLUR_KERNEL, PREBLUR_KERNEL)
    frame = cv2.resize(frame, (params.w, params.h))
    return frame[params.top : params.bottom, params.left : params.right].copy()
