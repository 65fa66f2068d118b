"""The classic backend: the non-neural OpenCV look (``classic.py``) with landmark mattes, no model files.

Imports no torch, so a classic job, and the panel asking for its precision, never load it.
"""

from __future__ import annotations

import numpy as np

from engine.pipeline.stylized import Stylized, crop_space, matte_selection


class ClassicBackend:
    """Non-neural toon look (OpenCV) with landmark mattes; needs no weights at all."""

    name = "classic"
    precision = "fp32"  # no network: the job key does not depend on --precision
    matte_classes = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip", "l_lip")

    def __init__(self, config) -> None:
        from engine.pipeline.classic import ClassicStylizer

        self.config = config
        self.stylizer = ClassicStylizer()
        self.mattes = matte_selection(config.matte_classes, self.matte_classes) if config.mattes else ()

    def model_files(self) -> dict[str, str]:
        return {}

    def describe_style(self) -> dict:
        return {"family": "classic", "backbone": "none", "note": "non-neural OpenCV toon look"}

    def style_code(self, rgb, landmarks, crop, several: bool = False, cancel=None):
        return None

    def prepare(self, analysis, wplus, frames: int | None = None, warn=None) -> None:
        faces = analysis.faces or ({"landmarks": analysis.landmarks, "crop": analysis.crop},)
        self.face_landmarks = [crop_space(f["landmarks"], analysis.sighting_crops()[i], analysis.source_size)
                               for i, f in enumerate(faces)]
        self.shot_landmarks = self.face_landmarks[0]
        self.several = bool(analysis.faces)

    def crop_landmarks(self, crop: np.ndarray, face: int = 0) -> np.ndarray:
        """Landmarks of this frame's face in crop pixels.

        dlib's detector needs a margin around a face, and a tight crop has none, so the crop is
        padded with black first; a frame where detection still fails uses the shot's landmarks.
        With several faces the crop may show a neighbour: the face nearest the shot's is taken.
        """
        import cv2

        from engine.face import find_landmarks, locate_all_faces
        from engine.face.tracks import nearest_landmarks

        pad = max(crop.shape[:2]) // 2
        padded = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        fallback = self.face_landmarks[face]
        if getattr(self, "several", False):
            found = nearest_landmarks(locate_all_faces(padded), fallback + pad)
        else:
            found = find_landmarks(padded)
        if found is None:
            return fallback
        return np.asarray(found, np.float64) - pad

    def batch_input(self, crops: list[np.ndarray], parsing=None, parse: bool = False):
        """What ``stylize_batch`` needs beyond the crops (nothing for the classic look)."""
        return None

    def stylize_batch(self, batch, crops: list[np.ndarray], face: int = 0) -> list[Stylized]:
        return self.stylize(crops, face=face)

    def stylize(self, crops: list[np.ndarray], parsing=None, face: int = 0) -> list[Stylized]:
        from engine.face import landmark_mattes

        results = []
        for crop in crops:
            rgb = self.stylizer.stylize(crop).astype(np.float32) / 255.0
            mattes = {}
            if self.mattes:
                h, w = rgb.shape[:2]
                scale = w / crop.shape[1]
                all_mattes = landmark_mattes(self.crop_landmarks(crop, face) * scale, (h, w))
                mattes = {n: all_mattes[n].astype(np.float32) for n in self.mattes if n in all_mattes}
            results.append(Stylized(rgb, mattes))
        return results
