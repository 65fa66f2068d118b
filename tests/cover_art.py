"""Test media: an mp4 whose FIRST video stream is cover art (an attached picture), as some taggers write it."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np


def _boxes(data: bytes, start: int, end: int):
    """(type, offset, size) of the MP4 boxes between ``start`` and ``end``."""
    while start < end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        yield kind, start, size
        start += size


def _cover_first(path: Path) -> None:
    """Move the moov's ``udta`` (its ``covr`` cover art) before the tracks: FFmpeg then lists the cover as
    the FIRST video stream (written as FFmpeg writes it, the cover comes last). moov lies after mdat, so
    no chunk offset moves."""
    data = path.read_bytes()
    _kind, moov, size = next(box for box in _boxes(data, 0, len(data)) if box[0] == b"moov")
    children = {k: data[o:o + n] for k, o, n in _boxes(data, moov + 8, moov + size)}
    order = [b"mvhd", b"udta"] + [k for k in children if k not in (b"mvhd", b"udta")]
    path.write_bytes(data[:moov + 8] + b"".join(children[k] for k in order) + data[moov + size:])


def with_cover(path: Path, video_frames=None) -> Path:
    """Bright (250) 16x16 cover art as video stream 0, then the 16x16 RGB ``video_frames`` if given."""
    with av.open(str(path), "w") as container:
        cover = container.add_stream("mjpeg")
        cover.width = cover.height = 16
        cover.pix_fmt = "yuvj444p"
        cover.disposition = av.stream.Disposition.attached_pic
        video = None
        if video_frames is not None:
            video = container.add_stream("mpeg4", rate=24)
            video.width = video.height = 16
            video.pix_fmt = "yuv420p"
        for packet in cover.encode(av.VideoFrame.from_ndarray(np.full((16, 16, 3), 250, np.uint8), format="rgb24")):
            container.mux(packet)
        for packet in cover.encode():
            container.mux(packet)
        for pixels in video_frames or []:
            for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        if video is not None:
            for packet in video.encode():
                container.mux(packet)
    _cover_first(path)
    with av.open(str(path)) as container:  # the premise every caller relies on
        assert int(container.streams.video[0].disposition) & 0x0400, "cover art is not video stream 0"
    return path
