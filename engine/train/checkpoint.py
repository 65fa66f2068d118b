"""Training outputs in the official ``checkpoint/NAME/`` layout, so ``--out DIR`` is a models folder.

``--out DIR --name NAME`` writes (official names, ``train_vtoonify_d.py`` / ``train_vtoonify_t.py``)::

    DIR/NAME/pretrain.pt               encoder pre-training: {'g_ema': encoder state dict, ...}
    DIR/NAME/vtoonify_s026_d0.5.pt     D: _s[NNN] fixed/any exemplar, _d[X] fixed/any degree, _c colour
    DIR/NAME/vtoonify.pt               T
    DIR/NAME/exstyle_code.npy          D: the exemplar codes the model was trained with
    DIR/encoder.pt, DIR/faceparsing.pth  copied when absent (the renderer needs them beside the family)

``engine.models.inventory`` finds families in folders named ``vtoonify_d_<style>`` / ``vtoonify_t_<style>``;
a plain NAME is given that prefix so the result renders with ``--models DIR --style <style>``.
Every file is written to a hidden temp name and renamed (a crash never leaves half a checkpoint); only a
file this trainer wrote is ever replaced, and the checkpoint saved on a stop replaces nothing
(:func:`save_stop_checkpoint`).
Departure: the official files hold only ``g_ema``; ours add ``g``, ``d``, optimiser states and the
iteration (the official loaders read ``['g_ema']`` and ignore the rest), which makes ``--resume`` exact.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.commands import engine_command
from engine.errors import ConfigError, ModelFileError, OutputError
from engine.io.atomic import TargetExistsError, atomic_reopenable, remove_stale_temps
from engine.models.checkpoints import (
    check_pickle_nesting,
    check_zip_crcs,
    check_zip_sizes,
    describe_checkpoint,
    load_torch_file,
)
from engine.models.inventory import ENCODER_FILE, EXSTYLE_FILE, FACE_PARSER_FILE, model_file_name

FORMAT = "vtoonify-studio-train/1"
"""Marks files written by this trainer (``--resume`` accepts only these)."""
PRETRAIN_FILE = "pretrain.pt"
_FOLDER_RE = re.compile(r"^vtoonify_(?P<kind>[dt])_(?P<style>[A-Za-z0-9][A-Za-z0-9_-]*)$")
_PLAIN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def family_folder_name(name: str, backbone: str) -> str:
    """Folder for ``--name``: ``vtoonify_d_<style>`` / ``vtoonify_t_<style>`` (the inventory's pattern).

    A plain style name gets the prefix of its backbone; a prefixed name of the other backbone is an
    error (the renderer would load it as the wrong model kind).
    """
    kind = "d" if backbone == "dualstylegan" else "t"
    match = _FOLDER_RE.match(name)
    if match:
        if match["kind"] != kind:
            raise ConfigError(
                f"--name {name!r} is a VToonify-{match['kind'].upper()} folder but --backbone is {backbone}",
                f"use --name vtoonify_{kind}_{match['style']} (or the other backbone)",
            )
        return name
    if not _PLAIN_NAME_RE.match(name):
        raise ConfigError(
            f"--name {name!r} is not a usable folder name",
            "use letters, digits, '_' or '-', e.g. --name vtoonify_d_cartoon",
        )
    return f"vtoonify_{kind}_{name}"


DASHED_STEMS = ("pretrain", "finetune")
"""Final files whose numbered saves join with '-' (official ``pretrain-%05d.pt``, ``finetune-%06d.pt``)."""


def numbered(path: Path, iteration: int) -> Path:
    """Intermediate save name, official style: ``pretrain-00300.pt`` / ``finetune-00300.pt`` /
    ``vtoonify_s_d_c_00300.pt``."""
    sep = "-" if path.stem in DASHED_STEMS else "_"
    return path.with_name(f"{path.stem}{sep}{iteration:05d}{path.suffix}")


@dataclass(frozen=True)
class OutputLayout:
    """Where one training run writes (nothing exists until :meth:`create`)."""

    models_dir: Path
    """``--out``: a models folder (shared files at its root)."""
    folder: str
    """Family folder name, ``vtoonify_[dt]_<style>``."""
    model_name: str
    """File name of the full-stage model (see :func:`model_file_name`)."""

    @property
    def family_dir(self) -> Path:
        return self.models_dir / self.folder

    @property
    def pretrain_path(self) -> Path:
        return self.family_dir / PRETRAIN_FILE

    @property
    def model_path(self) -> Path:
        return self.family_dir / self.model_name

    @property
    def exstyle_path(self) -> Path:
        return self.family_dir / EXSTYLE_FILE

    @property
    def style(self) -> str:
        return self.folder.split("_", 2)[2]

    def check_writable(self) -> None:
        """OutputError unless every folder to create or write is (or can be made) writable, and ``DIR/NAME``
        is not a link (training writes through no link it did not make; ``--out`` itself may be one, the
        user named it). Creates nothing."""
        if self.family_dir.is_symlink():
            raise OutputError(
                f"{self.family_dir} is a link to {os.path.realpath(self.family_dir)}; training never writes "
                "through a link it did not make",
                "remove the link, or point --out (and --name) at the real folder",
            )
        for folder in (self.models_dir, self.family_dir):
            probe = folder
            while not probe.exists():
                if probe.is_symlink():
                    raise OutputError(f"output folder {folder} is a broken link", "pick another --out")
                if probe.parent == probe:
                    break
                probe = probe.parent
            if not probe.is_dir():
                raise OutputError(
                    f"cannot write to {folder}: {probe} is not a folder", "pick another --out folder"
                )
            if not os.access(probe, os.W_OK | os.X_OK):
                raise OutputError(
                    f"output folder {probe} is not writable", "check its permissions or pick another --out"
                )

    def create(self) -> None:
        """Make ``DIR/NAME`` (after every check passed) and remove what saves killed midway left there."""
        try:
            self.family_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create {self.family_dir}: {exc.strerror or exc}", "pick another --out folder"
            ) from None
        self.remove_stale_temps()

    def remove_stale_temps(self) -> list[Path]:
        """Delete this host's temps of dead training processes: a run killed during a save (a farm's hard
        kill, OOM) never renames its temp, and a checkpoint's temp is as large as the checkpoint. In
        ``DIR/NAME`` and its folders (``samples``) any such temp is the trainer's; in ``DIR`` only those of
        the companion files it copies there (other families and jobs may share ``DIR``)."""
        removed = remove_stale_temps(self.models_dir, lambda name: name in (ENCODER_FILE, FACE_PARSER_FILE))
        removed += remove_stale_temps(self.family_dir)
        for sub in sorted(self.family_dir.iterdir()):
            if sub.is_dir() and not sub.is_symlink():
                removed += remove_stale_temps(sub)
        return removed


def output_layout(out: str | Path, name: str, backbone: str, **variant: Any) -> OutputLayout:
    """The layout for ``--out``/``--name`` and the D variant flags (see :func:`model_file_name`)."""
    folder = family_folder_name(name, backbone)
    return OutputLayout(Path(out).expanduser(), folder, model_file_name(backbone, **variant))


# --- writing ----------------------------------------------------------------------------------


GAN_STATE_ENTRIES = ("g", "g_ema", "d", "g_optim", "d_optim")
"""The entries :func:`restore_gan_state` loads (weights, then optimiser states)."""


def non_finite_values(value: Any, name: str = "") -> list[str]:
    """Dotted names of the floating tensors (and float numbers, e.g. a learning rate) under ``value`` that
    hold NaN or Inf: one ``isfinite`` pass per tensor (only at resume)."""
    import math

    from engine.models.checkpoints import all_finite

    if isinstance(value, torch.Tensor):
        plain = value.layout == torch.strided and not value.is_quantized
        return [name] if plain and value.is_floating_point() and not all_finite(value) else []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [name]
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return []
    return [bad for key, item in items for bad in non_finite_values(item, f"{name}.{key}" if name else str(key))]


def check_finite_gan_state(ckpt: Mapping[str, Any], path) -> None:
    """ModelFileError when the weights or optimiser states to resume hold NaN/Inf: training had diverged
    before this save, and continuing would only write more NaN checkpoints (and NaN frames)."""
    for entry in GAN_STATE_ENTRIES:
        bad = non_finite_values(ckpt.get(entry))
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise ModelFileError(
                f"{path}: its {entry} entry holds NaN or infinite values in {shown}; "
                "training had diverged before this save",
                f"resume from an earlier checkpoint (a numbered save in {Path(path).parent}: --resume <that file>), "
                "or start again without --resume")


def restore_gan_state(session, ckpt: Mapping[str, Any], path, does_not_fit: str, fix: str) -> None:
    """The student (``g``), its EMA, D and both optimisers from a resumed file: a file of other widths
    is one ModelFileError ("<path> does not fit <does_not_fit>") with ``fix``, not a torch traceback;
    NaN/Inf weights or optimiser states are refused before anything is loaded."""
    check_finite_gan_state(ckpt, path)
    try:
        session.student.load_state_dict(ckpt["g"])
        session.ema.load_state_dict(ckpt["g_ema"])
        session.extra["d"].load_state_dict(ckpt["d"])
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ModelFileError(f"{path} does not fit {does_not_fit} ({lines[min(1, len(lines) - 1)][:160]})",
                             fix) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a hand-edited entry: "g" is no dict
        raise ModelFileError(f"{path} holds no usable weights for {does_not_fit} ({str(exc)[:160]})", fix) from None
    for key, optimiser in (("g_optim", session.g_optim), ("d_optim", session.extra["d_optim"])):
        try:
            optimiser.load_state_dict(ckpt[key])
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, RuntimeError) as exc:
            raise ModelFileError(f"{path}: its {key} optimiser state does not fit this run ({str(exc)[:160]})",
                                 fix) from None


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> Path:
    """``torch.save`` to a hidden temp file beside ``path``, then rename (never half a file)."""
    data = {"format": FORMAT, **payload}
    with atomic_reopenable(path) as tmp:  # torch.save opens by name: the created file itself, never a link
        torch.save(data, tmp)
    return path


def is_training_checkpoint(path: Path) -> bool:
    """True for a regular file (not a link) that this trainer wrote (its ``format`` mark); cheap: the
    tensors are memory-mapped, not read."""
    if path.is_symlink() or not path.is_file():
        return False
    obj = _peek(path)
    return isinstance(obj, Mapping) and obj.get("format") == FORMAT


def check_replaceable(path: Path) -> None:
    """OutputError when a file at ``path`` exists that this trainer did not write (never replaced)."""
    if (path.exists() or path.is_symlink()) and not is_training_checkpoint(path):
        what = "a link" if path.is_symlink() else "a file `engine train` did not write"
        raise OutputError(
            f"{path} is {what}; training never replaces it",
            "move it away, or pick another --name or --out",
        )


def save_training_checkpoint(path: Path, payload: Mapping[str, Any]) -> Path:
    """A periodic or final save: replaces an earlier checkpoint of this trainer, nothing else."""
    check_replaceable(path)
    return save_checkpoint(path, payload)


def run_checkpoint_files(final: Path) -> list[Path]:
    """Files in ``final``'s folder named as this run's checkpoints: ``final`` itself, its numbered saves
    and stop saves (``..._%05d.pt``, ``..._%05d_stopped[N].pt``); names only, nothing is read."""
    sep = "-" if final.stem in DASHED_STEMS else "_"
    pattern = re.compile(re.escape(final.stem + sep) + r"\d{5,}(_stopped\d*)?" + re.escape(final.suffix) + "$")
    if not final.parent.is_dir():
        return []
    return [p for p in final.parent.iterdir() if p.name == final.name or pattern.match(p.name)]


def latest_checkpoint(final: Path, stage: str, backbone: str) -> tuple[Path, int] | None:
    """(path, iteration) of the most advanced checkpoint of this run that this trainer wrote for
    ``stage``/``backbone`` (ties: the newest file), or None."""
    best = None
    for path in run_checkpoint_files(final):
        obj = _peek(path) if is_training_checkpoint(path) else None
        if not isinstance(obj, Mapping) or (obj.get("stage"), obj.get("backbone")) != (stage, backbone):
            continue
        key = (int(obj.get("iter", -1)), path.stat().st_mtime_ns)
        if best is None or key > best[0]:
            best = (key, path)
    return (best[1], best[0][0]) if best else None


def check_auto_resume_done(found: Path, done: int, final: Path, iterations: int) -> None:
    """``--resume auto`` found a checkpoint at or past ``--iter``: that is "nothing to do" only when the
    final file is there; a numbered or stop save past a lowered ``--iter`` is no finished run (exit 0
    without a model to render was the result)."""
    if found == final or is_training_checkpoint(final):
        return
    raise ConfigError(
        f"--resume auto: {found} holds {done} iterations, more than --iter {iterations}, and {final.name} "
        "(the finished run) is missing",
        f"pass --iter {done + 1} or more to continue it (then {final.name} is written), or --resume {found} "
        "with its own --iter",
    )


STOP_NAME_ATTEMPTS = 100


def stop_checkpoint_names(path: Path):
    """``path``, then ``<stem>_stopped.pt``, ``<stem>_stopped2.pt``... (names no periodic save uses)."""
    yield path
    for k in range(1, STOP_NAME_ATTEMPTS):
        yield path.with_name(f"{path.stem}_stopped{k if k > 1 else ''}{path.suffix}")


def save_stop_checkpoint(path: Path, payload: Mapping[str, Any]) -> tuple[Path, bool]:
    """The checkpoint written when a run is stopped (Ctrl-C, SIGTERM); returns (where the state is,
    whether this call wrote it), so the stop message never says "saved" for a file it only kept.

    It replaces nothing: a checkpoint of this trainer already holding the same state (a periodic save of
    this iteration, an earlier run of the same command) is kept as it is and named; any other file keeps
    its name and the state goes to the first free ``<stem>_stopped[N].pt``. The rename itself refuses a
    taken name, so a file appearing meanwhile is not replaced either.
    """
    data = {"format": FORMAT, **payload}
    for candidate in stop_checkpoint_names(path):
        if candidate.exists() or candidate.is_symlink():
            if is_training_checkpoint(candidate) and holds_state(candidate, data):
                return candidate, False
            continue
        try:
            with atomic_reopenable(candidate, replace=False) as tmp:
                torch.save(data, tmp)
        except TargetExistsError:
            continue
        return candidate, True
    raise OutputError(f"no free name for the stop checkpoint beside {path}",
                      "clear old *_stopped*.pt files from the folder")


def holds_state(path: Path, data: Mapping[str, Any]) -> bool:
    """True when the checkpoint at ``path`` holds exactly ``data``'s training state (every tensor equal)."""
    saved = _peek(path)
    if not isinstance(saved, Mapping):
        return False
    stage = data.get("stage")
    keys = ("stage", "backbone", *_STAGE_KEYS.get(stage, ("iter",)))
    return all(k in saved and same_value(saved[k], data[k]) for k in keys if k in data)


