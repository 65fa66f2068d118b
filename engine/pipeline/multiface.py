"""Several stylized faces over one plate: union data window, paint order, per-face mattes and coverage.

Each face is placed exactly as a one-face job places its crop (``placement``), then the faces are
painted back to front: smaller crops first, so the largest face (usually nearest the camera) is on
top where two crops overlap; equal sizes paint in id order. The order holds for the whole shot.
Painting is premultiplied "over", and every face's mattes and coverage are held out by the faces
painted over it, so selecting all faces in a Cryptomatte gives the beauty's alpha and a face's
mattes never show through a face in front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.pipeline.placement import Placement, place_matte, place_rgba


@dataclass(frozen=True)
class FacesFrame:
    """One frame's faces composited into the union of their boxes."""

    window: tuple[int, int, int, int]
    """Union data window x0, y0, x1, y1 (exclusive) in output pixels."""
    rgba: np.ndarray
    """[h, w, 4] premultiplied, the union window's size."""
    mattes: dict[str, np.ndarray]
    """``<face>_<class>`` -> [h, w] coverage, held out by the faces in front."""
    coverage: dict[str, np.ndarray]
    """``<face>`` -> [h, w] that face's share of the alpha (they sum to the alpha)."""


def union_window(placements: list[Placement]) -> tuple[int, int, int, int]:
    windows = [p.window for p in placements]
    return (min(w[0] for w in windows), min(w[1] for w in windows),
            max(w[2] for w in windows), max(w[3] for w in windows))


def union_placement(placements: list[Placement]) -> Placement:
    """A placement whose window is the faces' union (for ``composite_over`` and full-frame pasting)."""
    first = placements[0]
    return Placement(first.out_size, union_window(placements), ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
                     (False, False, False, False), first.stylized_size)


def paint_order(placements: list[Placement]) -> list[int]:
    """Face indices back to front: smaller crops first (ties: lower id).

    A crop's size is its stylized picture's on the plate (``stylized_size`` times the placement's
    scale), not its data window: the window is clipped by the plate and rounded out to whole pixels,
    so two faces of one size got windows 1 px apart by turns as their crops moved, and the face on top
    flickered from frame to frame. The crop's own size is the face's (the official crop scales every
    face to one eye distance) and stays the same all shot."""

    def area(i: int) -> float:
        p = placements[i]
        return round(p.stylized_size[0] * abs(p.matrix[0][0]) * p.stylized_size[1] * abs(p.matrix[1][1]), 3)

    return sorted(range(len(placements)), key=lambda i: (area(i), i))


def composite_faces(names: list[str], results: list, placements: list[Placement], matte_classes: tuple[str, ...],
                    rgb_of=lambda rgb: rgb) -> FacesFrame:
    """Place and paint every face's ``Stylized`` result; ``rgb_of`` maps its sRGB (e.g. to linear)."""
    window = union_window(placements)
    ux0, uy0, ux1, uy1 = window
    canvas = np.zeros((uy1 - uy0, ux1 - ux0, 4), np.float32)
    mattes: dict[str, np.ndarray] = {}
    coverage: dict[str, np.ndarray] = {}
    for i in paint_order(placements):
        placement, result, name = placements[i], results[i], names[i]
        x0, y0, x1, y1 = placement.window
        region = (slice(y0 - uy0, y1 - uy0), slice(x0 - ux0, x1 - ux0))
        element = place_rgba(rgb_of(result.rgb), placement)
        alpha = element[:, :, 3]
        under = 1.0 - alpha
        canvas[region] = element + canvas[region] * under[:, :, None]
        for plane in (*mattes.values(), *coverage.values()):
            plane[region] *= under
        coverage[name] = np.zeros(canvas.shape[:2], np.float32)
        coverage[name][region] = alpha
        for cls in matte_classes:
            if cls in result.mattes:
                plane = np.zeros(canvas.shape[:2], np.float32)
                plane[region] = place_matte(result.mattes[cls], placement)
                mattes[f"{name}_{cls}"] = plane
    ordered_mattes = {f"{n}_{c}": mattes[f"{n}_{c}"] for n in names for c in matte_classes if f"{n}_{c}" in mattes}
    return FacesFrame(window, canvas, ordered_mattes, {n: coverage[n] for n in names})


def face_matte_names(names: list[str], matte_classes: tuple[str, ...]) -> tuple[str, ...]:
    """Matte layer / file names of a several-faces job: ``face01_skin``, ``face01_hair``, ..., ``face02_skin``."""
    return tuple(f"{n}_{c}" for n in names for c in matte_classes)
