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
    "stylegan_path": ("--stylegan-path", "D: the style's DualStyleGAN generator.pt; T: stylegan2-ffhq-config-f.pt"),
    "faceparsing_path": ("--faceparsing-path", "the BiSeNet faceparsing.pth of the VToonify models"),
    "exstyle_path": ("--exstyle-path", "the style's exstyle_code.npy or refined_exstyle_code.npy"),
    "style_encoder_path": ("--style-encoder-path", "the pSp encoder.pt of the VToonify models"),
    "direction_path": ("--direction-path", "directions.npy of the VToonify models (or leave the option out)"),
    "finetunegan_path": ("--finetunegan-path", "the fine-tuned StyleGAN2, e.g. finetune-000600.pt"),
    "encoder_path": ("--encoder-path", "the pretrain.pt written by `engine train pretrain`"),
    "resume": ("--resume", "a pretrain*.pt / vtoonify*.pt checkpoint written by `engine train`"),
    "perceptual_weights": ("--perceptual-weights", "torchvision's vgg16-397923af.pth and LPIPS's v0.1 vgg.pth, "
                           f"joined with '{os.pathsep}'"),
}
"""Option -> (flag, what belongs there), as docs/TRAINING.md "Files you need" lists them."""


def given_files(options: TrainOptions) -> list[tuple[str, Path]]:
    """(option, path) for every file this run will read; ``--perceptual-weights`` may list several."""
    files = []
    for option in WHAT:
        value = getattr(options, option)
        if not value:
            continue
        parts = str(value).split(os.pathsep) if option == "perceptual_weights" else [str(value)]
        files += [(option, Path(p).expanduser()) for p in parts if p]
    return files


def check_training_files(options: TrainOptions) -> None:
    """ModelFileError naming the flag for the first given file that is missing, a folder or empty."""
    for option, path in given_files(options):
        flag, expected = WHAT[option]
        if path.is_dir():
            problem = f"{flag} {path} is a folder, not a file"
        elif not path.exists():
            problem = f"{flag}: file not found: {path}"
        elif path.stat().st_size == 0:
            problem = f"{flag} {path} is empty (0 bytes)"
        else:
            continue
        raise ModelFileError(problem, f"give {expected} (see docs/TRAINING.md, 'Files you need')")


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
        flag, expected = WHAT[option]
        message = exc.message if flag in exc.message else f"{flag}: {exc.message}"
        fix = exc.fix
        if not fix or any(words in fix for words in RENDERER_FIX_WORDS):
            fix = f"give {expected} (see docs/TRAINING.md, 'Files you need')"
        raise ModelFileError(message, fix) from None
