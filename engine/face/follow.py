"""Crops that follow their face over a shot (``--follow-faces``): linking, gap filling, smoothing, snapping.

Why each step: dlib misses faces on some frames (gaps are interpolated, ends held); its landmarks
jitter by a pixel or two (the crop centre is smoothed with a centred, zero-phase moving average whose
ends are padded by point reflection, so steady motion is followed without lag); the network sees a
shifted crop as a shifted image only when the shift is a multiple of its encoder's downsampling
(``downsampling_factor``), so offsets are snapped to that step, with hysteresis so a still face keeps
one offset and gives identical pixels frame to frame. The crop's size and scale never change: the
network's scale, and so the look, stays that of the face's first sighting.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from engine.face.tracks import MOTION_SIGHTINGS, best_first_pairs, iou, look_allows, predicted_box, resume_pairs

SMOOTH_FRAMES = 9
"""Width of the centred moving average over crop centres (frames; odd)."""

HYSTERESIS = 0.25
"""An offset moves only when its target is more than (0.5 + this) steps away: no flicker between two."""

DEFAULT_STEP = 8
"""Snapping step without a network to measure (the classic look): the official crop grid."""


def downsampling_factor(module) -> int:
    """Total downsampling of a chain of layers (product of the strides of its convolutions and pools):
    an input shifted by a multiple of it gives a shifted output away from the borders."""
    import torch.nn as nn

    factor = 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            stride = layer.stride if isinstance(layer.stride, tuple) else (layer.stride,)
            factor *= int(stride[0])
    return factor


def eye_centre(landmarks) -> tuple[float, float]:
    """Centre between the eyes in source pixels: where the official crop is centred."""
    points = np.asarray(landmarks, np.float64)
    centre = (points[36:42].mean(axis=0) + points[42:48].mean(axis=0)) / 2
    return float(centre[0]), float(centre[1])


SEARCH_MARGIN = 1.0
"""dlib searches each followed face within its last box grown by this many box sides on every side."""


LOST_AFTER = 2
"""A followed face not found on this many searched frames in a row is lost: searched for on the whole frame."""

REACQUIRE_EVERY = 4
"""While a face is lost the whole frame is searched on every this-many-th frame (a whole-frame search
costs several times a window's), so a face that comes back elsewhere is found within that many frames."""


class SeedLinker:
    """Links each frame's faces to the seeded faces, frame by frame, and says where to search next.

    A seed is (first frame, box). From its first frame on, a face takes the box that best continues its
    motion (``tracks.best_first_pairs`` with ``predicted_box``: best pair first, ties by face then box
    order), so faces that cross keep their identities. With looks (``looks``: each seed's, and a third
    item per detection), a box is linked by position only where ``tracks.look_allows`` it, and a box no face
    continues is given back to a face not found on this frame when its look is that face's and no
    other's (``tracks.resume_pairs``): a face that left the frame keeps its id when it comes back."""

    def __init__(self, frames: list[int], seeds: list[tuple[int, tuple]], looks: list | None = None) -> None:
        self.seeds = seeds
        self.position = {n: i for i, n in enumerate(frames)}
        self.last: list[tuple | None] = [None] * len(seeds)
        self.found: list[dict[int, np.ndarray]] = [{} for _ in seeds]
        self.seen: list[list[tuple[int, tuple]]] = [[] for _ in seeds]
        """Each face's last ``MOTION_SIGHTINGS`` (frame position, box): its motion."""
        self.looks: list = list(looks) if looks is not None else [None] * len(seeds)
        """Each face's latest look (None: unknown)."""
        self.missed = [0] * len(seeds)
        """Searched frames in a row each face was not found on (since its first frame)."""
        self.returned: list[list[int]] = [[] for _ in seeds]
        """Frames where each face was given back by its look."""

    def _activate(self, frame: int) -> None:
        for face, (start, box) in enumerate(self.seeds):
            if self.last[face] is None and self.position[frame] >= self.position[start]:
                self.last[face] = tuple(box)
                self.seen[face] = [(self.position[start], tuple(box))]

    def _predicted(self, frame: int) -> list[tuple | None]:
        return [predicted_box(seen, self.position[frame]) if seen else None for seen in self.seen]

    def windows(self, frame: int, size: tuple[int, int]) -> list[tuple[int, int, int, int]] | None:
        """Where to search ``frame`` (width, height ``size``): around each face's last box and where its
        motion puts it (``predicted_box``), [] when no face is followed yet, None (the whole frame) when
        the boxes would cover half of it or, every ``REACQUIRE_EVERY`` frames, while a face is lost."""
        self._activate(frame)
        if any(m >= LOST_AFTER for m in self.missed) and self.position[frame] % REACQUIRE_EVERY == 0:
            return None
        w, h = size
        out = []
        for last, ahead in ((b, p) for b, p in zip(self.last, self._predicted(frame)) if b is not None):
            grow = SEARCH_MARGIN * max(last[2] - last[0], last[3] - last[1], 1)
            box = (min(last[0], ahead[0]), min(last[1], ahead[1]), max(last[2], ahead[2]), max(last[3], ahead[3]))
            out.append((max(0, int(box[0] - grow)), max(0, int(box[1] - grow)),
                        min(w, int(box[2] + grow) + 1), min(h, int(box[3] + grow) + 1)))
        return None if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in out) > w * h / 2 else out

    def add(self, frame: int, faces: list) -> None:
        """Link ``frame``'s faces [(box, landmarks[, look]), ...] to the followed faces."""
        self._activate(frame)
        looks = [face[2] if len(face) > 2 else None for face in faces]

        def allowed(face: int, k: int) -> bool:
            return look_allows(self.looks[face], looks[k], stale=self.missed[face] > 0)

        links = best_first_pairs(list(self.last), [face[0] for face in faces], self._predicted(frame), allowed)
        linked, used = {face for face, _ in links}, {k for _, k in links}
        lost = [face for face, last in enumerate(self.last) if last is not None and face not in linked]
        left = [k for k in range(len(faces)) if k not in used]
        if lost and left:
            for i, j in resume_pairs([(self.looks[face], self.last[face]) for face in lost],
                                     [(looks[k], faces[k][0]) for k in left]):
                links.append((lost[i], left[j]))
                self.returned[lost[i]].append(frame)
                self.seen[lost[i]] = []  # it came back elsewhere: its old motion does not lead here
        for face, k in links:
            self.last[face] = tuple(faces[k][0])
            self.seen[face] = [*self.seen[face][1 - MOTION_SIGHTINGS:], (self.position[frame], self.last[face])]
            self.found[face][frame] = np.asarray(faces[k][1])
            self.looks[face] = looks[k] if looks[k] is not None else self.looks[face]
        for face, last in enumerate(self.last):
            if last is not None:
                self.missed[face] = 0 if frame in self.found[face] else self.missed[face] + 1


