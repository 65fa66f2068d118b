"""What a backend returns (a stylized crop and its mattes) and the matte names both backends share.

Kept apart from the backends so that the frame writer, the classic backend and the panel import it without
torch (``backends.py``, the VToonify backend, needs torch; a classic job never imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import ConfigError

PARSING_NAMES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
                 "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")
"""BiSeNet's 19 classes in output-channel order (CelebAMask-HQ labels)."""


@dataclass
class Stylized:
    rgb: np.ndarray
    """[4h,4w,3] float32 sRGB in [0,1]."""
    mattes: dict[str, np.ndarray] = field(default_factory=dict)
    """class name -> [4h,4w] float32 coverage."""


def matte_selection(names: str | None, available: tuple[str, ...]) -> tuple[str, ...]:
    if names is None:
        return available
    wanted = tuple(n.strip() for n in names.split(",") if n.strip())
    unknown = [n for n in wanted if n not in PARSING_NAMES]
    if unknown:
        raise ConfigError(f"unknown matte class {', '.join(unknown)}",
                          f"use names from: {', '.join(PARSING_NAMES[1:])}")
    return tuple(n for n in wanted if n in available)


def crop_space(landmarks, crop, source_size) -> np.ndarray:
    """Source-pixel landmarks [68,2] -> float pixels of ``crop`` (resized frame, minus the crop offset)."""
    sx, sy = crop.w / source_size[0], crop.h / source_size[1]
    points = np.asarray(landmarks, np.float64)
    return np.stack([points[:, 0] * sx - crop.left, points[:, 1] * sy - crop.top], 1)
