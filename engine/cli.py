"""Command line: ``vtoonify render | prepare | serve | models | train`` (also ``python -m engine``).

User mistakes print one line, ``error: <problem> (<fix>)``, and exit 2; a resource that ran short (GPU
memory, disk space, a busy device) exits 75 so a farm retries; a cancelled or SIGTERM'd job exits 130
(``engine.errors`` holds the codes, ``engine.failures`` picks one, docs/FARM.md says what to do).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from engine import __version__
from engine.errors import EXIT_CANCELLED, EXIT_OK, EngineError, JobCancelled, cli_words, event_in_words
from engine.progress import one_line
from engine.service.catalog import device_arg
from engine.stop_signals import STOP_SIGNALS

RESUME_FIX = "run the same command again with --resume to finish it"
"""What a render stopped by Ctrl-C / SIGTERM says: the frames written are complete, the rest follow."""

EXIT_READER_GONE = 141
"""The program reading the output closed it (``| head``): 128 + SIGPIPE, as a shell reports a tool the
closed pipe stopped."""

JOB_COMMANDS = ("render", "prepare")
"""Commands that run a job: SIGTERM cancels them cleanly and their failures map to farm exit codes."""


JOB_EPILOG = """example:
  vtoonify {command} plate.mp4 -o renders/shot010 --frames 1001-1100 --start-number 1001 --style cartoon --mattes
exit codes: 0 done; 1 a bug (report it); 2 the job is wrong (fix it, do not retry); 75 out of memory, disk
  full or device busy (retry); 130 cancelled (only complete frames are left: --resume finishes the render);
  141 the program reading its output closed it