def link_to_seeds(frames: list[int], detections: dict[int, list], seeds: list[tuple[int, tuple]], looks=None
                  ) -> list[dict[int, np.ndarray]]:
    """Each seeded face's landmarks per frame, from ``detections`` (frame -> [(box, landmarks[, look]), ...])."""
    linker = SeedLinker(frames, seeds, looks)
    for frame in frames:
        linker.add(frame, detections.get(frame, []))
    return linker.found


def detect_in(locate, rgb: np.ndarray, windows) -> list:
    """``locate(rgb)`` (every face's (box, landmarks)) over the whole frame (``windows`` None) or only
    inside each window, in frame pixels; a face found in two overlapping windows is kept once."""
    if windows is None:
        return locate(rgb)
    found: list = []
    for x0, y0, x1, y1 in windows:
        for box, points in locate(np.ascontiguousarray(rgb[y0:y1, x0:x1])):
            box = (box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0)
            if all(iou(box, other) < 0.5 for other, _ in found):
                found.append((box, np.asarray(points) + np.array([x0, y0])))
    return found


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """[N, 2] with NaN rows where the face was not found: linear between sightings, held at both ends."""
    values = np.asarray(values, np.float64)
    known = ~np.isnan(values).any(axis=1)
    if not known.any():
        raise ValueError("no sighting to follow")
    index = np.arange(len(values))
    return np.stack([np.interp(index, index[known], values[known, k]) for k in range(values.shape[1])], 1)


