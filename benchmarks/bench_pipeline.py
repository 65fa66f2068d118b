"""Where a render's time goes, per stage, on one sample clip (run by hand; prints figures).

    .venv/bin/python benchmarks/bench_pipeline.py [--source CLIP] [--frames 1-8] [--models DIR]

Stages are timed separately over the same frames: decode (the baseline every ratio is quoted
against), pre-blur/scale/crop, stylize (classic, and VToonify when ``--models`` holds a usable
style), and placement + EXR write. Timings depend on the machine and its load: compare ratios from
one run, never absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from engine.face import crop_parameters, find_landmarks, scale_and_crop
from engine.io import open_source
from engine.pipeline.backends import ClassicBackend
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import select_frames
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.outputs import OutputNaming
from engine.pipeline.shot import ShotAnalysis
from engine.pipeline.writer import FrameWriter

DEFAULT_SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "529_2.mp4"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(DEFAULT_SOURCE))
    parser.add_argument("--frames", default="1-8")
    parser.add_argument("--models", help="models folder with a usable VToonify style (optional)")
    parser.add_argument("--style", default="cartoon")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, source {args.source}")

    with open_source(args.source) as src:
        numbers = select_frames(args.frames, src.frame_numbers)
        frames, t_decode = timed(lambda: [rgb for _, rgb in src.read_many(numbers)])
    n = len(frames)
    landmarks = find_landmarks(frames[0])
    crop = crop_parameters(landmarks, frames[0].shape[:2], (200, 200, 200, 200))
    crops, t_crop = timed(lambda: [scale_and_crop(f, crop) for f in frames])
    rows = [("decode (baseline)", t_decode), ("pre-blur + scale + crop", t_crop)]

    config = RenderConfig(source=args.source, output="unused", backend="classic", models_dir=args.models,
                          style=args.style)
    analysis = ShotAnalysis(source=args.source, source_size=(frames[0].shape[1], frames[0].shape[0]),
                            face_frame=numbers[0], landmarks=tuple(map(tuple, landmarks.tolist())),
                            crop=crop.to_dict(), preblurs=0, backend="classic", style={}, job_key="bench")
    classic = ClassicBackend(config)
    classic.prepare(analysis, None)
    stylized, t_classic = timed(lambda: classic.stylize(crops))
    rows.append(("stylize: classic", t_classic))
    if args.models:
        from engine.pipeline.selection import make_backend

        backend, _ = make_backend(RenderConfig(**{**config.to_dict(), "backend": "vtoonify"}), ModelCache("auto"))
        wplus, t_style = timed(lambda: backend.style_code(frames[0], landmarks, crop))
        backend.prepare(analysis, wplus)
        print(f"  style code, once per shot: {1000 * t_style:.1f} ms")
        _, t_vt = timed(lambda: [backend.stylize([c]) for c in crops])
        rows.append((f"stylize: vtoonify ({backend.backbone})", t_vt))

    with tempfile.TemporaryDirectory() as tmp:
        naming = OutputNaming(Path(tmp), "bench", "exr", 4)
        writer = FrameWriter(config, naming, analysis, classic)
        _, t_write = timed(lambda: [writer.write(k, s, f) for k, (s, f) in enumerate(zip(stylized, frames))])
    rows.append(("placement + EXR write", t_write))

    print(f"{n} frames, crop {crop.right - crop.left}x{crop.bottom - crop.top} -> "
          f"{4 * (crop.right - crop.left)}x{4 * (crop.bottom - crop.top)} stylized")
    for name, seconds in rows:
        print(f"  {name:<32} {1000 * seconds / n:8.1f} ms/frame   x{seconds / t_decode:6.1f} of decode")


if __name__ == "__main__":
    main()
