"""Media in and out: frame sources (PyAV video, OIIO images and sequences) and atomic EXR/PNG writers.

The names below load their module on first use (PEP 562), so importing one light submodule, such as
``engine.io.atomic`` for a training checkpoint, does not import PyAV and OpenImageIO with it: training,
the model tools and a GPU machine without those packages import only what they use.
"""

from __future__ import annotations

from engine.lazy_names import lazy_names

_HOMES = {
    "atomic_path": "engine.io.atomic",
    "FrameSource": "engine.io.base",
    "linear_to_srgb": "engine.io.colour",
    "srgb_to_linear": "engine.io.colour",
    "read_image": "engine.io.image",
    "read_rgb8": "engine.io.image",
    "SequenceSource": "engine.io.sequence",
    "ImageSource": "engine.io.sources",
    "open_source": "engine.io.sources",
    "VideoSource": "engine.io.video",
    "write_exr": "engine.io.writers",
    "write_grey": "engine.io.writers",
    "write_png": "engine.io.writers",
}
__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
