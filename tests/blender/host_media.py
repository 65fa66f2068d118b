"""Engine-side helpers of the host read-back tests (run with the engine's Python: numpy, PyAV, OIIO).

    python host_media.py two-faces MEDIA DIR      4-frame PNG sequence DIR/two.####.png, two portraits
    python host_media.py tc-mov SRC DST TC RATE N  N frames of SRC (320 px wide) as an MJPEG .mov, start TC
    python host_media.py layers OUT.npz EXR...     every channel of each EXR as float32, plus its header
    python host_media.py colour-bars DIR           colour-bar clips (tests/colour_bars.py) + the engine's plate

``layers`` only reads files (OIIO): the comparisons stay in the test, and no engine module decodes.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np


def two_faces(media: str, folder: str) -> None:
    """The layout of tests/pipeline/test_faces.py: face01 left, still; face02 right, 2 px left a frame."""
    from engine.io import open_source, write_png

    def portrait(name: str) -> np.ndarray:
        with open_source(str(Path(media) / name)) as src:
            return src.read(src.frame_numbers[0])

    left, right = portrait("077436.jpg"), portrait("038648.jpg")
    for frame in range(1, 5):
        canvas = np.full((384, 1008, 3), 90, np.uint8)
        canvas[:375, :500] = left
        shift = 2 * (frame - 1)
        canvas[20:353, 508 - shift:1008 - shift] = right
        write_png(Path(folder) / f"two.{frame:04d}.png", canvas)


def tc_mov(src: str, dst: str, timecode: str, rate: str, count: str) -> None:
    """A QuickTime clip whose tmcd track starts at ``timecode`` (FFmpeg writes it from the tag)."""
    import av

    frames = []
    with av.open(src) as clip:
        for frame in clip.decode(video=0):
            frames.append(frame.reformat(width=320, height=288).to_ndarray(format="rgb24"))
            if len(frames) == int(count):
                break
    with av.open(dst, "w") as out:
        out.metadata["timecode"] = timecode
        stream = out.add_stream("mjpeg", rate=Fraction(rate))
        stream.width, stream.height, stream.pix_fmt = 320, 288, "yuvj420p"
        stream.options = {"qscale": "2"}
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())


def layers(out: str, *paths: str) -> None:
    import OpenImageIO as oiio

    arrays, headers = {}, {}
    for index, path in enumerate(paths):
        inp = oiio.ImageInput.open(path)
        assert inp is not None, oiio.geterror()
        spec = inp.spec()
        pixels = inp.read_image(oiio.FLOAT)
        inp.close()
        for c, name in enumerate(spec.channelnames):
            arrays[f"{index}:{name}"] = pixels[:, :, c]
        headers[path] = {"window": [spec.x, spec.y, spec.width, spec.height],
                         "display": [spec.full_x, spec.full_y, spec.full_width, spec.full_height],
                         "channels": list(spec.channelnames),
                         "formats": [str(spec.channelformat(c)) for c in range(spec.nchannels)],
                         "attributes": {a.name: a.value if isinstance(a.value, str) else oiio.ImageSpec.metadata_val(a)
                                        for a in spec.extra_attribs}}
    np.savez(out, **arrays)
    print(json.dumps(headers))


def colour_bars(folder: str) -> None:
    """Each SDR/HDR case of ``COLOUR_CASES`` as a clip in ``folder``, and its first frame as the engine reads
    it (``NAME.npy``, uint8 RGB); prints the clip names and whether the engine warns HDR on each."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: colour_bars
    from colour_bars import COLOUR_CASES, make_bars_clip

    from engine.io import open_source
    from engine.pipeline.colour_notes import hdr_note

    made = {}
    for case in COLOUR_CASES:
        path = make_bars_clip(Path(folder) / f"{case.name}.{case.container}", case)
        with open_source(path) as src:
            np.save(Path(folder) / f"{case.name}.npy", src.read(1))
            made[case.name] = {"file": path.name, "hdr_note": hdr_note(src) is not None}
    ramp = np.tile(np.linspace(0.0, 1.0, 256, dtype=np.float32), (16, 1))
    _write_oiio(Path(folder) / "plate.dpx", np.stack([ramp, ramp[:, ::-1], ramp * 0.5], axis=-1), bits=10)
    print(json.dumps(made))


def _write_oiio(path: Path, pixels: np.ndarray, bits: int) -> None:
    """A 16-bit-typed image file (``bits`` stored: a 10-bit DPX), written by OIIO."""
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], oiio.UINT16)
    spec.attribute("oiio:BitsPerSample", bits)
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(pixels)
    out.close()


if __name__ == "__main__":
    {"two-faces": two_faces, "tc-mov": tc_mov, "layers": layers, "colour-bars": colour_bars}[sys.argv[1]](*sys.argv[2:])
