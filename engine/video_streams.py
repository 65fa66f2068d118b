"""Which video stream of a container is the picture: cover art (an attached picture) is not; and the
name FFmpeg must be given to open a file as a file.

Imports nothing (not even PyAV), so the panel's thumbnails (``ui/thumbnails.py``) and the engine's
reader (``engine/io/video.py``) share one rule without the panel loading the engine's media stack.
"""

from __future__ import annotations

ATTACHED_PIC = 0x0400
"""FFmpeg's AV_DISPOSITION_ATTACHED_PIC: a video stream that is one cover picture (album art), not video."""


def ffmpeg_file_name(path) -> str:
    """The name to give ``av.open`` for the local file ``path``, whatever characters its name holds.

    FFmpeg reads a name whose start before a ``:`` is letters/digits (``take:2.mp4``) as a protocol URL
    (``take:``) and fails with ProtocolNotFoundError; the explicit ``file:`` protocol opens it as the file
    it is (relative or absolute, as FFmpeg opens any plain path).
    """
    return "file:" + str(path)


def picture_stream(container):
    """The container's first video stream that is real video (cover art streams are skipped), or None."""
    for stream in container.streams.video:
        if not int(getattr(stream, "disposition", 0) or 0) & ATTACHED_PIC:
            return stream
    return None
