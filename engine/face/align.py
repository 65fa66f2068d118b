"""FFHQ-style face alignment: the 256x256 face the pSp encoder expects.

Follows the official ``align_face`` (``model/encoder/align_all_parallel.py``, after the FFHQ dataset
script) step by step: oriented quad from eyes and mouth, optional Lanczos shrink, crop with a border,
reflect padding blended towards a blurred copy and the median colour, then Pillow's QUAD transform
(bilinear) to 256x256. Departure: ``scipy.ndimage.gaussian_filter`` is replaced by an equivalent
separable Gaussian (same truncation at 4 sigma, same half-sample "reflect" border) computed with
OpenCV, so padded results can differ from the official ones by float rounding (<< 1 grey level).

The geometry is computed separately (``plan_alignment``) so it can be stored, inspected and tested
against the official trace without touching pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from engine.errors import InputError

OUTPUT_SIZE = 256
"""Side of the aligned face (the official ``output_size == transform_size == 256``)."""
GAUSS_TRUNCATE = 4.0
"""scipy's default ``truncate``: the kernel radius is ``int(4 * sigma + 0.5)``."""


@dataclass(frozen=True)
class FaceQuad:
    """Oriented square around the face, in source pixels (float64)."""

    eye_left: np.ndarray  # [2] mean of landmarks 36..41 (image-left eye)
    eye_right: np.ndarray  # [2] mean of landmarks 42..47
    eye_avg: np.ndarray  # [2]
    eye_to_eye: np.ndarray  # [2]
    mouth_avg: np.ndarray  # [2] midpoint of mouth corners 48 and 54
    eye_to_mouth: np.ndarray  # [2]
    center: np.ndarray  # [2] official ``c``
    x_vec: np.ndarray  # [2] half side, along the eyes
    y_vec: np.ndarray  # [2] half side, towards the mouth
    quad: np.ndarray  # [4,2] corners: top-left, bottom-left, bottom-right, top-right
    qsize: float
    """Side length of the quad."""


@dataclass(frozen=True)
class AlignmentPlan:
    """Every integer decision of the official alignment for one frame size."""

    face: FaceQuad
    shrink: int
    """floor(qsize / 256 / 2); the image is shrunk only when this is > 1."""
    resized_size: tuple[int, int] | None
    """(width, height) after the Lanczos shrink, None when not shrunk."""
    border: int
    crop_box: tuple[int, int, int, int]
    """(left, top, right, bottom) crop of the (shrunk) image, clamped to it."""
    cropped: bool
    pad: tuple[int, int, int, int]
    """(left, top, right, bottom) reflect padding; enlarged to 0.3*qsize when applied."""
    padded: bool
    blur_sigma: float
    """Gaussian sigma (pixels) of the padding blend; only used when ``padded``."""
    quad: np.ndarray
    """[4,2] quad in the coordinates of the image handed to the QUAD transform."""

    @property
    def shrunk(self) -> bool:
        return self.resized_size is not None


