"""What the models folder holds, what each style family still lacks, and which checkpoint a job uses.

The folder follows the official ``checkpoint/`` layout (the Hugging Face repo
``PKUWilliamYang/VToonify`` ships the same tree under ``models/``)::

    encoder.pt  faceparsing.pth
    vtoonify_t_<style>/vtoonify.pt
    vtoonify_d_<style>/exstyle_code.npy  vtoonify_s_d.pt  vtoonify_s_d_c.pt  vtoonify_sNNN_dX[_c].pt

VToonify-D file names encode what a model supports (official README): ``_sNNN`` one fixed exemplar
(``_s`` alone: any exemplar), ``_dX`` one fixed style degree (``_d`` alone: any degree in [0, 1]),
``_c`` colour transfer. Results are frozen dataclasses with ``to_dict()`` (sent as JSON by the service).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.errors import ModelFileError, setting
from engine.user_dirs import user_dir

BACKBONES = ("dualstylegan", "toonify")
"""VToonify-D uses DualStyleGAN (exemplar, degree, colour controls); VToonify-T a fine-tuned StyleGAN2."""

ENCODER_FILE = "encoder.pt"
FACE_PARSER_FILE = "faceparsing.pth"
SHARED_FILES = (ENCODER_FILE, FACE_PARSER_FILE)
EXSTYLE_FILE = "exstyle_code.npy"
TOONIFY_FILE = "vtoonify.pt"

OFFICIAL_FILES: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("cartoon", "dualstylegan"): (
        "vtoonify_s_d.pt",
        "vtoonify_s026_d0.5.pt",
        "vtoonify_s299_d0.5.pt",
        EXSTYLE_FILE,
    ),
    ("caricature", "dualstylegan"): ("vtoonify_s039_d0.5.pt", "vtoonify_s068_d0.5.pt", EXSTYLE_FILE),
    ("arcane", "dualstylegan"): (
        "vtoonify_s_d.pt",
        "vtoonify_s000_d0.5.pt",
        "vtoonify_s077_d0.5.pt",
        EXSTYLE_FILE,
    ),
    ("comic", "dualstylegan"): ("vtoonify_s_d.pt", EXSTYLE_FILE),
    ("pixar", "dualstylegan"): ("vtoonify_s_d.pt", "vtoonify_s052_d0.5.pt", EXSTYLE_FILE),
    ("illustration", "dualstylegan"): (
        "vtoonify_s054_d_c.pt",
        "vtoonify_s004_d_c.pt",
        "vtoonify_s009_d_c.pt",
        "vtoonify_s043_d_c.pt",
        "vtoonify_s086_d_c.pt",
        EXSTYLE_FILE,
    ),
    ("cartoon", "toonify"): (TOONIFY_FILE,),
    ("caricature", "toonify"): (TOONIFY_FILE,),
    ("arcane", "toonify"): (TOONIFY_FILE,),
    ("comic", "toonify"): (TOONIFY_FILE,),
    ("pixar", "toonify"): (TOONIFY_FILE,),
}
"""Files per official family, as the authors' Hugging Face demo and README name them (what
``models fetch`` downloads by default). Other ``vtoonify_*.pt`` files found on disk are used too."""

_FOLDER_RE = re.compile(r"^vtoonify_(?P<kind>[dt])_(?P<style>[A-Za-z0-9][A-Za-z0-9_-]*)$")
_D_FILE_RE = re.compile(r"^vtoonify_s(?P<style_id>\d*)_d(?P<degree>\d*(?:\.\d+)?)(?P<color>_c)?\.pt$")

def normalise_backbone(backbone: str) -> str:
    """'dualstylegan' | 'toonify' from the official names or the short 'd' / 't'."""
    value = backbone.strip().lower()
    aliases = {"d": "dualstylegan", "vtoonify_d": "dualstylegan", "t": "toonify", "vtoonify_t": "toonify"}
    value = aliases.get(value, value)
    if value not in BACKBONES:
        raise ModelFileError(
            f"unknown backbone {backbone!r}", "use 'dualstylegan' (VToonify-D) or 'toonify' (VToonify-T)"
        )
    return value


def family_folder(style: str, backbone: str) -> str:
    """Folder of a family relative to the models folder, e.g. ``vtoonify_d_cartoon``."""
    return f"vtoonify_{'d' if normalise_backbone(backbone) == 'dualstylegan' else 't'}_{style}"


def official_files(style: str | None = None, backbone: str | None = None) -> list[str]:
    """Relative paths ``models fetch`` downloads: shared files plus the chosen families' files."""
    wanted_backbone = normalise_backbone(backbone) if backbone else None
    files = list(SHARED_FILES)
    for (fam_style, fam_backbone), names in OFFICIAL_FILES.items():
        if style not in (None, fam_style) or wanted_backbone not in (None, fam_backbone):
            continue
        files += [f"{family_folder(fam_style, fam_backbone)}/{name}" for name in names]
    return files


