"""The `train pretrain` and `train full` command lines printed after `train finetune`.

Why: they are meant to be pasted. Left without ``--direction-path`` they would train without the
paper's attribute edits (one warning, then on), and `full` would stop at once for want of pSp and the
LPIPS weights. So both lines name every file of the recipe: the models folder's own ``encoder.pt`` /
``faceparsing.pth`` by path when it holds them (``models fetch`` puts them there), any other file by its
official bare name for the user to replace (docs/TRAINING.md, 'Files you need').
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.commands import engine_command
from engine.models.inventory import ENCODER_FILE, FACE_PARSER_FILE

DIRECTIONS_FILE = "directions.npy"
PERCEPTUAL_FILES = ("vgg16-397923af.pth", "vgg.pth")


def _in_models_folder(out: str | Path, name: str) -> str:
    """``out/name`` when that file exists, else the bare official name (a placeholder to replace)."""
    path = Path(out) / name
    return str(path) if path.is_file() else name


def toonify_commands(stylegan_path: str | Path, finetuned: str | Path, out: str | Path, folder: str) -> tuple[str, str]:
    """(pretrain, full) command lines that distil VToonify-T from ``finetuned`` into ``out/folder``."""
    flags = {
        "--backbone": "toonify",
        "--stylegan-path": stylegan_path,
        "--finetunegan-path": finetuned,
        "--style-encoder-path": _in_models_folder(out, ENCODER_FILE),
        "--faceparsing-path": _in_models_folder(out, FACE_PARSER_FILE),
        "--direction-path": _in_models_folder(out, DIRECTIONS_FILE),
        "--out": out,
        "--name": folder,
    }
    words = [str(word) for pair in flags.items() for word in pair]
    perceptual = os.pathsep.join(_in_models_folder(out, name) for name in PERCEPTUAL_FILES)
    pretrain = engine_command("train", "pretrain", *words)
    full = engine_command("train", "full", *words, "--perceptual-weights", perceptual)
    return pretrain, full
