r"""Submit one VToonify Studio shot to OpenCue with PyOutline: a one-frame ``prepare`` layer (the shot
analysis), then a ``render`` layer of frame chunks that waits for all of it.

    python submit_vtoonify.py /plates/shot010.mp4 /renders/shot010/v001 --frames 1-120 --chunk 10 \
        --python /opt/vtoonify/.venv/bin/python -- --style cartoon --device cuda --models /shared/vtoonify-models

Everything after ``--`` goes to both engine commands unchanged, so prepare and every chunk agree on the
job key; without ``--precision`` both get ``--precision fp32`` (``auto`` would resolve per host). The
options this script sets itself (frames, output, --resume, progress) or that delete files (--overwrite)
are refused there.
Cuebot replaces ``#FRAMESPEC#`` with each chunk's own frames (``1-10``, ``121-125``, ``1-19x2``).
RQD runs a layer's command through ``/bin/sh``, so the render hosts must be Linux or macOS.
"""

from __future__ import annotations

import argparse
import getpass
import re
import shlex
import sys

try:
    from outline import Outline, cuerun
    from outline.modules.shell import Shell
except ImportError:  # --help works without it; main() says how to get it
    Outline = cuerun = Shell = None


CHUNK_FRAMES = "#FRAMESPEC#"
"""The Cuebot token for a chunk's frames. Not ``#FRAME_START#-#FRAME_END#``: Cuebots before 1.0 put the
chunk's last *index* in ``#FRAME_END#`` (range 1-120, chunk 10: ``1-9``, frame 10 never rendered), and even
fixed ones span the frames a stepped range (``1-20x2``) or a frame list skips. ``#FRAMESPEC#`` has been
the chunk's exact frame list since 2019, in the ``a-b``/``a-bxN``/``a,b`` syntax the engine reads."""


def shell_words(argv: list[str]) -> list[str]:
    """``argv`` quoted for ``/bin/sh``: PyOutline joins a layer's command with spaces and RQD runs it as a
    shell script, so a path with a space, quote or ``$`` would otherwise split or expand."""
    return [a if a == CHUNK_FRAMES else shlex.quote(a) for a in argv]


def build_outline(args: argparse.Namespace) -> Outline:
    engine = [args.python, "-m", "engine"]
    shot = [args.source, "-o", args.output]
    prepare = Shell("prepare", command=shell_words([*engine, "prepare", *shot, "--frames", args.frames,
                                                    *args.settings]),
                    range="1", chunk=1)
    render = Shell("render", command=shell_words([*engine, "render", *shot, "--frames", CHUNK_FRAMES, "--resume",
                                                  *args.settings]),
                   range=args.frames, chunk=args.chunk)
    render.depend_all(prepare)
    job = Outline(f"{args.shot}_vtoonify", shot=args.shot, show=args.show, user=getpass.getuser())
    job.add_layer(prepare)
    job.add_layer(render)
    return job


def cuebot_name(text: str) -> str:
    """``text`` if Cuebot takes it as a shot name: its JobSpec refuses anything but 3 or more of
    ``[A-Za-z0-9_.-]``, and the job name ``SHOT_vtoonify`` must be an XML NMTOKEN of the CJSL DTD."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: Cuebot takes only 3 or more letters, digits, '_', '.' or '-' "
                                         "(e.g. shot010 or sq01_sh010)")
    return text


def chunk_size(text: str) -> int:
    """``text`` as a chunk of at least one frame: Cuebot cannot cut a layer into chunks of none."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give the frames per render task, 1 or more (e.g. 10)")
    return int(text)


def pinned_precision(settings: list[str]) -> list[str]:
    """``settings`` with ``--precision fp32`` added when none is given: the engine's default ``auto`` resolves
    per host (bf16 where the CPU/GPU has it), and a chunk resolving otherwise than prepare is refused."""
    given = any(a == "--precision" or a.startswith("--precision=") for a in settings)
    return settings if given else [*settings, "--precision", "fp32"]


OWN_OPTIONS = ("--frames", "-o", "--output", "--resume", "--overwrite", "--json-progress", "--openjd-progress")
"""Engine options the settings after ``--`` may not give: this script sets them per layer (a second
``--frames`` would make every chunk render the whole range), or they delete files (docs/FARM.md)."""


def own_option(settings: list[str]) -> str | None:
    """The first option of ``settings`` that OWN_OPTIONS reserves, or None. The engine's parser also takes
    any unambiguous prefix (``--frame``, ``--overw``), so a ``--`` prefix of a reserved option counts too."""
    def reserved(name: str) -> bool:
        return name in OWN_OPTIONS or (len(name) > 2 and name.startswith("--")
                                       and any(own.startswith(name) for own in OWN_OPTIONS))
    return next((a.split("=")[0] for a in settings if reserved(a.split("=")[0])), None)


NEGATIVE_FRAME_RANGE = re.compile(r"-\d[\d\s,x-]*")
"""A frame range starting below zero (``-10-20``, ``-3,-1``): argparse reads a word starting with '-' as an
option unless it is one plain number. (This script runs on OpenCue's Python, without the engine's modules.)"""


def joined_negative_frames(own: list[str]) -> list[str]:
    """``--frames -10-20`` as ``--frames=-10-20``, as the engine's own parser takes it: a shot numbered below
    zero was refused with argparse's "expected one argument" and nothing was submitted."""
    joined: list[str] = []
    words = iter(range(len(own)))
    for i in words:
        if own[i] == "--frames" and i + 1 < len(own) and NEGATIVE_FRAME_RANGE.fullmatch(own[i + 1]):
            joined.append(f"--frames={own[i + 1]}")
            next(words)
        else:
            joined.append(own[i])
    return joined


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    own, settings = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="video or image sequence, as the render hosts see it")
    parser.add_argument("output", help="output folder on shared storage")
    parser.add_argument("--frames", required=True, help="source frames, e.g. 1-120, 1-120x2 or 1-10,20-30")
    parser.add_argument("--chunk", type=chunk_size, default=10, help="frames per render task (default 10)")
    parser.add_argument("--python", required=True, help="the engine's Python on the render hosts")
    parser.add_argument("--show", default="vtoonify", help="OpenCue show (default vtoonify)")
    parser.add_argument("--shot", type=cuebot_name, default="shot",
                        help="shot name, 3+ of A-Z a-z 0-9 _ . - (Cuebot's rule); job SHOT_vtoonify (default shot)")
    args = parser.parse_args(joined_negative_frames(own))
    if own_option(settings):
        parser.error(f"{own_option(settings)} after -- is set by this script, not per shot (docs/FARM.md)")
    args.settings = pinned_precision(settings)  # after "--": engine settings for both commands (--style ...)
    if cuerun is None:
        parser.error(f"OpenCue's PyOutline (the outline module) is not installed for {sys.executable}, so nothing "
                     "was submitted: pip install opencue-pyoutline opencue-pycue, or run this script with the Python "
                     "of your OpenCue tools")
    cuerun.launch(build_outline(args), use_pycuerun=False)


if __name__ == "__main__":
    main()