@dataclass(frozen=True)
class CheckpointFile:
    """One VToonify checkpoint and the controls it supports (None = any value)."""

    relpath: str
    """Path relative to the models folder, with '/' separators."""
    style_id: int | None = None
    """Fixed exemplar index (``_sNNN``); None = any exemplar of ``exstyle_code.npy``."""
    degree: float | None = None
    """Fixed structure degree (``_dX``); None = any degree in [0, 1]."""
    color_transfer: bool = False
    """``_c`` models transfer the exemplar's colours too."""

    def fits(self, style_id: int | None, degree: float | None) -> bool:
        style_ok = self.style_id is None or self.style_id == style_id  # None asks for any-exemplar models
        degree_ok = self.degree is None or degree is None or abs(self.degree - degree) < 1e-6
        return style_ok and degree_ok

    def to_dict(self) -> dict:
        return asdict(self)


def _what_it_renders(checkpoint: CheckpointFile) -> str:
    """``vtoonify_s002_d0.5_c.pt renders --style-id 2 --degree 0.5``: a fixed model's name in job settings."""
    exemplar = (f"any {setting('style_id')}" if checkpoint.style_id is None
                else setting("style_id", checkpoint.style_id))
    degree = f"any {setting('degree')}" if checkpoint.degree is None else setting("degree", checkpoint.degree)
    joint = ", " if None in (checkpoint.style_id, checkpoint.degree) else " "
    return f"{Path(checkpoint.relpath).name} renders {exemplar}{joint}{degree}"


def parse_checkpoint_name(relpath: str) -> CheckpointFile | None:
    """CheckpointFile for a VToonify-D file name (``vtoonify_s026_d0.5.pt``), None if it is not one."""
    match = _D_FILE_RE.match(Path(relpath).name)
    if match is None:
        return None
    return CheckpointFile(
        relpath=relpath,
        style_id=int(match["style_id"]) if match["style_id"] else None,
        degree=float(match["degree"]) if match["degree"] else None,
        color_transfer=bool(match["color"]),
    )


def model_file_name(
    backbone: str,
    *,
    fix_style: bool = False,
    style_id: int = 26,
    fix_degree: bool = False,
    style_degree: float = 0.5,
    fix_color: bool = False,
) -> str:
    """Official file name of a trained model: ``vtoonify.pt`` (T) or ``vtoonify_s[NNN]_d[X][_c].pt`` (D).

    As ``train_vtoonify_d.py``: ``_sNNN`` only with ``--fix-style``, ``_dX`` (one decimal) only with
    ``--fix-degree``, ``_c`` unless ``--fix-color`` (colour transfer is the default there).
    """
    if backbone == "toonify":
        return TOONIFY_FILE
    suffix = "_s" + (f"{style_id:03d}" if fix_style else "")
    suffix += "_d" + (f"{style_degree:1.1f}" if fix_degree else "")
    suffix += "" if fix_color else "_c"
    return f"vtoonify{suffix}.pt"


