"""Put the 4x stylized crop back over the source frame, with a feathered alpha.

Coordinates follow OpenCV's half-pixel convention (``cv2.resize`` maps pixel centres
``(p + 0.5) * s - 0.5``), so a stylized pixel ``u`` of the 4x crop lands at output position

    o = ((u + 0.5) / 4 + left) * (W / w) * scale - 0.5

per axis, where ``W`` is the source width, ``w`` the resized (eye distance 64 px) width, ``left`` the
crop's offset in the resized frame and ``scale`` the output resolution multiplier. Both backends meet
that 4x grid: the classic one by construction (each crop pixel becomes a centred 4x4 block, strokes
kept in place: tests/pipeline/test_plate_registration.py measures its plate output within 0.1 px of
the plate), VToonify by its architecture (exactly 4x, with one constant offset that trained weights
fix: tests/pipeline/test_vtoonify_grid.py). The placed element
covers only the crop's box; the EXR data window is that box, the display window the whole plate.

A crop that reaches a frame edge stops up to 7 resized px short of it (the official crop snaps its
edges to multiples of 8), so the stylized picture ends a few plate pixels before the frame does. Those
pixels are filled by mirroring the stylized picture at its edge (``reach_edges``): otherwise a strip of
the unstylized plate would show there, with a hard edge, in every comp over the plate.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

FEATHER_FRACTION = 0.06
"""Feather width as a fraction of the crop's shorter side (only on edges inside the frame)."""

EDGE_GAP_PX = 8
"""Crop edges closer than this to the frame edge (in resized pixels; the official crop snaps edges to
multiples of 8, so a crop meant to reach the edge can stop up to 7 px short) are not feathered."""


@dataclass(frozen=True)
class Placement:
    """Where the stylized crop goes in the output image."""

    out_size: tuple[int, int]
    """Output image (display window) width, height."""
    window: tuple[int, int, int, int]
    """Data window x0, y0, x1, y1 (exclusive) in output pixels."""
    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    """Affine map from stylized-crop pixels to data-window pixels."""
    feather_edges: tuple[bool, bool, bool, bool]
    """Feather left, right, top, bottom (False where the crop touches the frame edge)."""
    stylized_size: tuple[int, int]
    """Width, height of the stylized crop this placement takes."""
    reach_edges: tuple[bool, bool, bool, bool] = (False, False, False, False)
    """Left, right, top, bottom: the window runs to the frame edge there and the few pixels the crop
    stops short of it are filled by mirroring the stylized picture (the crop meant to reach the edge)."""

    @functools.cached_property
    def alpha(self) -> np.ndarray:
        """The crop's feathered alpha [H,W] in stylized pixels: computed once per job, not per frame."""
        return feather_alpha(self.stylized_size, self.feather_edges)

    @property
    def window_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.window
        return x1 - x0, y1 - y0


def preblur_shift(crop_scale: float) -> float:
    """How far (source px, right and down) the official crop's pre-blur moves the picture: its
    [1,3,3,1]/8 kernel is even, and OpenCV anchors it at tap 2, so each pass samples half a pixel up
    and left of the centre. Kept in the crop (official parity), undone here: a face shrunk by 0.75 or
    less sat 0.5 px off its plate, by 0.375 or less 1 px."""
    from engine.face.crop import num_preblurs

    return 0.5 * num_preblurs(crop_scale)


