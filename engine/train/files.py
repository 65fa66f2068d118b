"""Every file a training run reads, checked up front by the flag that names it.

Why: the shared loaders (``engine.models``) word a missing file for the renderer's models folder ("fetch
it again"); a studio TD who mistyped ``--stylegan-path`` needs to hear which flag is wrong and what file
belongs there, before anything is loaded or written.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from engine.errors import ModelFileError
from engine.train.options import TrainOptions

WHAT = {
    "stylegan_path": ("--stylegan-path", "D: the style's DualStyleGAN generator.pt (DualStyleGAN release, "
                      "checkpoint/<style>/generator.pt); T: rosinality's stylegan2-ffhq-config-f.pt"),
    "faceparsing_path": ("--faceparsing-path", "the BiSeNet faceparsing.pth of the VToonify models (a models folder "
                         "has it; `models fetch` downloads it)"),
    "exstyle_path": ("--exstyle-path", "the style's exstyle_code.npy or refined_exstyle_code.npy (DualStyleGAN "
                     "release, beside generator.pt)"),
    "style_encoder_path": ("--style-encoder-path", "the pSp encoder.pt of the VToonify models (a models folder has "
                           "it; `models fetch` downloads it)"),
    "direction_path": ("--direction-path", "directions.npy of the official VToonify training files (or leave the "
                       "option out)"),
    "finetunegan_path": ("--finetunegan-path", "the style's fine-tuned StyleGAN2: the finetune.pt `engine train "
                         "finetune` writes from your style images, or Toonify's finetune-000600.pt"),
    "encoder_path": ("--encoder-path", "the pretrain.pt written by `engine train pretrain`"),
    "resume": ("--resume", "a pretrain*.pt / vtoonify*.pt checkpoint written by `engine train`"),
    "perceptual_weights": ("--perceptual-weights", "torchvision's vgg16-397923af.pth and LPIPS's v0.1 vgg.pth, "
                           f"joined with '{os.pathsep}'"),
}
"""Option -> (flag, what belongs there and where it comes from), as docs/TRAINING.md "Files you need"."""
DOCS = "see docs/TRAINING.md, 'Files you need'"


def expected(option: str) -> str:
    """What belongs to ``option``'s flag; a suggested command is written so that it pastes as it is."""
    text = WHAT[option][1]
    if "`models fetch`" in text:
        from engine.commands import engine_command

        text = text.replace("`models fetch`", f"`{engine_command('models', 'fetch')}`")
    return text


def split_path_list(value: str) -> list[str]:
    """The files of an ``os.pathsep``-joined list (``--perceptual-weights``), taking whole any file that
    exists although its path holds the separator (a folder named ``lpips:v0.1``): the plain split cut such
    paths in two and named both halves as missing. When some name does not exist the plain split is kept,
    so the error lists each missing part."""
    parts = str(value).split(os.pathsep)
    found, pending = [], None
    for part in parts:
        pending = part if pending is None else f"{pending}{os.pathsep}{part}"
        if pending and Path(pending).expanduser().is_file():
            found.append(pending)
            pending = None
    return found if pending is None else [p for p in parts if p]


def given_files(options: TrainOptions) -> list[tuple[str, Path]]:
    """(option, path) for every file this run will read; ``--perceptual-weights`` may list several."""
    files = []
    for option in WHAT:
        value = getattr(options, option)
        if not value:
            continue
        parts = split_path_list(value) if option == "perceptual_weights" else [str(value)]
        files += [(option, Path(p).expanduser()) for p in parts if p]
    return files


def _problem(flag: str, path: Path) -> str | None:
    if path.is_dir():
        return f"{flag} {path} is a folder, not a file"
    if not path.exists():
        if path.is_symlink():
            return f"{flag} {path} is a link to {os.readlink(path)}, which does not exist"
        return f"{flag}: file not found: {path}"
    if not path.is_file():  # a FIFO, socket or device: reading it would block or never end
        return f"{flag} {path} is not a regular file (a FIFO, socket or device)"
    if path.stat().st_size == 0:
        return f"{flag} {path} is empty (0 bytes)"
    return None


def check_training_files(options: TrainOptions) -> None:
    """ModelFileError naming every given file that is missing, a folder or empty, each by its flag with
    what belongs there: a studio setting up a first run on a fresh machine learns in one go what to get."""
    problems: list[tuple[str, str]] = []
    for option, path in given_files(options):
        problem = _problem(WHAT[option][0], path)
        if problem is not None:
            problems.append((option, problem))
    if not problems:
        return
    if len(problems) == 1:
        option, problem = problems[0]
        raise ModelFileError(problem, f"give {expected(option)} ({DOCS})")
    wanted = dict.fromkeys(option for option, _ in problems)
    raise ModelFileError(
        f"{len(problems)} training files are missing or unusable: " + "; ".join(problem for _, problem in problems),
        "give " + "; ".join(f"{WHAT[o][0]}: {expected(o)}" for o in wanted) + f" ({DOCS})",
    )


RENDERER_FIX_WORDS = ("models fetch", "models folder")
"""The shared loaders' advice for the renderer's models folder; wrong for a file given to a training flag
(``models fetch`` downloads no DualStyleGAN generator, and the trainer reads no models folder)."""


@contextlib.contextmanager
def named_by_flag(option: str):
    """Re-raise a ModelFileError from loading the file of ``option`` so that it names the flag and, when
    the shared loader advised a re-download for the renderer, says what file belongs to that flag."""
    try:
        yield
    except ModelFileError as exc:
        flag = WHAT[option][0]
        message = exc.message if flag in exc.message else f"{flag}: {exc.message}"
        fix = exc.fix
        if not fix or any(words in fix for words in RENDERER_FIX_WORDS):
            fix = f"give {expected(option)} ({DOCS})"
        raise ModelFileError(message, fix) from None