PRETRAIN_FILE = "pretrain.pt"
_PRETRAIN_RE = re.compile(r"^pretrain(?:-\d{5,}(?:_stopped\d*)?)?\.pt$")
_FINETUNE_RE = re.compile(r"^finetune(?:-\d{5,}(?:_stopped\d*)?)?\.pt$")
"""``engine train finetune``'s StyleGAN fine-tuned on a studio's artwork (VToonify-T's second teacher)."""
_MODEL_SAVE_RE = re.compile(r"^(?P<model>vtoonify(?:_s\d*_d\d*(?:\.\d+)?(?:_c)?)?)_\d{5,}(?:_stopped\d*)?\.pt$")
"""What ``engine train`` leaves in a family folder besides the model: ``pretrain.pt`` and its numbered /
stop saves, and the full stage's numbered / stop saves (``vtoonify_s_d_c_00300.pt``), which only
``--resume`` reads (docs/TRAINING.md)."""


def _training_files(directory: Path) -> list[str]:
    """Names of the training files in a family folder (names only; links are not ours, so skipped)."""
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir()
                  if (_PRETRAIN_RE.match(p.name) or _MODEL_SAVE_RE.match(p.name) or _FINETUNE_RE.match(p.name))
                  and not p.is_symlink()
                  and p.is_file())


def _trained_model_name(directory: Path, backbone: str, training: list[str]) -> str | None:
    """The file ``engine train full`` writes for this folder's run: from its own numbered saves, else from
    the options recorded in ``pretrain.pt``; None when neither says."""
    if backbone == "toonify":
        return TOONIFY_FILE
    saved = [m["model"] + ".pt" for name in training if (m := _MODEL_SAVE_RE.match(name))]
    if saved:
        return saved[-1]
    pretrain = [name for name in training if _PRETRAIN_RE.match(name)]
    options = _recorded_options(directory / (PRETRAIN_FILE if PRETRAIN_FILE in pretrain else pretrain[-1])) \
        if pretrain else None
    if not isinstance(options, Mapping):
        return None
    try:
        return model_file_name(backbone, fix_style=bool(options.get("fix_style")),
                               style_id=int(options.get("style_id", 26)), fix_degree=bool(options.get("fix_degree")),
                               style_degree=float(options.get("style_degree", 0.5)),
                               fix_color=bool(options.get("fix_color")))
    except (TypeError, ValueError):
        return None


def _recorded_options(path: Path) -> object:
    """The ``options`` a training checkpoint recorded, or None (weights-only load, size-checked first,
    tensors memory-mapped and never read)."""
    import torch

    from engine.models.checkpoints import check_pickle_nesting, check_zip_sizes

    try:
        check_zip_sizes(path)
        check_pickle_nesting(path)  # a key nested a million deep crashes the unpickler itself
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # damaged or not ours: the listing then names the usual default file
        return None
    return data.get("options") if isinstance(data, Mapping) else None


@dataclass(frozen=True)
class StyleFamily:
    """One style family (e.g. cartoon) with one backbone, as found in the models folder."""

    style: str
    backbone: str
    folder: str
    checkpoints: tuple[CheckpointFile, ...] = ()
    exstyle_codes: str | None = None
    """Relative path of ``exstyle_code.npy`` when present (VToonify-D only)."""
    missing: tuple[str, ...] = ()
    """Relative paths needed before this family can render (shared files included)."""
    training_files: tuple[str, ...] = ()
    """Relative paths of what ``engine train`` left here (``pretrain.pt``, numbered and stop saves): a
    family trained in this studio, which ``models fetch`` cannot download."""

    @property
    def usable(self) -> bool:
        return not self.missing

    @property
    def official(self) -> bool:
        """One of the authors' published families (``models fetch`` can download its files)."""
        return (self.style, self.backbone) in OFFICIAL_FILES

    def to_dict(self) -> dict:
        return {
            "style": self.style,
            "backbone": self.backbone,
            "folder": self.folder,
            "usable": self.usable,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "exstyle_codes": self.exstyle_codes,
            "missing": list(self.missing),
            "training_files": list(self.training_files),
        }