def smooth(values: np.ndarray, window: int = SMOOTH_FRAMES) -> np.ndarray:
    """Centred moving average over axis 0, zero phase; the ends are padded by point reflection
    (2 x[0] - x[k]), so a steady motion passes unchanged, right up to the shot's first and last frame."""
    values = np.asarray(values, np.float64)
    half = min(window // 2, len(values) - 1)
    if half <= 0:
        return values.copy()
    head = 2 * values[:1] - values[half:0:-1]
    tail = 2 * values[-1:] - values[-2:-half - 2:-1]
    padded = np.concatenate([head, values, tail])
    kernel = np.full(2 * half + 1, 1.0 / (2 * half + 1))
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], 1)


def snap(targets: np.ndarray, step: int, limit: int, hysteresis: float = HYSTERESIS) -> np.ndarray:
    """Integer offsets, multiples of ``step`` in [0, ``limit``] (rounded down to the step), that follow
    ``targets``: an offset changes only when its target is more than (0.5 + hysteresis) steps away."""
    top = max(0, limit) // step * step
    out = np.empty(len(targets), np.int64)
    held = None
    for i, target in enumerate(np.asarray(targets, np.float64)):
        nearest = int(min(max(round(target / step) * step, 0), top))
        if held is None or abs(min(max(target, 0.0), float(top)) - held) > step * (0.5 + hysteresis):
            held = nearest
        out[i] = held
    return out


def crop_size(padding: tuple[int, int, int, int], resized_hw: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of a following crop: the padding's window, in multiples of 8, within the frame."""
    pad_left, pad_right, pad_top, pad_bottom = padding
    h, w = resized_hw
    width = min(max(8, (pad_left + pad_right) // 8 * 8), w // 8 * 8)
    height = min(max(8, (pad_top + pad_bottom) // 8 * 8), h // 8 * 8)
    return int(width), int(height)


def follow_offsets(centres: np.ndarray, crop, padding: tuple[int, int, int, int], step: int,
                   window: int = SMOOTH_FRAMES) -> tuple[tuple[int, int], np.ndarray]:
    """((width, height), [N, 2] left/top offsets in the resized frame) of a face whose eye centres
    per frame (source pixels, NaN where missed) are ``centres``; ``crop`` (first sighting) gives the
    scale and resized frame size every frame keeps."""
    width, height = crop_size(padding, (crop.h, crop.w))
    centre = smooth(fill_gaps(centres), window) * crop.scale
    lefts = snap(centre[:, 0] - padding[0], step, crop.w - width)
    tops = snap(centre[:, 1] - padding[2], step, crop.h - height)
    return (width, height), np.stack([lefts, tops], 1)


def to_runs(frames: list[int], offsets: np.ndarray) -> list[list[int]]:
    """[[frame, left, top], ...]: an entry wherever the offset changes (the first frame always)."""
    runs: list[list[int]] = []
    for frame, (left, top) in zip(frames, np.asarray(offsets).tolist()):
        if not runs or runs[-1][1:] != [left, top]:
            runs.append([int(frame), int(left), int(top)])
    return runs


def offset_at(runs: list[list[int]], frame: int) -> tuple[int, int]:
    """The (left, top) of ``frame``: the last run starting at or before it (the first run before it)."""
    starts = [r[0] for r in runs]
    index = max(0, bisect.bisect_right(starts, frame) - 1)
    return runs[index][1], runs[index][2]


def runs_problem(runs, frames: list[int], size: tuple[int, int], resized_wh: tuple[int, int], step: int
                 ) -> str | None:
    """Why stored runs cannot be this face's (None when they can): shape, order, range and grid."""
    if not isinstance(runs, list) or not runs or len(runs) > len(frames):
        return "no crop positions"
    if not all(isinstance(r, list) and len(r) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in r) for r in runs):
        return "crop positions are not [frame, left, top] integers"
    known = set(frames)
    starts = [r[0] for r in runs]
    if starts[0] != frames[0] or starts != sorted(set(starts)) or not set(starts) <= known:
        return "crop positions do not start at the shot's first frame in frame order"
    w, h = resized_wh
    for _, left, top in runs:
        if not (0 <= left <= w - size[0] and 0 <= top <= h - size[1]) or left % step or top % step:
            return f"crop position {left},{top} is off the plate or off the {step} px grid"
    return None


def is_step(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64 and math.log2(value) % 1 == 0
