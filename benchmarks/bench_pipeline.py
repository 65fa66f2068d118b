"""End-to-end render speed and memory with full-size random VToonify-D weights (run by hand).

    .venv/bin/python benchmarks/bench_pipeline.py [--source CLIP] [--frames 1-4] [--precision auto]
        [--huge 1600x1280] [--skip-e2e]

1. Builds a models folder in the official layout in a temp dir: a full-size random VToonify-D
   (``vtoonify_d_cartoon/vtoonify_s_d_c.pt``, ``{'g_ema': ...}``; the ``_c`` name makes it a colour
   transfer model, so the style code comes from ``exstyle_code.npy`` and pSp is not needed), random
   exemplar codes, a full-size random BiSeNet and the narrow reference pSp.
2. End to end: ``render()`` of ``--frames`` of the clip (decode, crop, parsing, network, placement,
   EXR write, overlapped), timed from its first progress event to its last; then the network alone
   (``static.tiled`` on the same frames' inputs, built beforehand) in the same process.
3. ``--huge HxW``: in a fresh child process, one HxW crop (default 1600x1280 -> 6400x5120) through
   the backend and an EXR write; prints its peak RSS. The seam error of strip decoding is measured on
   a 400x320 crop forced into strips against the whole frame.

Timings depend on the machine and its load: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_SOURCE = SHARED / "media" / "529_2.mp4"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: kilobytes


def build_models(root: Path) -> Path:
    """Full-size random VToonify-D + BiSeNet in the official file layout (see the module docstring)."""
    from engine.models import build_model

    torch.manual_seed(0)
    folder = root / "vtoonify_d_cartoon"
    folder.mkdir(parents=True, exist_ok=True)
    vtoonify = build_model({"class_name": "VToonify", "backbone": "dualstylegan"})
    torch.save({"g_ema": vtoonify.state_dict()}, folder / "vtoonify_s_d_c.pt")
    del vtoonify
    rng = np.random.default_rng(1)
    codes = {f"Cartoons_{i:05d}.jpg": rng.standard_normal((1, 18, 512)).astype(np.float32) for i in range(30)}
    np.save(folder / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    torch.save(build_model({"class_name": "BiSeNet", "n_classes": 19}).state_dict(), root / "faceparsing.pth")
    psp = torch.load(SHARED / "reference" / "psp_narrow_golden.pt", weights_only=True)
    psp_sd = {"encoder." + k: v.float() if v.is_floating_point() else v for k, v in psp["state_dict"].items()}
    torch.save({"opts": {"output_size": 1024, "input_nc": 3}, "state_dict": psp_sd,
                "latent_avg": psp["latent_avg"].float()}, root / "encoder.pt")
    return root


def end_to_end(args, models: Path) -> None:
    from engine.face import scale_and_crop
    from engine.io import open_source
    from engine.models.static import tiled
    from engine.pipeline.backends import STRIP_PIXELS
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.frames import select_frames
    from engine.pipeline.modelcache import ModelCache
    from engine.pipeline.render import render
    from engine.pipeline.selection import make_backend
    from engine.pipeline.shot import ShotAnalysis

    cache = ModelCache("cpu")
    stamps: list[tuple[float, dict]] = []
    with tempfile.TemporaryDirectory() as out:
        config = RenderConfig(source=args.source, output=out, frames=args.frames, backend="vtoonify",
                              models_dir=str(models), precision=args.precision, device="cpu")
        render(config, on_event=lambda e: stamps.append((time.perf_counter(), e)), models=cache)
        progress = [t for t, e in stamps if e["event"] == "progress"]
        frames = sum(1 for _, e in stamps if e["event"] == "frame_done")
        t_e2e = progress[-1] - progress[0]
        sidecar = json.loads(next(Path(out).glob("*.vtoonify.json")).read_text())
        wplus = torch.load(next(Path(out).glob("*.style.pt")), weights_only=True)
    backend, _ = make_backend(config, cache)
    analysis = ShotAnalysis.from_dict(sidecar)
    backend.prepare(analysis, wplus)
    crop = analysis.crop_params()
    with open_source(args.source) as src:
        numbers = select_frames(args.frames, src.frame_numbers)
        crops = [scale_and_crop(rgb, crop) for _, rgb in src.read_many(numbers)]
    with torch.inference_mode():
        inputs = [backend.network_input([c]) for c in crops]
        start = time.perf_counter()
        for x in inputs:
            tiled(backend.net, x, strip_pixels=STRIP_PIXELS)
        t_net = time.perf_counter() - start
    h, w = crops[0].shape[:2]
    print(f"end to end: {frames} frames of {Path(args.source).name}, crop {w}x{h} -> {4 * w}x{4 * h}, "
          f"precision {backend.precision}, batch 1")
    print(f"  end-to-end     {t_e2e / frames:7.2f} s/frame  {frames / t_e2e:6.3f} frames/s")
    print(f"  network only   {t_net / frames:7.2f} s/frame  {frames / t_net:6.3f} frames/s")
    print(f"  end-to-end / network-only: {t_e2e / t_net:.3f}x   peak RSS {peak_rss_gb():.2f} GB")


def huge_child(args) -> None:
    """One big crop through the backend (strip decoding) and an EXR write; peak RSS of this process."""
    from engine.pipeline.backends import STRIP_PIXELS
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.modelcache import ModelCache
    from engine.pipeline.selection import make_backend

    h, w = (int(v) for v in args.huge.lower().split("x"))
    config = RenderConfig(source="unused.mp4", output="unused", backend="vtoonify", models_dir=args.models,
                          precision=args.precision, device="cpu")
    backend, _ = make_backend(config, ModelCache("cpu"))
    backend.prepare(None, torch.randn(1, 18, 512))
    crop = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    start = time.perf_counter()
    result = backend.stylize([crop])[0]
    t = time.perf_counter() - start
    from engine.io import write_exr

    with tempfile.TemporaryDirectory() as out:
        write_exr(Path(out) / "huge.0001.exr", np.dstack([result.rgb, np.ones((4 * h, 4 * w, 1), np.float32)]))
    print(f"huge crop {w}x{h} -> {4 * w}x{4 * h} ({backend.precision}, strips above {STRIP_PIXELS} px): "
          f"{t:.1f} s, peak RSS {peak_rss_gb():.2f} GB")


def seam_error(models: Path, precision: str) -> None:
    """Strips (forced small) against the whole frame on one 400x320 crop, in fp32 (where the two
    must agree to float rounding) and in the job's precision (where rounding is bf16/fp16's)."""
    from engine.models import load_vtoonify, static_vtoonify
    from engine.models.static import tiled

    model = load_vtoonify(models / "vtoonify_d_cartoon" / "vtoonify_s_d_c.pt")
    style = model.zplus2wplus(torch.randn(1, 18, 512))
    x = torch.cat([torch.rand(1, 3, 400, 320) * 2 - 1, torch.randn(1, 19, 400, 320) / 8], 1)
    for name in dict.fromkeys(("fp32", precision)):
        net = static_vtoonify(model, style, 0.5, name)
        with torch.inference_mode():
            whole = net(x)
            strips = tiled(net, x, strip_pixels=1 << 14)
        print(f"seam error (400x320, strips of {(1 << 14) // 320} rows vs whole frame, {net.precision}): "
              f"max_abs_diff {(strips - whole).abs().max().item():.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(DEFAULT_SOURCE))
    parser.add_argument("--frames", default="1-4")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--huge", default="1600x1280", help="HxW of the big-crop memory check ('' = skip)")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--seam-only", action="store_true", help="only the strip seam error")
    parser.add_argument("--models", help=argparse.SUPPRESS)  # the child process's models folder
    args = parser.parse_args()
    if args.models:
        huge_child(args)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        models = build_models(Path(tmp))
        if not (args.skip_e2e or args.seam_only):
            end_to_end(args, models)
        if args.huge and not args.seam_only:
            subprocess.run([sys.executable, __file__, "--models", str(models), "--huge", args.huge,
                            "--precision", args.precision], check=True)
        if args.huge or args.seam_only:
            seam_error(models, args.precision)


if __name__ == "__main__":
    main()