@dataclass(frozen=True)
class ModelInventory:
    """Everything :func:`scan_models` found in one models folder."""

    models_dir: str
    shared_missing: tuple[str, ...] = ()
    families: tuple[StyleFamily, ...] = field(default_factory=tuple)

    def family(self, style: str, backbone: str) -> StyleFamily | None:
        wanted = normalise_backbone(backbone)
        return next((f for f in self.families if f.style == style and f.backbone == wanted), None)

    def usable_families(self) -> tuple[StyleFamily, ...]:
        return tuple(f for f in self.families if f.usable)

    def to_dict(self) -> dict:
        return {
            "models_dir": self.models_dir,
            "shared_missing": list(self.shared_missing),
            "families": [f.to_dict() for f in self.families],
            "usable": [f"{f.style}/{f.backbone}" for f in self.usable_families()],
        }


@dataclass(frozen=True)
class CheckpointChoice:
    """The files one job needs, picked by :func:`pick_checkpoint` (absolute paths)."""

    style: str
    backbone: str
    checkpoint: str
    encoder: str
    face_parser: str
    exstyle_codes: str | None
    style_id: int | None
    degree: float | None
    color_transfer: bool
    """Whether the job must take all 18 latents from the exemplar (may be forced by the model)."""
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _family_from_disk(
    root: Path, folder: str, style: str, backbone: str, shared_missing: tuple[str, ...]
) -> StyleFamily:
    directory = root / folder
    checkpoints: list[CheckpointFile] = []
    missing = list(shared_missing)
    exstyle = None
    training = _training_files(directory)
    if backbone == "toonify":
        if (directory / TOONIFY_FILE).is_file():
            checkpoints.append(CheckpointFile(relpath=f"{folder}/{TOONIFY_FILE}"))
        else:
            missing.append(f"{folder}/{TOONIFY_FILE}")
    else:
        names = sorted(p.name for p in directory.glob("vtoonify_*.pt")) if directory.is_dir() else []
        checkpoints = [c for n in names if (c := parse_checkpoint_name(f"{folder}/{n}")) is not None]
        if not checkpoints:
            trained = _trained_model_name(directory, backbone, training) if training else None
            default = trained or next(
                (n for n in OFFICIAL_FILES.get((style, backbone), ()) if n.endswith(".pt")), "vtoonify_s_d.pt"
            )
            missing.append(f"{folder}/{default}")
        if (directory / EXSTYLE_FILE).is_file():
            exstyle = f"{folder}/{EXSTYLE_FILE}"
        else:
            missing.append(f"{folder}/{EXSTYLE_FILE}")
    return StyleFamily(style, backbone, folder, tuple(checkpoints), exstyle, tuple(missing),
                       tuple(f"{folder}/{name}" for name in training))


def scan_models(models_dir: str | Path) -> ModelInventory:
    """List the official families (present or not) plus any other ``vtoonify_[dt]_*`` folder found.

    A folder the engine's user may not read is a ModelFileError naming it (``models list``, ``verify`` and
    a render said "internal error: PermissionError" before)."""
    root = Path(models_dir).expanduser()
    try:
        return _scan(root)
    except PermissionError as exc:
        raise ModelFileError(unreadable_problem(root, exc), unreadable_fix(root)) from None


def unreadable_problem(root: Path, exc: OSError) -> str:
    where = f"{exc.filename} in " if exc.filename and Path(exc.filename) != root else ""
    return f"permission denied reading {where}the models folder {root}"


def unreadable_fix(root: Path) -> str:
    return (f"let the engine's user read the models folder and its family folders (e.g. `chmod -R a+rX {root}`), "
            f"or pass {setting('models_dir')} with another folder")


def _scan(root: Path) -> ModelInventory:
    shared_missing = tuple(name for name in SHARED_FILES if not (root / name).is_file())
    keys = list(OFFICIAL_FILES)
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            match = _FOLDER_RE.match(entry.name)
            if entry.is_dir() and match:
                key = (match["style"], "dualstylegan" if match["kind"] == "d" else "toonify")
                if key not in keys:
                    keys.append(key)
    families = tuple(
        _family_from_disk(root, family_folder(style, backbone), style, backbone, shared_missing)
        for style, backbone in keys
    )
    return ModelInventory(str(root), shared_missing, families)


