"""Write a copy of a clip whose frames carry their own index (run with the engine's Python: PyAV).

Five bands across the top 40 rows, band ``b`` white when bit ``b`` of the 0-based frame index is
set, so a render of any frame says which media frame Blender decoded for it.

    python make_coded_clip.py SRC DST [FPS]
"""

from __future__ import annotations

import sys

import av

BANDS, BAND_W, BAND_H = 5, 75, 40


def main(src: str, dst: str, fps: int = 15) -> None:
    with av.open(src) as inp, av.open(dst, "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        first = inp.streams.video[0]
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "yuv420p"
        stream.options = {"crf": "12"}
        for index, frame in enumerate(inp.decode(video=0)):
            img = frame.to_ndarray(format="rgb24").copy()
            for band in range(BANDS):
                img[:BAND_H, band * BAND_W:(band + 1) * BAND_W] = 255 if (index >> band) & 1 else 0
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
