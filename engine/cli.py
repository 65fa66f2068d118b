"""Command line: ``vtoonify render | serve | models`` (also ``python -m engine``).

User mistakes print one line, ``error: <problem> (<fix>)``, and exit 2; a cancelled render exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from engine import __version__
from engine.errors import EXIT_RETRY, EngineError, JobCancelled, TransientError

EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130
EXIT_INTERNAL_ERROR = 1


def _device(text: str) -> str:
    """auto | cpu | cuda | cuda:N."""
    head, _, index = text.partition(":")
    if text in ("auto", "cpu", "cuda") or (head == "cuda" and index.isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r} (use auto, cpu, cuda or cuda:N)")


def _padding(text: str) -> tuple[int, int, int, int]:
    parts = [p for p in text.replace(",", " ").split() if p]
    if len(parts) == 1:
        parts *= 4
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError("give one number or four (left,right,top,bottom), e.g. 200,200,200,200")
    return tuple(int(p) for p in parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vtoonify", description="VToonify Studio engine")
    parser.add_argument("--version", action="version", version=f"vtoonify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="stylize a video, image sequence or image into EXR/PNG frames",
                       description="Render SOURCE to OUTDIR/<stem>.####.<ext>; output frame N is input frame N.")
    r.add_argument("source", help="video file, image sequence (shot.####.exr, shot.%%04d.png) or image")
    r.add_argument("-o", "--output", required=True, help="output folder (nothing is written outside it)")
    r.add_argument("--frames", help="frames to render, e.g. 1001-1100 or 1-10,20-30 (default: all)")
    r.add_argument("--start-number", type=int, default=1, help="number of a video's first frame (default 1)")
    r.add_argument("--backend", choices=("auto", "vtoonify", "classic"), default="auto",
                   help="vtoonify needs the official model files; classic needs none (default auto)")
    r.add_argument("--backbone", choices=("auto", "dualstylegan", "toonify"), default="auto",
                   help="VToonify-D (dualstylegan) or VToonify-T (toonify)")
    r.add_argument("--style", default="cartoon", help="style family: cartoon, caricature, arcane, comic, pixar, ...")
    r.add_argument("--style-id", type=int, default=26, help="exemplar index for VToonify-D (default 26)")
    r.add_argument("--degree", type=float, default=0.5, help="structure degree d_s in [0,1] (default 0.5)")
    r.add_argument("--color-transfer", action="store_true", help="also take the exemplar's colours")
    r.add_argument("--exstyle-image", help="portrait image encoded with pSp as a custom exemplar")
    r.add_argument("--models", dest="models_dir", help="models folder (default: $VTOONIFY_MODELS, then user data)")
    r.add_argument("--device", type=_device, default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    r.add_argument("--batch", type=int, default=0, help="frames per forward pass (0 = automatic)")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="network compute precision; auto = bf16 where the CPU/GPU has fast bf16, else fp32")
    r.add_argument("--format", choices=("exr", "png"), default="exr")
    r.add_argument("--exr-compression", choices=("zip", "dwaa", "piz", "none"), default="zip")
    r.add_argument("--png-bits", type=int, choices=(8, 16), default=8)
    r.add_argument("--mattes", action="store_true", help="write face-parsing mattes (EXR layers matte.<class>)")
    r.add_argument("--matte-files", action="store_true", help="also write each matte as its own sequence")
    r.add_argument("--matte-classes", help="comma-separated matte classes (default: all the backend gives)")
    r.add_argument("--output-space", choices=("plate", "crop"), default="plate",
                   help="plate: over the source frame with alpha (default); crop: the native 4x crop")
    r.add_argument("--scale", type=float, default=1.0, help="output resolution multiplier (default 1)")
    r.add_argument("--padding", type=_padding, default=(200, 200, 200, 200),
                   help="crop padding around the eyes: left,right,top,bottom (default 200 each)")
    r.add_argument("--smooth-parsing", action="store_true", help="temporally smooth parsing maps (optical flow)")
    r.add_argument("--resume", action="store_true", help="skip frames whose files are already complete")
    r.add_argument("--overwrite", action="store_true",
                   help="delete frames of an earlier job with other settings in the output folder first")
    r.add_argument("--name", help="output file stem (default: the source's)")
    r.add_argument("--json-progress", action="store_true", help="print one JSON object per line to stdout")

    s = sub.add_parser("serve", help="run the engine service on 127.0.0.1 for Blender and the panel")
    s.add_argument("--host", default="127.0.0.1", help="only loopback addresses are accepted")
    s.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    s.add_argument("--connection-file", help="where to write host/port/token (default: user runtime folder)")
    s.add_argument("--models", dest="models_dir", help="models folder")
    s.add_argument("--device", type=_device, default="auto", help="auto, cpu, cuda or cuda:N")
    s.add_argument("--idle-timeout", type=float, default=0.0, metavar="SECONDS",
                   help="exit once no client is connected and no job is queued or running for this long "
                        "(default 0 = never)")
    s.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                   help="when this process is gone (even killed), cancel the jobs of closed connections "
                        "and exit once idle")

    m = sub.add_parser("models", help="list, verify or fetch the official model files")
    m.add_argument("action", choices=("list", "verify", "fetch"))
    m.add_argument("--models", dest="models_dir", help="models folder")
    m.add_argument("--style", action="append", help="style family to fetch (repeatable; default cartoon)")
    m.add_argument("--backbone", choices=("dualstylegan", "toonify", "both"), default="dualstylegan")
    m.add_argument("--base-url", help="download mirror (default: the official Hugging Face repository)")
    m.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _config_from_args(args):
    from engine.pipeline.config import RenderConfig

    fields = dict(vars(args))
    for key in ("command", "json_progress"):
        fields.pop(key, None)
    return RenderConfig(**fields)


def cmd_render(args) -> int:
    from engine.pipeline.render import render
    from engine.progress import JsonProgress, ProgressBar

    config = _config_from_args(args)
    sink = JsonProgress() if args.json_progress else ProgressBar()
    cancel = threading.Event()

    def on_signal(signum, frame):
        cancel.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        result = render(config, on_event=sink, cancel=cancel)
    except KeyboardInterrupt:
        raise JobCancelled("render interrupted", "run again with --resume to finish it") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    data = result.to_dict()
    if args.json_progress:
        sink({"event": "job_done", "result": data})
    else:
        done = f"{result.rendered} rendered" + (f", {result.skipped} already done" if result.skipped else "")
        print(f"{len(result.frames)} frames ({done}) with the {result.backend} backend -> {result.pattern}")
        for name, pattern in result.matte_patterns.items():
            print(f"  matte {name}: {pattern}")
    return 0


def cmd_serve(args) -> int:
    from engine.service.server import serve

    return serve(host=args.host, port=args.port, connection_file=args.connection_file,
                 models_dir=args.models_dir, device=args.device, idle_timeout_s=args.idle_timeout,
                 parent_pid=args.parent_pid)


def cmd_models(args) -> int:
    from engine import models_cli

    return models_cli.run(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"render": cmd_render, "serve": cmd_serve, "models": cmd_models}
    try:
        return handlers[args.command](args)
    except JobCancelled as exc:
        print(f"cancelled: {exc.user_message}", file=sys.stderr)
        return EXIT_CANCELLED
    except EngineError as exc:
        if getattr(args, "json_progress", False):
            print(json.dumps({"event": "job_failed", "error": exc.to_dict()}))
        print(f"error: {exc.user_message}", file=sys.stderr)
        return EXIT_RETRY if isinstance(exc, TransientError) else EXIT_USER_ERROR  # 75: a farm retries
    except Exception as exc:  # a bug: one line for the artist, the traceback on request
        if os.environ.get("VTOONIFY_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (please report it; set VTOONIFY_DEBUG=1 "
              "to see the traceback)", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
