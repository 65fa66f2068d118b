"""The `train pretrain` and `train full` command lines printed after `train finetune`.

Why: they are meant to be pasted. Left without ``--direction-path`` they would train without the
paper's attribute edits (one warning, then on), and `full` would stop at once for want of pSp and the
LPIPS weights. So both lines name every file of the recipe: the models folder's own ``encoder.pt`` /
``faceparsing.pth`` by path when it holds them (``models fetch`` puts them there), any other file by its
official bare name for the user to replace (docs/TRAINING.md, 'Files you need').
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.commands import engine_command
from engine.models.inventory import ENCODER_FILE, FACE_PARSER_FILE
from engine.train.options import DEFAULT_BLEND

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


def matching_flags(backbone: str) -> str:
    """The flags `train full` must repeat from `train pretrain`: its teachers, folder and model variant
    (another --fix-degree writes another file; another teacher trains against the wrong one)."""
    teacher = (
        "--finetunegan-path, --weight"
        if backbone == "toonify"
        else "--exstyle-path, --fix-style, --style-id, --fix-degree, --style-degree, --fix-color"
    )
    return f"--backbone, --stylegan-path, {teacher}, --faceparsing-path, --direction-path, --out and --name"


def recorded_full_command(options: Mapping, models_dir: str | Path, folder: str) -> str | None:
    """`train full` for the run a ``pretrain.pt`` recorded (its ``options``), writing into ``models_dir/folder``
    where the listing found it; None when the record lacks what the stage needs."""
    backbone = options.get("backbone")
    teacher = {"dualstylegan": "exstyle_path", "toonify": "finetunegan_path"}.get(backbone)
    if teacher is None or not all(
        isinstance(options.get(k), str) and options[k] for k in ("stylegan_path", "faceparsing_path", teacher)
    ):
        return None
    perceptual = options.get("perceptual_weights") or os.pathsep.join(
        _in_models_folder(models_dir, name) for name in PERCEPTUAL_FILES
    )
    words = [
        "--backbone",
        backbone,
        "--stylegan-path",
        options["stylegan_path"],
        f"--{teacher.replace('_', '-')}",
        options[teacher],
        "--faceparsing-path",
        options["faceparsing_path"],
        "--style-encoder-path",
        options.get("style_encoder_path") or _in_models_folder(models_dir, ENCODER_FILE),
    ]
    if options.get("direction_path"):
        words += ["--direction-path", options["direction_path"]]
    try:
        if backbone == "toonify":
            weight = [float(w) for w in options.get("weight") or DEFAULT_BLEND]
            words += ["--weight", *(f"{w:g}" for w in weight)] if tuple(weight) != DEFAULT_BLEND else []
        else:
            words += (
                ["--fix-style", "--style-id", str(int(options.get("style_id", 26)))] if options.get("fix_style") else []
            )
            words += (
                ["--fix-degree", "--style-degree", f"{float(options.get('style_degree', 0.5)):g}"]
                if options.get("fix_degree")
                else []
            )
            words += ["--fix-color"] if options.get("fix_color") else []
    except (TypeError, ValueError):
        return None
    words += ["--perceptual-weights", perceptual, "--out", str(models_dir), "--name", folder]
    return engine_command("train", "full", *[str(w) for w in words])
