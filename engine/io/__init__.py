"""Media in and out: frame sources (PyAV video, OIIO images and sequences) and atomic EXR/PNG writers."""

from engine.io.atomic import atomic_path
from engine.io.base import FrameSource
from engine.io.colour import linear_to_srgb, srgb_to_linear
from engine.io.image import read_image, read_rgb8
from engine.io.sequence import SequenceSource
from engine.io.sources import ImageSource, open_source
from engine.io.video import VideoSource
from engine.io.writers import write_exr, write_grey, write_png

__all__ = [
    "FrameSource",
    "ImageSource",
    "SequenceSource",
    "VideoSource",
    "atomic_path",
    "linear_to_srgb",
    "open_source",
    "read_image",
    "read_rgb8",
    "srgb_to_linear",
    "write_exr",
    "write_grey",
    "write_png",
]