more: README.md 'Rendering', docs/FARM.md, docs/FACES.md"""


def _padding(text: str) -> tuple[int, int, int, int]:
    parts = [p for p in text.replace(",", " ").split() if p]
    if len(parts) == 1:
        parts *= 4
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError("give one number or four (left,right,top,bottom), e.g. 200,200,200,200")
    return tuple(int(p) for p in parts)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: give 0-65535 (0 = any free port)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vtoonify", description="VToonify Studio engine")
    parser.add_argument("--version", action="version", version=f"vtoonify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="stylize a video, image sequence or image into EXR/PNG frames",
                       description="Render SOURCE to OUTPUT/<stem>.####.<ext>; output frame N is input frame N.",
                       epilog=JOB_EPILOG.format(command="render"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_settings(r)
    p = sub.add_parser("prepare", help="analyse a shot once (face, crop, style code) before farm chunks",
                       description="Write OUTPUT/<stem>.vtoonify.json (+ the style code) for the job these "
                                   "render settings define, so the render chunks of a farm job never repeat it. "
                                   "Give it the same settings as the chunks (docs/FARM.md).",
                       epilog=JOB_EPILOG.format(command="prepare"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_settings(p)
    add_service_commands(sub)
    from engine.train.cli import add_train_parser

    add_train_parser(sub)
    return parser


def add_job_settings(r: argparse.ArgumentParser) -> None:
    """The settings of a job, shared by ``render`` and ``prepare`` (same flags, same job key)."""
    r.add_argument("source", help="video file, image sequence (shot.####.exr, shot.%%04d.png) or image")
    r.add_argument("-o", "--output", required=True, help="output folder (nothing is written outside it)")
    r.add_argument("--frames", help="frames to render, e.g. 1001-1100, 1-10,20-30 or 1-99x2 (every 2nd; default: all)")
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
    r.add_argument("--device", type=device_arg, default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    r.add_argument("--batch", type=int, default=0,
                   help="frames per forward pass (0 = automatic: VToonify 1, or measured on a GPU; the classic "
                        "look 4, or 1 on plates over 1080p to bound memory)")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="network compute precision; auto = bf16 where the CPU/GPU has fast bf16, else fp32")
    r.add_argument("--compile", choices=("auto", "on", "off"), default="off",
                   help="torch.compile the network once per job (default off; auto = on CPU with a C++ compiler "
                        "when the job is long enough to pay for the compile; a failed compile warns, runs uncompiled)")
    r.add_argument("--format", choices=("exr", "png"), default="exr",
                   help="exr: half float, scene-linear, premultiplied RGBA (default); png: sRGB, straight alpha")
    r.add_argument("--exr-compression", choices=("zip", "dwaa", "piz", "none"), default="zip",
                   help="EXR compression (default zip; dwaa is lossy, so --cryptomatte refuses it)")
    r.add_argument("--png-bits", type=int, choices=(8, 16), default=8, help="PNG bits per channel (default 8)")
    r.add_argument("--mattes", action="store_true", help="write face-parsing mattes (EXR layers matte.<class>)")
    r.add_argument("--matte-files", action="store_true", help="also write each matte as its own sequence")
    r.add_argument("--no-matte-layers", dest="matte_layers", action="store_false",
                   help="EXR: leave the mattes out of the beauty file (needs --matte-files; for hosts such as "
                        "Blender 4.2's sequencer that cannot show multilayer EXRs)")
    r.add_argument("--cryptomatte", action="store_true",
                   help="also write the mattes as Cryptomatte layers (EXR only; needs --mattes)")
    r.add_argument("--matte-classes", help="comma-separated matte classes (default: all the backend gives)")
    r.add_argument("--output-space", choices=("plate", "crop"), default="plate",
                   help="plate: over the source frame with alpha (default); crop: the native 4x crop")
    r.add_argument("--data-window", choices=("face", "full"), default="face",
                   help="EXR data window: face box (default, for comp) or full frame (Blender's sequencer)")
    r.add_argument("--scale", type=float, default=1.0, help="output resolution multiplier (default 1)")
    r.add_argument("--padding", type=_padding, default=(200, 200, 200, 200),
                   help="crop padding around the eyes: left,right,top,bottom (default 200 each)")
    r.add_argument("--smooth-parsing", action="store_true", help="temporally smooth parsing maps (optical flow)")
    r.add_argument("--resume", action="store_true", help="skip frames whose files are already complete")
    r.add_argument("--overwrite", action="store_true",
                   help="delete frames of an earlier job with other settings in the output folder first")
    r.add_argument("--name", help="output file stem (default: the source's)")
    r.add_argument("--orientation", choices=("display", "stored"), default="display",
                   help="videos: display = turned by the file's display rotation as players show it (default); "
                        "stored = as coded, for hosts that ignore the rotation (Blender 4.2's sequencer)")
    r.add_argument("--faces", choices=("one", "all"), default="one",
                   help="one: the last face found, as the official code (default); all: every face of the "
                        "shot, each with its own crop, style code, mattes and Cryptomatte id")
    r.add_argument("--max-faces", type=int, default=8, help="with --faces all: at most this many faces (default 8)")
    r.add_argument("--follow-faces", action="store_true",
                   help="each face's crop follows its face over the shot (dlib on every frame, smoothed); "
                        "default: one fixed crop per face from its first sighting, as the official code")
    r.add_argument("--json-progress", action="store_true", help="print one JSON object per line to stdout")
    r.add_argument("--openjd-progress", action="store_true",
                   help="print openjd_progress/openjd_status/openjd_fail lines (Open Job Description workers)")


def add_service_commands(sub) -> None:
    s = sub.add_parser("serve", help="run the engine service on 127.0.0.1 for Blender and the panel",
                       description="Serve render/preview jobs over JSON lines on a loopback socket; clients find "
                                   "host, port and token in the connection file (docs/PROTOCOL.md). Runs until "
                                   "Ctrl-C / SIGTERM, --idle-timeout or --parent-pid ends it.")
    s.add_argument("--host", default="127.0.0.1", help="only loopback addresses are accepted (default 127.0.0.1)")
    s.add_argument("--port", type=_port, default=0, help="TCP port 0-65535 (default 0 = any free port)")
    s.add_argument("--connection-file", help="where to write host/port/token (default: user runtime folder)")
    s.add_argument("--models", dest="models_dir",
                   help="models folder for jobs that name none (default: $VTOONIFY_MODELS, then user data)")
    s.add_argument("--device", type=device_arg, default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    s.add_argument("--idle-timeout", type=float, default=0.0, metavar="SECONDS",
                   help="exit once no client is connected and no job is queued or running for this long "
                        "(default 0 = never)")
    s.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                   help="when this process is gone (even killed), cancel the jobs of closed connections "
                        "and exit once idle")

    m = sub.add_parser("models", help="list, verify or fetch the official model files",
                       description="list: which styles the models folder can render and which files are missing; "
                                   "verify: check every file there (checksums, loads; exit 2 when any is missing "
                                   "or damaged); fetch: download styles from the official Hugging Face repository "
                                   "(resumable, checksummed; the files are for non-commercial use only).")
    m.add_argument("action", choices=("list", "verify", "fetch"), help="list, verify or fetch (see above)")
    m.add_argument("--models", dest="models_dir", help="models folder (default: $VTOONIFY_MODELS, then user data)")
    m.add_argument("--style", action="append", help="fetch: style family (repeatable; default cartoon)")
    m.add_argument("--backbone", choices=("dualstylegan", "toonify", "both"), default="dualstylegan",
                   help="fetch: VToonify-D (dualstylegan, default), VToonify-T (toonify) or both")
    m.add_argument("--base-url", help="download mirror (default: the official Hugging Face repository)")
    m.add_argument("--replace-modified", action="store_true",
                   help="fetch: replace files changed since fetch downloaded them (refused otherwise: fetch never "
                        "overwrites a file it did not write)")
    m.add_argument("--json", action="store_true", help="machine-readable output")


def _config_from_args(args):
    from engine.pipeline.config import RenderConfig

    fields = dict(vars(args))
    for key in ("command", "json_progress", "openjd_progress"):
        fields.pop(key, None)
    return RenderConfig(**fields)


def _progress_sink(args):
    """Where a command's events go; a warning's settings named as this user typed them (flags)."""
    from engine.progress import JsonProgress, OpenJDProgress, ProgressBar

    if args.json_progress:
        show = JsonProgress()
    else:
        show = OpenJDProgress() if args.openjd_progress else ProgressBar()
    return lambda event: show(event_in_words(event, cli_words, listed=False))


CANCEL_STOP_S = 1.0
"""After Ctrl-C or SIGTERM, how long a job may take to stop at its next check before the CLI gives up on
it: a step may compute for many seconds without one (a 1.2 GB encoder.pt load, the pSp pass, one frame on
one thread) or sit in a read that never returns (a stalled network mount)."""

CANCEL_GRACE_S = 5.0
"""Once given up on, how long the job's file writes already under way may take to finish (renamed into
place, or their temps removed); a write stuck on a stalled mount longer than this is left as a hidden
temp, which the next run reaps."""


def run_interruptibly(job, cancel: threading.Event, grace_s: float = CANCEL_GRACE_S,
                      stop_s: float = CANCEL_STOP_S):
    """Run ``job()`` on a worker thread while the main thread watches for Ctrl-C / SIGTERM.

    A signal sets ``cancel`` (the frame loop stops cleanly at its next check); if the job is still busy
    ``stop_s`` later, no new file write may start (``write_gate``), the writes under way get up to
    ``grace_s`` to finish, and JobCancelled (``abandoned``) is raised here: every file is complete or
    absent, and the caller ends the process without waiting for the job's thread.
    """
    box: dict = {}

    def work() -> None:
        try:
            box["result"] = job()
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    def on_signal(signum, frame) -> None:
        cancel.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    worker = threading.Thread(target=work, name="job", daemon=True)
    deadline = None
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.05)
            if cancel.is_set() and worker.is_alive():
                deadline = deadline or time.monotonic() + stop_s
                if time.monotonic() > deadline:
                    raise _abandoned(grace_s, stop_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _abandoned(grace_s: float, stop_s: float) -> JobCancelled:
    """Give up on a job that did not stop: its writes under way finish (or time out), new ones are
    refused, the empty folders it made are removed; the JobCancelled to end the process with."""
    from engine.io import write_gate
    from engine.pipeline.outputs import remove_abandoned_folders

    settled = write_gate.close(grace_s)
    remove_abandoned_folders()
    exc = JobCancelled(f"stopped without waiting for the step in progress (a read, a model load or a computation "
                       f"that did not stop within {stop_s:g} s)"
                       + ("" if settled else f"; a file write still stuck after {grace_s:g} s left a hidden temp "
                          "file, which the next run removes"), RESUME_FIX)
    exc.abandoned = True
    return exc


@contextlib.contextmanager
def cancel_on_sigterm():
    """A cancel event that SIGTERM (a farm killing the task) sets; the job stops between batches,
    so every frame file is complete or absent, and the process exits 130."""
    cancel = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: cancel.set())
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGTERM, previous)


def idle_options(config) -> list[str]:
    """Warnings for options this command line gives that do nothing with its other options (a TD who
    typed --max-faces without --faces all expects more faces): said, never refused, since farm job types
    and scripts may pass every setting whatever the others are."""
    import dataclasses

    default = {f.name: f.default for f in dataclasses.fields(config)}
    given = {name for name, value in dataclasses.asdict(config).items() if value != default.get(name, value)}
    rules = [
        ("matte_files", not config.mattes, "--matte-files writes nothing without --mattes (add --mattes)"),
        ("matte_layers", not config.mattes, "--no-matte-layers has no mattes to leave out without --mattes"),
        ("max_faces", config.faces != "all", f"--max-faces {config.max_faces} counts only with --faces all "
                                              "(add --faces all to stylize every face)"),
        ("png_bits", config.format != "png", "--png-bits applies to --format png only"),
        ("exr_compression", config.format != "exr", "--exr-compression applies to --format exr only"),
        ("data_window", config.format != "exr", "--data-window applies to EXR only (a PNG is the whole frame)"),
    ]
    model_flags = {"style": f"--style {config.style}", "style_id": "--style-id", "degree": "--degree",
                   "color_transfer": "--color-transfer", "exstyle_image": "--exstyle-image"}
    rules += [(name, config.backend == "classic", f"{flag} sets up the VToonify model, and --backend classic uses "
                                                   "none (leave out --backend classic to render it)")
              for name, flag in model_flags.items()]
    rules.append(("smooth_parsing", config.backend == "classic", "--smooth-parsing smooths the VToonify model's "
                  "parsing maps, and --backend classic uses none (leave out --backend classic to render it)"))
    return [f"{text}; it is ignored" for name, idle, text in rules if name in given and idle]


def cmd_render(args, sink, cancel) -> int:
    config = _config_from_args(args)  # first: a bad option exits before the pipeline (torch) is imported
    for message in idle_options(config):
        sink({"event": "warning", "message": message})
    from engine.pipeline.render import render

    result = render(config, on_event=sink, cancel=cancel)
    data = result.to_dict()
    sink({"event": "job_done", "result": data})
    if not (args.json_progress or args.openjd_progress):
        done = f"{result.rendered} rendered" + (f", {result.skipped} already done" if result.skipped else "")
        print(f"{len(result.frames)} frames ({done}) with the {result.backend} backend -> {one_line(result.pattern)}")
        for name, pattern in result.matte_patterns.items():
            print(f"  matte {name}: {one_line(pattern)}")
    return EXIT_OK


def cmd_prepare(args, sink, cancel) -> int:
    config = _config_from_args(args)  # first: a bad option exits before the pipeline (torch) is imported
    for message in idle_options(config):
        sink({"event": "warning", "message": message})
    from engine.pipeline.render import prepare

    result = prepare(config, on_event=sink, cancel=cancel)
    sink({"event": "job_done", "result": result.to_dict()})
    if not (args.json_progress or args.openjd_progress):
        how = "analysed" if result.analysed else "already analysed (sidecar reused)"
        faces = f"face in frame {result.face_frame}"
        if result.faces:
            firsts = ", ".join(f"{face['name']} from frame {face['frame']}" for face in result.faces)
            faces = f"{len(result.faces)} faces ({firsts})"
        print(f"shot {how}: {faces}, {len(result.frames)} frames with the "
              f"{result.backend} backend -> {result.sidecar}")
    return EXIT_OK


def cmd_serve(args) -> int:
    from engine.service.server import end_process, serve

    def ready(info) -> None:  # a TD who starts it by hand learns where it listens and how to stop it
        _say(f"engine: serving on {info.host}:{info.port} (pid {info.pid}); clients connect through "
             f"{info.path}; Ctrl-C stops it")

    return end_process(serve(host=args.host, port=args.port, connection_file=args.connection_file,
                             models_dir=args.models_dir, device=args.device, ready_callback=ready,
                             idle_timeout_s=args.idle_timeout, parent_pid=args.parent_pid))


def cmd_models(args) -> int:
    from engine import models_cli

    return models_cli.run(args)


def _dash_file_hint(argv: list[str]) -> str | None:
    """The fix for a usage error caused by a file whose name starts with '-' (argparse reads it as an
    option): which token, and how to write it so it reads as a file."""
    words = argv[: argv.index("--")] if "--" in argv else argv
    for word in words:
        if word.startswith("-") and word != "-" and os.path.lexists(word):
            return (f"{word!r} is a file, but it starts with '-' so it reads as an option: write it as "
                    f"./{word} (or put it after --, after the options)")
    return None


def _several_sources_hint(argv: list[str]) -> str | None:
    """The fix for a usage error caused by several source files, most often a sequence the shell expanded
    (``render shot.*.png``): one source per command, a sequence as one pattern."""
    if not argv or argv[0] not in JOB_COMMANDS:
        return None
    words = argv[1: argv.index("--")] if "--" in argv else argv[1:]
    files = [w for i, w in enumerate(words) if os.path.isfile(w) and not (i and words[i - 1].startswith("-"))]
    if len(files) < 2:
        return None
    from engine.io.sequence import pattern_from_member

    member = pattern_from_member(Path(files[0]))
    given = f"{len(files)} source files were given ({files[0]}, {files[1]}{', ...' if len(files) > 2 else ''})"
    if member is not None:  # frames of one sequence, most likely expanded by the shell
        return (f"{given}; give the image sequence as one pattern, in quotes so the shell leaves it alone: "
                f"'{member.hash_pattern}'")
    return f"{given}; {argv[0]} takes one source: run one command per clip (or queue them in the panel)"


NEGATIVE_FRAME_RANGE = re.compile(r"-\d[\d\s,x-]*")
"""A frame range starting below zero (``-5--3``, ``-10-20``, ``-3,-1``): argparse reads a word starting
with '-' as an option unless it is one plain number."""


def _join_negative_frame_ranges(argv: list[str]) -> list[str]:
    """``--frames -5--3`` as ``--frames=-5--3``: farm job types (Deadline's ``--frames <STARTFRAME>-<ENDFRAME>``,
    Flamenco, OpenCue) pass a chunk's range as its own word, and argparse alone refused a shot numbered
    below zero with "expected one argument"."""
    end = argv.index("--") if "--" in argv else len(argv)
    joined: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if i + 1 < end and word == "--frames" and NEGATIVE_FRAME_RANGE.fullmatch(argv[i + 1]):
            joined.append(f"--frames={argv[i + 1]}")
            i += 2
            continue
        joined.append(word)
        i += 1
    return joined


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line; a usage error caused by a file named like an option also says how to
    write that file name (argparse alone only says an argument is missing)."""
    argv = _join_negative_frame_ranges(list(sys.argv[1:] if argv is None else argv))
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        hint = (_dash_file_hint(argv) or _several_sources_hint(argv)) if exc.code == 2 else None
        if hint:
            _say(f"vtoonify: {hint}")
        raise


