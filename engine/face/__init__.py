"""Face analysis for the official preprocessing: landmarks, crop, alignment, landmark mattes.

``PARSING_CLASSES`` is the 19-class order of the BiSeNet face parser VToonify ships
(face-parsing.PyTorch trained on CelebAMask-HQ): index i of the parser's logits is class i here.
"""

from engine.face.align import AlignmentPlan, FaceQuad, align_face, face_quad, plan_alignment
from engine.face.crop import CropParams, crop_parameters, num_preblurs, scale_and_crop
from engine.face.landmarks import (
    FaceLandmarker,
    default_landmarker,
    find_landmarks,
    locate_all_faces,
    locate_faces,
    several_faces_warning,
)
from engine.face.mattes import MATTE_CLASSES, landmark_mattes

PARSING_CLASSES: tuple[str, ...] = (
    "background",
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "eye_g",
    "l_ear",
    "r_ear",
    "ear_r",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
    "neck",
    "neck_l",
    "cloth",
    "hair",
    "hat",
)

__all__ = [
    "MATTE_CLASSES",
    "PARSING_CLASSES",
    "AlignmentPlan",
    "CropParams",
    "FaceLandmarker",
    "FaceQuad",
    "align_face",
    "crop_parameters",
    "default_landmarker",
    "face_quad",
    "find_landmarks",
    "landmark_mattes",
    "locate_all_faces",
    "locate_faces",
    "num_preblurs",
    "plan_alignment",
    "scale_and_crop",
    "several_faces_warning",
]