def fetch_command(style: str, backbone: str, models_dir: str | Path) -> str:
    """The ``models fetch`` command line that downloads this family into this folder (its defaults,
    cartoon / dualstylegan / the default folder, left out), as the user can paste it (``engine.commands``)."""
    words = ["fetch"]
    if style != "cartoon":
        words += ["--style", style]
    if normalise_backbone(backbone) == "toonify":
        words += ["--backbone", "toonify"]
    return models_command(*words, models_dir=models_dir)


def models_command(*words: str, models_dir: str | Path | None = None) -> str:
    """``<engine> models WORDS [--models DIR]`` to paste: ``--models`` only for a folder other than the
    default one, which the command would otherwise not look at."""
    from engine.commands import engine_command

    extra = []
    if models_dir is not None and os.path.abspath(Path(models_dir).expanduser()) != os.path.abspath(
            default_models_dir()):
        extra = ["--models", str(models_dir)]
    return engine_command("models", *words, *extra)


def unusable_reason(family: StyleFamily, models_dir: str | Path) -> tuple[str, str]:
    """(problem, fix) for a family that cannot render.

    Why not simply "fetch it": ``models fetch`` downloads only the authors' families. A family this studio
    trained (``engine train`` left its files in the folder) is told which training step has not written
    the model yet; any other unofficial family is told to copy its files in.
    """
    from engine.commands import engine_command

    what = f"style {family.style!r} ({family.backbone})"
    own = [m for m in family.missing if "/" in m]
    names = [Path(t).name for t in family.training_files]
    not_official = f"`{models_command('fetch')}` only downloads the official styles"
    if names and own:
        model = next((m for m in own if not m.endswith(".npy")), own[0])
        made = Path(model).name
        others = [m for m in family.missing if m != model]
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        problem = (f"{what} has no model to render yet: `engine train` wrote only {shown} in "
                   f"{Path(models_dir) / family.folder}, not {made}")
        problem += f"; also missing {', '.join(others)}" if others else ""
        shared = [m for m in family.missing if "/" not in m]  # train full copies the ones it is given
        companions = f" and copy {' and '.join(shared)} into the models folder" if shared else ""
        if any(_MODEL_SAVE_RE.match(n) for n in names):
            fix = (f"`engine train full` stopped before its last iteration: run the same command plus `--resume auto` "
                   f"to finish it and write {made}{companions}; see docs/TRAINING.md. {not_official}")
        elif PRETRAIN_FILE in names:
            from engine.train.next_steps import matching_flags, recorded_full_command

            recorded = _recorded_options(Path(models_dir) / family.folder / PRETRAIN_FILE)
            full = recorded_full_command(recorded, models_dir, family.folder) if isinstance(recorded, Mapping) \
                else None
            run_full = (f"run `{full}` (the pre-training run's own flags, from pretrain.pt)" if full else
                        f"run `{engine_command('train', 'full')}` with the flags `engine train pretrain` had (the "
                        f"same {matching_flags(family.backbone)})")
            fix = f"{run_full}, to write {made}{companions}; see docs/TRAINING.md. {not_official}"
        elif any(_PRETRAIN_RE.match(n) for n in names):
            fix = ("`engine train pretrain` stopped before its last iteration: finish it with the same command plus "
                   f"`--resume auto`, then run `{engine_command('train', 'full')}`; see docs/TRAINING.md. "
                   f"{not_official}")
        elif "finetune.pt" in names:
            from engine.train.next_steps import matching_flags

            tuned = Path(models_dir) / family.folder / "finetune.pt"
            pretrain = engine_command("train", "pretrain")
            fix = (f"`engine train finetune` made its fine-tuned StyleGAN {tuned}: pass it as --finetunegan-path "
                   f"to `{pretrain}` --backbone toonify, then "
                   f"`engine train full` with the same {matching_flags(family.backbone)} plus --style-encoder-path "
                   f"and --perceptual-weights, to write {made}{companions}; see docs/TRAINING.md, "
                   f"'Your own style from artwork'. {not_official}")
        else:
            fix = ("`engine train finetune` stopped before its last iteration: finish it with the same command plus "
                   "`--resume auto`, then distil the model from it (docs/TRAINING.md, 'Your own style from artwork'). "
                   f"{not_official}")
        return problem, fix
    problem = f"{what} cannot render: missing {', '.join(family.missing)} in {models_dir}"
    if Path(models_dir).exists() and not Path(models_dir).is_dir():  # `models fetch` would refuse it too
        return (f"{what} cannot render: the models folder {models_dir} is a file, not a folder",
                f"pass {setting('models_dir')} (or $VTOONIFY_MODELS) with the folder that holds the model files, e.g. "
                "the folder of encoder.pt")
    in_the_way = {relpath: thing for relpath in family.missing
                  if (thing := what_is_in_the_way(Path(models_dir) / relpath))}
    first = ""
    if in_the_way:  # "missing" alone sent the user to a fetch that refuses a folder or FIFO at the name
        problem += ": " + "; ".join(f"{relpath} {thing}" for relpath, thing in in_the_way.items())
        paths = [Path(models_dir) / relpath for relpath in in_the_way]
        first = (f"fix the link {paths[0]}, or " if all(os.path.islink(p) for p in paths) else
                 f"move {', '.join(map(str, paths))} away (`models fetch` replaces no folder or FIFO), then ")
    if family.official:
        return problem, (f"{first}run `{fetch_command(family.style, family.backbone, models_dir)}` or copy the files "
                         f"by hand into the models folder (see `{models_command('list', models_dir=models_dir)}`)")
    shared = [m for m in family.missing if "/" not in m]
    get_shared = (f"run `{models_command('fetch', models_dir=models_dir)}` ({' and '.join(shared)} "
                  f"{'comes' if len(shared) == 1 else 'come'} with any official style) or copy "
                  f"{'it' if len(shared) == 1 else 'them'} into {models_dir}") if shared else ""
    if not own:
        return problem, first + get_shared
    copy = (f"{family.style!r} is not an official style ({not_official}): copy its files into "
            f"{Path(models_dir) / family.folder}, or train it with `engine train` (docs/TRAINING.md)")
    return problem, first + copy + (f"; for the shared files, {get_shared}" if shared else "")


