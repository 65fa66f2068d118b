"""Write a variable-frame-rate copy of a clip whose pictures carry their own index (engine Python: PyAV).

Picture ``i`` is the source's frame ``i`` (cycled) with ``i`` drawn as the five bands of
``make_coded_clip.py``; it is stamped at the sum of the durations before it, in ticks of 1/TIMESCALE s,
so the gaps between pictures vary as a phone's do.

    python make_vfr_clip.py SRC DST TIMESCALE D0,D1,...
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av
from make_coded_clip import BAND_H, BAND_W, BANDS


def main(src: str, dst: str, timescale: int, durations: list[int]) -> None:
    with av.open(src) as inp:
        pictures = [frame.to_ndarray(format="rgb24") for frame in inp.decode(video=0)]
    tick = Fraction(1, timescale)
    with av.open(dst, "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = pictures[0].shape[1], pictures[0].shape[0], "yuv420p"
        stream.codec_context.time_base = tick
        stream.options = {"crf": "12"}
        stamp = 0
        for index, duration in enumerate(durations):
            img = pictures[index % len(pictures)].copy()
            for band in range(BANDS):
                img[:BAND_H, band * BAND_W:(band + 1) * BAND_W] = 255 if (index >> band) & 1 else 0
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = stamp, tick
            stamp += duration
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(d) for d in sys.argv[4].split(",")])
