"""A phone-style copy of a clip: the same packets under a display-rotation matrix (no re-encode), as a
phone writes a portrait shot. Shared by the reader, service and Blender tests of rotated sources."""

from __future__ import annotations

from pathlib import Path

import av


def rotated_copy(source: Path | str, destination: Path | str, degrees: int = 90) -> Path:
    """Copy ``source``'s video packets into ``destination`` with a ``degrees`` display rotation."""
    with av.open(str(source)) as src, av.open(str(destination), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        stream.set_display_rotation(degrees)
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return Path(destination)