def what_is_in_the_way(path: Path) -> str | None:
    """What stands at a model file's name when it is no readable regular file (the inventory counts it as
    missing), or None when nothing does."""
    if not os.path.lexists(path) or path.is_file():
        return None
    if os.path.islink(path) and not path.exists():
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "is a link round a loop"
        return f"is a link to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return "is a folder, not a file"
    return "is not a regular file (a FIFO, socket or device)"


def _rank(checkpoint: CheckpointFile, style_id: int | None, degree: float | None) -> int:
    """Lower is better: models trained for exactly these settings beat general ones."""
    return (0 if checkpoint.style_id is not None and checkpoint.style_id == style_id else 2) + (
        0 if checkpoint.degree is not None and degree is not None else 1
    )


def pick_checkpoint(
    inventory: ModelInventory,
    style: str,
    backbone: str = "dualstylegan",
    style_id: int | None = 26,  # None: a custom exemplar (needs an any-exemplar ``_s_`` model)
    degree: float | None = 0.5,
    color_transfer: bool = False,
) -> CheckpointChoice:
    """Choose the checkpoint (and its companion files) for one job, or say exactly what is missing.

    VToonify-D: among the family's models that fit ``style_id`` and ``degree``, prefer one trained for
    exactly that exemplar/degree, then the general ``vtoonify_s_d*.pt``. Colour transfer needs a ``_c``
    model; a family that has only ``_c`` models (illustration) renders with colour transfer on, as the
    authors' demo does. VToonify-T ignores style_id, degree and colour transfer (the renderer
    warns only when a job asks for them: ``engine.pipeline.selection.toonify_ignored``).
    """
    backbone = normalise_backbone(backbone)
    family = inventory.family(style, backbone)
    root = Path(inventory.models_dir)
    if family is None:
        ready = sorted({f.style for f in inventory.usable_families() if f.backbone == backbone})
        others = sorted({f.style for f in inventory.families if f.backbone == backbone and f.official} - set(ready))
        choices = [f"one of {', '.join(ready)} (in this folder)"] if ready else []
        choices += [f"an official one to fetch ({', '.join(others)})"] if others else []
        other = next((f.backbone for f in inventory.families if f.style == style), None)
        if other:
            choices = [f"{setting('backbone', other)} (or auto): {style} is a {other} style"]
        raise ModelFileError(
            f"unknown style family {style!r} for {backbone}: no {family_folder(style, backbone)} folder in {root}",
            f"choose {' or '.join(choices) or 'another style'}; see `{models_command('list', models_dir=root)}`",
        )
    if not family.usable:
        raise ModelFileError(*unusable_reason(family, root))

    def absolute(rel: str | None) -> str | None:
        return str(root / rel) if rel else None

    common = {
        "style": style,
        "backbone": backbone,
        "encoder": str(root / ENCODER_FILE),
        "face_parser": str(root / FACE_PARSER_FILE),
    }
    if backbone == "toonify":
        return CheckpointChoice(
            checkpoint=str(root / family.checkpoints[0].relpath),
            exstyle_codes=None,
            style_id=None,
            degree=None,
            color_transfer=False,
            **common,
        )

    fitting = [c for c in family.checkpoints if c.fits(style_id, degree)]
    note = ""
    candidates = [c for c in fitting if c.color_transfer == color_transfer]
    if (
        not candidates
        and not color_transfer
        and fitting
        and all(c.color_transfer for c in family.checkpoints)
    ):
        candidates, color_transfer = fitting, True
        names = ", ".join(sorted(Path(c.relpath).name for c in fitting))
        note = (f"colour transfer is on, though the job has {setting('color_transfer')} off: the {style} models "
                f"are colour-transfer models ({names}), which render only with it (the sidecar and the "
                "frames' headers record it on; fetch or train a model without _c to render without it)")
    if not candidates:
        have = ", ".join(Path(c.relpath).name for c in family.checkpoints)
        exemplar = f"a custom exemplar ({setting('exstyle_image')})" if style_id is None else f"style id {style_id}"
        wanted = f"{exemplar}, degree {degree}" + (", colour transfer" if color_transfer else "")
        get_more = ("fetch vtoonify_s_d.pt (any exemplar and degree) or vtoonify_s_d_c.pt (colour transfer)"
                    if family.official else "train one without --fix-style / --fix-degree (docs/TRAINING.md)")
        offers = "; ".join(_what_it_renders(c) for c in family.checkpoints)
        raise ModelFileError(
            f"no {style} VToonify-D model supports {wanted} (found: {have})",
            f"pick a style id / degree one of these models supports ({offers}), or {get_more}",
        )
    # An exemplar's own model is picked only when it is exactly what was asked: no note (it would be a
    # warning on every default cartoon render); the sidecar and the EXR headers name the checkpoint.
    best = min(candidates, key=lambda c: (_rank(c, style_id, degree), c.relpath))
    return CheckpointChoice(
        checkpoint=str(root / best.relpath),
        exstyle_codes=absolute(family.exstyle_codes),
        style_id=style_id if style_id is not None else best.style_id,
        degree=degree,
        color_transfer=color_transfer,
        note=note,
        **common,
    )


def default_models_dir(
    environ: Mapping[str, str] | None = None, platform: str | None = None, home: str | Path | None = None
) -> Path:
    """Models folder: ``$VTOONIFY_MODELS``, else the per-user data folder of this platform.

    Linux/BSD: ``$XDG_DATA_HOME/vtoonify/models`` or ``~/.local/share/vtoonify/models``;
    macOS: ``~/Library/Application Support/vtoonify/models``; Windows: ``%LOCALAPPDATA%\\vtoonify\\models``.
    ``environ``/``platform``/``home`` default to this process's and exist for tests.
    """
    env = os.environ if environ is None else environ
    if env.get("VTOONIFY_MODELS"):
        return Path(env["VTOONIFY_MODELS"]).expanduser()
    return user_dir("data", env, platform, home) / "models"