def _stdout_never_fails_on_a_name() -> None:
    """Escape (``\\u65e5``) the letters stdout's encoding cannot show, as Python does on stderr: a Latin-1
    locale, ``PYTHONIOENCODING=ascii`` or a pipe on Windows (cp1252) made the summary line of a finished
    render of ``日本.mp4`` raise UnicodeEncodeError, so the render exited 1 with every frame written (a
    UTF-8 locale's strict stdout did the same for a folder name in another encoding)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)  # surrogateescape (C locales) already writes any name
    if reconfigure is not None and getattr(sys.stdout, "errors", None) == "strict":
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            reconfigure(errors="backslashreplace")


def _standard_streams_open() -> None:
    """A closed stdin/stdout/stderr (a daemon, a ``>&-`` wrapper) becomes /dev/null. Else Python's
    ``sys.stdout`` is None (a ``--json-progress`` render crashed on its first event, one with stderr
    closed exited 1 with no frame written), and the first file the engine opens takes the free fd 1 or 2,
    where a C library's print would land in a frame or the sidecar."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free fd: this one, as the lower ones are open
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name, None) is None:
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False))


def main(argv: list[str] | None = None) -> int:
    _standard_streams_open()
    _stdout_never_fails_on_a_name()
    args = parse_args(argv)
    if args.command not in JOB_COMMANDS:
        return _run_tool(args)
    sink = _progress_sink(args)
    try:
        with cancel_on_sigterm() as cancel:
            handler = cmd_render if args.command == "render" else cmd_prepare
            try:
                return run_interruptibly(lambda: handler(args, sink, cancel), cancel)
            except KeyboardInterrupt:
                raise JobCancelled(f"{args.command} interrupted", RESUME_FIX) from None
    except JobCancelled as exc:
        if args.json_progress:
            sink({"event": "job_cancelled"})
        if not exc.fix:  # stopped between frames: every frame file is complete or absent
            exc = JobCancelled(exc.message, RESUME_FIX if args.command == "render" else "run the same command again")
        _say(f"cancelled: {one_line(exc.user_message)}")
        if argv is None:  # this process's own command line (console script, python -m engine): end it now
            _exit_now(EXIT_CANCELLED)
        return EXIT_CANCELLED
    except Exception as exc:
        return _job_failed(args, sink, exc)