def same_value(a: Any, b: Any) -> bool:
    """Deep equality of checkpoint contents (tensors: same dtype, shape and values)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a.cpu(), b.cpu()))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def _peek(path: Path) -> Any:
    """``weights_only`` load with memory-mapped tensors; None for anything unreadable."""
    try:
        check_zip_sizes(path)  # a planted zip bomb is refused unopened, as every model load
        check_pickle_nesting(path)  # and a key nested a million deep, which crashes the unpickler itself
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a torch zip file, damaged, refused by the weights-only unpickler: not ours
        return None


def copy_file_atomic(source: Path, target: Path) -> None:
    """Copy bytes (not a link: the models folder must not depend on where the teacher files live) to a
    free name; a file or link that appears there meanwhile is kept (nothing is replaced)."""
    try:
        with atomic_reopenable(target, replace=False) as tmp:
            shutil.copyfile(source, tmp)
    except TargetExistsError:
        pass


def check_family_exstyles(layout: OutputLayout, exstyles: str | Path) -> None:
    """ConfigError when ``OUT/NAME/exstyle_code.npy`` exists with other codes than ``--exstyle-path``.

    Why: that file is kept (never replaced), and the renderer pairs the family's models with it, so a
    model trained on other codes (``refined_exstyle_code.npy`` after ``exstyle_code.npy``, another
    style's file) would render every ``--style-id`` with the wrong exemplar, without a word.
    """
    from engine.models import load_exstyles

    target = layout.exstyle_path
    if not target.is_file():
        return
    try:
        there = load_exstyles(target)
    except ModelFileError as exc:
        raise ConfigError(f"{target} is unreadable ({exc.message})",
                          "remove it: training writes the codes of --exstyle-path there") from None
    given = load_exstyles(exstyles)
    same = list(there) == list(given) and all(
        there[k].shape == given[k].shape and torch.equal(there[k], given[k]) for k in given)
    if not same:
        raise ConfigError(
            f"{target} holds other style codes than --exstyle-path {exstyles}; the renderer would pair "
            "this model with them (every --style-id a wrong exemplar)",
            f"train into another --name, pass the codes already there ({target}), or remove that file",
        )


def install_companions(
    layout: OutputLayout,
    *,
    style_encoder: str | Path | None,
    face_parser: str | Path | None,
    exstyles: str | Path | None,
) -> list[str]:
    """Put the files the renderer needs next to the trained model; returns what is still missing.

    Existing files and links, broken ones included, are never replaced (the user may keep other models
    there; a broken link is named in the result). ``exstyle_code.npy`` is the family's own file and
    follows the training run, as the official script saves it.
    """
    wanted = {
        layout.models_dir / ENCODER_FILE: style_encoder,
        layout.models_dir / FACE_PARSER_FILE: face_parser,
    }
    if exstyles is not None:
        wanted[layout.exstyle_path] = exstyles
    missing = []
    for target, source in wanted.items():
        if target.exists():
            continue
        if target.is_symlink():
            missing.append(f"{target} (a broken link, left as it is)")
        elif source is not None:
            copy_file_atomic(Path(source), target)
        else:
            missing.append(str(target))
    return missing


# --- reading ----------------------------------------------------------------------------------

MAX_ITER = 10**9
"""Most iterations a checkpoint may record (the official runs take 2,000-100,000)."""
_STAGE_KEYS = {
    "pretrain": ("g_ema", "g", "g_optim", "iter"),
    "full": ("g_ema", "g", "d", "g_optim", "d_optim", "iter"),
    "finetune": ("g_ema", "g", "d", "g_optim", "d_optim", "iter", "ada", "mean_path_length"),
}


def load_training_checkpoint(path: str | Path, stage: str, backbone: str) -> dict[str, Any]:
    """A file this trainer wrote for ``stage``/``backbone`` (``weights_only``), or one clear error."""
    path = Path(path)
    obj = load_torch_file(path)
    check_training_checkpoint(obj, path, stage, backbone)
    return dict(obj)


def check_resume_file(path: str | Path, stage: str, backbone: str, iterations: int) -> None:
    """The ``--resume`` checks, made before the teachers load (minutes for official ones): tensors are
    memory-mapped, not read. Also refuses a file that already reached ``--iter``."""
    from engine.errors import ConfigError

    path = Path(path)
    obj = _peek(path)
    if obj is None:
        obj = load_torch_file(path)  # the precise reason (corrupt, unsafe, not a checkpoint)
    check_training_checkpoint(obj, path, stage, backbone)
    check_zip_crcs(path)  # a damaged file, said before the teachers load rather than after
    if int(obj["iter"]) >= iterations:
        raise ConfigError(
            f"{path} already holds {int(obj['iter'])} iterations (--iter is {iterations})",
            "raise --iter to continue training",
        )


def check_training_checkpoint(obj: Any, path: Path, stage: str, backbone: str) -> None:
    """ModelFileError unless ``obj`` is this trainer's checkpoint of ``stage``/``backbone``, complete."""
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} was not written by `engine train` (it looks like {describe_checkpoint(obj)})",
            "resume from a pretrain.pt / vtoonify*.pt written by `engine train`, or start without --resume",
        )
    if obj.get("stage") != stage:
        fix = f"resume `train {stage}` from a file that stage wrote"
        if stage == "full" and obj.get("stage") == "pretrain":
            fix = ("to start the full stage from pre-training, drop --resume: it reads OUT/NAME/pretrain.pt "
                   "itself (or give that file as --encoder-path)")
        raise ModelFileError(f"{path} is a {obj.get('stage')!r} checkpoint, not a {stage!r} one", fix)
    if obj.get("backbone") != backbone:
        raise ModelFileError(
            f"{path} was trained with --backbone {obj.get('backbone')}, not {backbone}",
            f"use --backbone {obj.get('backbone')} or another checkpoint",
        )
    missing = [k for k in _STAGE_KEYS[stage] if k not in obj]
    if missing:
        raise ModelFileError(f"{path} lacks {', '.join(missing)}", "resume from an intact checkpoint")
    if stage == "finetune":
        check_finetune_state(obj, path)
    done = obj["iter"]
    if isinstance(done, bool) or not isinstance(done, int) or not 0 <= done <= MAX_ITER:
        # a hand-edited count ("x", None, NaN, 1e308) would otherwise fail int() as an internal error
        raise ModelFileError(f"{path} records {str(done)[:40]!r} as its iteration count, not a whole number "
                             f"from 0 to {MAX_ITER:,}", "resume from an intact checkpoint written by `engine train`")