def plate_box(crop, source_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The plate region (source px: left, top, right, bottom) a crop's picture shows, pre-blur shift
    included: what the ``vtoonify/crop_box`` and ``vtoonify/faces`` headers tell a compositor."""
    sx, sy = source_size[0] / crop.w, source_size[1] / crop.h
    shift = preblur_shift(crop.scale)
    return crop.left * sx - shift, crop.top * sy - shift, crop.right * sx - shift, crop.bottom * sy - shift


def plan_plate_placement(crop, source_size: tuple[int, int], scale: float, stylized_size: tuple[int, int]
                         ) -> Placement:
    """Placement of a stylized crop (``stylized_size`` = 4x crop w,h) over a plate of ``source_size``."""
    src_w, src_h = source_size
    out_w, out_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    kx = src_w * scale / crop.w   # output px per resized px
    ky = src_h * scale / crop.h
    sw, sh = stylized_size
    ax, ay = kx * (crop.right - crop.left) / sw, ky * (crop.bottom - crop.top) / sh
    shift = preblur_shift(crop.scale) * scale  # in output px
    bx = (0.5 * (crop.right - crop.left) / sw + crop.left) * kx - 0.5 - shift
    by = (0.5 * (crop.bottom - crop.top) / sh + crop.top) * ky - 0.5 - shift
    edges = (crop.left >= EDGE_GAP_PX, crop.w - crop.right >= EDGE_GAP_PX,
             crop.top >= EDGE_GAP_PX, crop.h - crop.bottom >= EDGE_GAP_PX)
    reach = tuple(not feathered for feathered in edges)
    x0 = 0 if reach[0] else max(0, math.floor(crop.left * kx - shift))
    y0 = 0 if reach[2] else max(0, math.floor(crop.top * ky - shift))
    x1 = out_w if reach[1] else min(out_w, math.ceil(crop.right * kx - shift))
    y1 = out_h if reach[3] else min(out_h, math.ceil(crop.bottom * ky - shift))
    matrix = ((ax, 0.0, bx - x0), (0.0, ay, by - y0))
    return Placement((out_w, out_h), (x0, y0, x1, y1), matrix, edges, (sw, sh), reach)


def plan_crop_placement(stylized_size: tuple[int, int], scale: float) -> Placement:
    """``--output-space crop``: the native 4x crop, only scaled."""
    sw, sh = stylized_size
    out_w, out_h = max(1, round(sw * scale)), max(1, round(sh * scale))
    ax, ay = out_w / sw, out_h / sh
    matrix = ((ax, 0.0, 0.5 * ax - 0.5), (0.0, ay, 0.5 * ay - 0.5))
    return Placement((out_w, out_h), (0, 0, out_w, out_h), matrix, (False, False, False, False), (sw, sh))


def feather_alpha(size: tuple[int, int], edges: tuple[bool, bool, bool, bool],
                  fraction: float = FEATHER_FRACTION) -> np.ndarray:
    """Alpha of the stylized crop [H,W]: 1 inside, a linear ramp to 0 over the feathered edges."""
    w, h = size
    width = max(1.0, fraction * min(w, h))

    def ramp(n: int, start: bool, end: bool) -> np.ndarray:
        pos = np.arange(n, dtype=np.float32) + 0.5
        a = np.ones(n, dtype=np.float32)
        if start:
            a = np.minimum(a, pos / width)
        if end:
            a = np.minimum(a, (n - pos) / width)
        return np.clip(a, 0.0, 1.0)

    left, right, top, bottom = edges
    return np.outer(ramp(h, top, bottom), ramp(w, left, right)).astype(np.float32)


def warp_to_window(img: np.ndarray, placement: Placement) -> np.ndarray:
    """Resample ``img`` [H,W,C] (stylized-crop pixels) into the data window, zero outside.

    A strong downscale is first done with area averaging so the bilinear warp does not alias.
    """
    matrix = np.array(placement.matrix, dtype=np.float64)
    channels_last = img.ndim == 3
    h, w = img.shape[:2]
    factor = min(matrix[0, 0], matrix[1, 1])
    if factor < 0.75:
        nw, nh = max(1, round(w * matrix[0, 0])), max(1, round(h * matrix[1, 1]))
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        rx, ry = w / nw, h / nh                   # old px per new px: u = (u' + 0.5) r - 0.5
        matrix = np.array([
            [matrix[0, 0] * rx, 0.0, matrix[0, 2] + matrix[0, 0] * (0.5 * rx - 0.5)],
            [0.0, matrix[1, 1] * ry, matrix[1, 2] + matrix[1, 1] * (0.5 * ry - 0.5)],
        ])
    out = cv2.warpAffine(np.ascontiguousarray(img), matrix, placement.window_size, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if out.ndim == 2 and channels_last:
        out = out[:, :, None]
    if any(placement.reach_edges):
        mirror_to_edges(out, matrix, img.shape[1::-1], placement.reach_edges)
    return out


def mirror_to_edges(out: np.ndarray, matrix: np.ndarray, size: tuple[int, int],
                    reach: tuple[bool, bool, bool, bool]) -> None:
    """Fill, in place, the window's pixels beyond the last ones the warp took whole from ``size`` (w, h)
    source pixels (their centres inside the picture's outermost centres), on the ``reach`` sides, with
    the pixels mirrored about that last whole one. The strip is at most a few pixels wide."""
    for axis, (low, high) in ((1, reach[:2]), (0, reach[2:])):
        scale, offset, n = matrix[1 - axis, 1 - axis], matrix[1 - axis, 2], out.shape[axis]
        first = max(0, math.ceil(offset - 1e-6))                             # centre of source pixel 0
        last = min(n - 1, math.floor(scale * (size[1 - axis] - 1) + offset + 1e-6))  # the last one's
        if first > last:
            continue
        index = np.arange(n)
        if low:
            index = np.where(index < first, np.minimum(2 * first - index, last), index)
        if high:
            index = np.where(index > last, np.maximum(2 * last - index, first), index)
        if not np.array_equal(index, np.arange(n)):
            out[...] = np.take(out, index, axis=axis)


def place_rgba(rgb: np.ndarray, placement: Placement) -> np.ndarray:
    """Premultiplied RGBA [h,w,4] float32 in the data window from a stylized sRGB-or-linear crop."""
    alpha = placement.alpha
    premult = np.concatenate([rgb * alpha[:, :, None], alpha[:, :, None]], axis=2).astype(np.float32)
    return warp_to_window(premult, placement)


def place_matte(matte: np.ndarray, placement: Placement) -> np.ndarray:
    """A matte [H,W] in stylized-crop pixels -> [h,w] in the data window (times the crop's alpha)."""
    return warp_to_window((matte * placement.alpha).astype(np.float32)[:, :, None], placement)[:, :, 0]


def composite_over(element_rgba: np.ndarray, plate: np.ndarray, placement: Placement) -> np.ndarray:
    """Premultiplied element over a plate [H,W,3] (same space, already at output size)."""
    out = plate.astype(np.float32).copy()
    x0, y0, x1, y1 = placement.window
    region = out[y0:y1, x0:x1]
    alpha = element_rgba[:, :, 3:4]
    out[y0:y1, x0:x1] = element_rgba[:, :, :3] + region * (1.0 - alpha)
    return out