def _exit_now(code: int) -> None:
    """End a cancelled job's process without interpreter teardown: freeing a full-size model's gigabytes
    took 2.7 s after the job had stopped, and a job thread left inside torch (abandoned) made its C++
    threads abort the process at exit (SIGABRT, exit -6, a crash to a farm). Every file is settled
    already (the job stopped, or ``write_gate`` closed). Only for ``main()`` given no ``argv``: a caller
    passing its own (tests, in process) gets the exit code back."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _say(line: str) -> None:
    """One line to stderr in one write: ranks of a torchrun job share the pipe, and print() writes the
    text and its newline separately, so two ranks' lines ran together. Nothing when the terminal is gone."""
    from engine.progress import write_out

    write_out(sys.stderr, line + "\n")


def _job_failed(args, sink, exc: Exception) -> int:
    """Report a failed job in one line (and as an event) and return the exit code a farm acts on."""
    from engine.failures import as_transient, exit_code_for

    if isinstance(exc, BrokenPipeError):  # the reader went away (`models list | head`): no bug, stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return EXIT_READER_GONE
    code = exit_code_for(exc)
    error = as_transient(exc) or exc
    if not isinstance(error, EngineError):  # a bug: one line for the artist, the traceback on request
        if os.environ.get("VTOONIFY_DEBUG"):
            raise exc
        if sink is not None and (args.json_progress or args.openjd_progress):  # a wrapper reading stdout hears of it
            from engine.errors import InternalError

            sink({"event": "job_failed", "error": InternalError.of(exc).to_dict(cli_words)})
        _say(f"internal error: {type(exc).__name__}: {one_line(exc)} (please report it; set VTOONIFY_DEBUG=1 "
              "to see the traceback)")
        return code
    if sink is not None and (args.json_progress or args.openjd_progress):
        sink({"event": "job_failed", "error": error.to_dict(cli_words)})  # the CLI's user typed flags
    _say(f"error: {one_line(error.user_message)}")
    return code


def cmd_train(args) -> int:
    from engine.train.cli import run

    return run(args)


def _run_tool(args) -> int:
    """serve / models / train: their own exit codes; failures get the same codes as a job's
    (2 fix it, 75 retry: out of memory, disk full, a busy device; 130 cancelled)."""
    from engine.stop_signals import interrupting

    handlers = {"serve": cmd_serve, "models": cmd_models, "train": cmd_train}
    try:
        if args.command == "models":  # no job thread: a stop signal interrupts the download as Ctrl-C does
            with interrupting():
                return handlers[args.command](args)
        return handlers[args.command](args)
    except (JobCancelled, KeyboardInterrupt) as exc:
        text = exc.user_message if isinstance(exc, JobCancelled) else f"{args.command} interrupted"
        _say(f"cancelled: {one_line(text)}")
        return EXIT_CANCELLED
    except Exception as exc:
        return _job_failed(args, None, exc)