ADA_FIELDS = {"p": (0.0, 1.0), "signs": None, "r_t": None, "count": (0, None), "steps": (0, None)}
"""The adaptive augmentation's saved state (``engine.train.augment``): name -> allowed range (None: any
finite number; counters are whole numbers)."""


def check_finetune_state(obj: Mapping[str, Any], path) -> None:
    """ModelFileError when a fine-tune checkpoint's augmentation state or path-length mean is not what
    this trainer writes (a hand edit, a diverged run): before, a missing ADA field was a KeyError and a
    NaN probability or path-length mean trained on silently."""
    import math

    def refuse(what: str) -> None:
        raise ModelFileError(
            f"{path}: its {what}",
            f"resume from an earlier checkpoint (a numbered save in {Path(path).parent}: --resume <that file>), "
            "or start again without --resume")

    ada = obj["ada"]
    if not isinstance(ada, Mapping) or set(ADA_FIELDS) - set(ada):
        refuse(f"ada entry is not the augmentation state this trainer saves (it needs {', '.join(ADA_FIELDS)})")
    for name, bounds in ADA_FIELDS.items():
        value = ada[name]
        whole = name in ("count", "steps")
        number = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not number or not math.isfinite(value):
            refuse(f"ada.{name} is {str(value)[:40]!r}, not a finite {'whole ' if whole else ''}number")
        low, high = bounds or (None, None)
        if (low is not None and value < low) or (high is not None and value > high):
            refuse(f"ada.{name} is {value}, outside {low} to {high if high is not None else 'any'}")
    mean = obj["mean_path_length"]
    if not isinstance(mean, torch.Tensor) or not mean.is_floating_point() or mean.numel() != 1:
        refuse(f"mean_path_length is {describe_checkpoint(mean)}, not one floating-point number")
    if not math.isfinite(float(mean)) or float(mean) < 0:
        refuse(f"mean_path_length is {float(mean)}: training had diverged before this save")


def load_pretrained_encoder(path: str | Path) -> Mapping[str, torch.Tensor]:
    """Encoder weights of a ``pretrain.pt`` (ours or the official ``{'g_ema': encoder state dict}``)."""
    path = Path(path)
    obj = load_torch_file(path)
    sd = obj.get("g_ema") if isinstance(obj, Mapping) else None
    if not isinstance(sd, Mapping) or not any(str(k).startswith("0.") for k in sd):
        raise ModelFileError(
            f"{path} is not an encoder pre-training file (it looks like {describe_checkpoint(obj)})",
            f"run `{engine_command('train', 'pretrain')}` first, or pass its pretrain.pt with --encoder-path",
        )
    return sd