def face_quad(landmarks: np.ndarray) -> FaceQuad:
    """Oriented crop square from 68 landmarks (official auxiliary vectors, float64)."""
    lm = np.asarray(landmarks)
    if lm.shape != (68, 2):
        raise InputError(f"expected 68x2 landmarks, got shape {lm.shape}", fix="use dlib's 68-point model")
    eye_left = np.mean(lm[36:42], axis=0)
    eye_right = np.mean(lm[42:48], axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_left, mouth_right = lm[48], lm[54]
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    # x: along the eye line, corrected by the eye->mouth direction turned 90 degrees.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])  # [4,2]
    qsize = float(np.hypot(*x) * 2)
    return FaceQuad(eye_left, eye_right, eye_avg, eye_to_eye, mouth_avg, eye_to_mouth, c, x, y, quad, qsize)


def _bounds(quad: np.ndarray) -> tuple[int, int, int, int]:
    """Integer bounding box (floor of mins, ceil of maxes) of a [4,2] quad."""
    return (
        int(np.floor(min(quad[:, 0]))),
        int(np.floor(min(quad[:, 1]))),
        int(np.ceil(max(quad[:, 0]))),
        int(np.ceil(max(quad[:, 1]))),
    )


def plan_alignment(landmarks: np.ndarray, frame_hw: tuple[int, int], output_size: int = OUTPUT_SIZE) -> AlignmentPlan:
    """All geometry of ``align_face`` for a frame of size (H, W), without touching pixels.

    ``output_size``: side of the aligned face (256 for pSp; a StyleGAN's own resolution, e.g. 1024, when
    style images are put into the FFHQ layout for fine-tuning); only the pre-shrink depends on it."""
    face = face_quad(landmarks)
    quad = face.quad.copy()
    qsize = face.qsize
    width, height = int(frame_hw[1]), int(frame_hw[0])

    shrink = int(np.floor(qsize / output_size * 0.5))
    resized_size = None
    if shrink > 1:
        resized_size = (int(np.rint(float(width) / shrink)), int(np.rint(float(height) / shrink)))
        width, height = resized_size
        quad /= shrink
        qsize /= shrink

    border = max(int(np.rint(qsize * 0.1)), 3)
    raw = _bounds(quad)
    crop_box = (
        max(raw[0] - border, 0),
        max(raw[1] - border, 0),
        min(raw[2] + border, width),
        min(raw[3] + border, height),
    )
    cropped = crop_box[2] - crop_box[0] < width or crop_box[3] - crop_box[1] < height
    if cropped:
        width, height = crop_box[2] - crop_box[0], crop_box[3] - crop_box[1]
        quad -= crop_box[0:2]

    raw = _bounds(quad)
    pad = (
        max(-raw[0] + border, 0),
        max(-raw[1] + border, 0),
        max(raw[2] - width + border, 0),
        max(raw[3] - height + border, 0),
    )
    padded = max(pad) > border - 4
    if padded:
        pad = tuple(int(v) for v in np.maximum(pad, int(np.rint(qsize * 0.3))))
        quad += pad[:2]
    return AlignmentPlan(
        face=face,
        shrink=shrink,
        resized_size=resized_size,
        border=border,
        crop_box=crop_box,
        cropped=cropped,
        pad=pad,
        padded=padded,
        blur_sigma=qsize * 0.02,
        quad=quad,
    )


def gaussian_blur_reflect(img: np.ndarray, sigma: float) -> np.ndarray:
    """scipy ``gaussian_filter(img, [sigma, sigma, 0])`` equivalent: HxWxC float32 -> same.

    Kernel: exp(-x^2 / 2 sigma^2) for |x| <= int(4 sigma + 0.5), normalised; border: half-sample
    symmetric (scipy 'reflect' == OpenCV BORDER_REFLECT, not reflect-101).
    """
    radius = int(GAUSS_TRUNCATE * float(sigma) + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    return cv2.sepFilter2D(img, cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT)


def _pad_and_blend(img: np.ndarray, pad: tuple[int, int, int, int], blur_sigma: float) -> np.ndarray:
    """Reflect-pad HxWx3 uint8 and fade the padding to a blurred copy, then to the median colour."""
    left, top, right, bottom = (np.int64(v) for v in pad)  # int64 divisors: the ramps become float64
    padded = np.pad(np.float32(img), ((top, bottom), (left, right), (0, 0)), "reflect")  # [H',W',3]
    h, w, _ = padded.shape
    ys, xs = np.ogrid[:h, :w]
    ramp_x = 1.0 - np.minimum(np.float32(xs) / left, np.float32(w - 1 - xs) / right)  # [1,W']
    ramp_y = 1.0 - np.minimum(np.float32(ys) / top, np.float32(h - 1 - ys) / bottom)  # [H',1]
    mask = np.maximum(ramp_x, ramp_y)[:, :, None]  # [H',W',1], 0 inside, rising to 1 at the edges
    blurred = gaussian_blur_reflect(padded, blur_sigma)
    padded += (blurred - padded) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    padded += (np.median(padded, axis=(0, 1)) - padded) * np.clip(mask, 0.0, 1.0)
    return np.uint8(np.clip(np.rint(padded), 0, 255))


def align_face(rgb: np.ndarray, landmarks: np.ndarray, plan: AlignmentPlan | None = None,
               output_size: int = OUTPUT_SIZE) -> np.ndarray:
    """HxWx3 uint8 RGB + its 68 landmarks -> ``output_size`` (256) square uint8 aligned face (official
    ``align_face``; ``plan`` must have been made for the same ``output_size``)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(
            f"face alignment needs a uint8 HxWx3 RGB array, got {getattr(rgb, 'dtype', type(rgb))} "
            f"{getattr(rgb, 'shape', '')}",
            fix="decode the frame to 8-bit RGB first",
        )
    plan = plan or plan_alignment(landmarks, rgb.shape[:2], output_size)
    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if plan.resized_size is not None:
        img = img.resize(plan.resized_size, Image.Resampling.LANCZOS)
    if plan.cropped:
        img = img.crop(plan.crop_box)
    if plan.padded:
        img = Image.fromarray(_pad_and_blend(np.asarray(img), plan.pad, plan.blur_sigma), "RGB")
    img = img.transform(
        (output_size, output_size),
        Image.Transform.QUAD,
        tuple((plan.quad + 0.5).flatten()),
        Image.Resampling.BILINEAR,
    )
    return np.asarray(img)  # [S,S,3] uint8
