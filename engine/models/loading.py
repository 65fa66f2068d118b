"""Building the model classes and loading the official VToonify files safely (re-exported by
``engine.models``, whose docstring states the public contract; import it from there).

Generator classes (``vtoonify.py``, ``dualstylegan.py``) are imported inside functions so that this
module imports even where they are unavailable.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import ConfigError, DeviceError, ModelFileError, setting
from engine.models.bisenet import BiSeNet
from engine.models.checkpoints import (
    all_finite,
    family_backbone,
    load_state_dict_strict,
    load_torch_file,
    not_this_model,
    read_exstyles,
    refetch_fix,
    state_dict_problems,
)
from engine.models.psp import DEFAULT_WIDTHS, UNITS_PER_STAGE, GradualStyleEncoder, StyleEncoder, n_styles_for

_MODEL_ARGS: dict[str, tuple[str, ...]] = {
    "VToonify": (
        "in_size",
        "out_size",
        "img_channels",
        "style_channels",
        "num_mlps",
        "channel_multiplier",
        "num_res_layers",
        "backbone",
        "channels",
    ),
    "DualStyleGAN": ("size", "style_dim", "n_mlp", "channel_multiplier", "twoRes", "res_index", "channels"),
    "GradualStyleEncoder": ("num_layers", "mode", "input_nc", "output_size", "n_styles", "widths"),
    "BiSeNet": ("n_classes",),
}
"""Constructor arguments accepted per class (official names)."""

_IGNORED_KEYS = {"class_name", "note"}
_IGNORED_PER_CLASS = {"BiSeNet": {"mode"}}  # 'mode': 'eval()' in the golden is a remark, not an argument


def _channel_table(channels: Mapping[Any, Any] | None) -> dict[int, int] | None:
    """Width table with int keys (JSON configs carry them as strings)."""
    if channels is None:
        return None
    try:
        return {int(res): int(width) for res, width in channels.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"bad channel table {channels!r}: {exc}", "use {resolution: width} integers"
        ) from None


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Build an untrained module from a config dict (``class_name`` + official constructor args).

    Keys ending in ``_note`` (and ``note``) are ignored; missing arguments take the official
    full-size defaults, so ``{"class_name": "VToonify", "backbone": "toonify"}`` is VToonify-T.
    """
    class_name = config.get("class_name")
    if class_name not in _MODEL_ARGS:
        raise ConfigError(
            f"unknown model class {class_name!r}",
            f"class_name must be one of {', '.join(sorted(_MODEL_ARGS))}",
        )
    ignored = _IGNORED_KEYS | _IGNORED_PER_CLASS.get(class_name, set())
    args = {k: v for k, v in config.items() if k not in ignored and not str(k).endswith("_note")}
    unknown = sorted(set(args) - set(_MODEL_ARGS[class_name]))
    if unknown:
        raise ConfigError(
            f"unknown {class_name} arguments: {', '.join(map(str, unknown))}",
            f"accepted: {', '.join(_MODEL_ARGS[class_name])}",
        )
    if "channels" in args:
        args["channels"] = _channel_table(args["channels"])

    if class_name == "VToonify":
        from engine.models.vtoonify import VToonify

        return VToonify(**args)
    if class_name == "DualStyleGAN":
        from engine.models.dualstylegan import DualStyleGAN

        args.setdefault("size", 1024)
        args.setdefault("style_dim", 512)
        args.setdefault("n_mlp", 8)
        return DualStyleGAN(**args)
    if class_name == "GradualStyleEncoder":
        output_size = int(args.pop("output_size", 1024))
        args.setdefault("n_styles", n_styles_for(output_size))
        return GradualStyleEncoder(**args)
    return BiSeNet(**args)


def _import_model_modules(class_name: str) -> None:
    """Import generator modules before any ``torch.device('meta')`` block, so that tensors made at
    import time (if any) are real, not meta."""
    if class_name in ("VToonify", "DualStyleGAN"):
        importlib.import_module("engine.models.dualstylegan")
        importlib.import_module("engine.models.vtoonify")


def build_loaded(
    config: Mapping[str, Any], state_dict: Mapping[str, Any], path: str | Path, model_name: str
) -> nn.Module:
    """Build the module for ``config`` and strictly load ``state_dict`` into it.

    The module is first built on the meta device, which checks names and shapes without allocating;
    when the file holds every tensor (official files do; missing BatchNorm counters are filled with
    0), the random initialisation is skipped (``to_empty``), which saves seconds on the full-size
    models. Otherwise (e.g. a file without the FIR kernel constants) a normally built module keeps
    its own values for what the file lacks.
    """
    _import_model_modules(str(config.get("class_name")))
    try:
        with torch.device("meta"):
            skeleton = build_model(config)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # sizes read off a hand-edited file's tensors
        raise ModelFileError(
            f"{path} does not describe a buildable {model_name} ({type(exc).__name__}: {str(exc)[:120]})",
            f"use the file made for this model, or {refetch_fix(path)}",
        ) from None
    problems = state_dict_problems(skeleton, state_dict)
    if problems:
        raise ModelFileError(
            f"{path} does not fit {model_name}: " + "; ".join(problems),
            f"use the file made for this model, or {refetch_fix(path)}",
        )
    missing = [k for k in skeleton.state_dict() if k not in state_dict]
    if all(k.endswith("num_batches_tracked") for k in missing):
        complete = dict(state_dict)
        complete.update({k: torch.zeros((), dtype=torch.long) for k in missing})
        model = skeleton.to_empty(device="cpu")
        return load_state_dict_strict(model, complete, path, model_name)
    return load_state_dict_strict(build_model(config), state_dict, path, model_name)


def static_vtoonify(model: nn.Module, style: torch.Tensor, d_s: float = 0.5, precision: str = "fp32",
                    autotune: bool | None = None) -> nn.Module:
    """The per-shot static network of a VToonify (see ``engine.models.static``): ``forward(x)``
    returns what ``model(x, style, d_s=d_s)`` returns, computing in ``precision`` (fp32|bf16|fp16|auto);
    ``autotune`` (None: ``VTOONIFY_AUTOTUNE``, on unless 0): conv routes chosen by timing the first frame."""
    from engine.models.static import static_vtoonify as build

    return build(model, style, d_s, precision, autotune)


def _to_device(model: nn.Module, device: str | torch.device) -> nn.Module:
    """Move a loaded model, turning an unusable device into a DeviceError."""
    try:
        return model.to(device)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise DeviceError(
            f"cannot use device {device!r} ({str(exc).splitlines()[0][:120]})",
            f"choose {setting('device', 'cpu')}, or check the GPU driver and the torch build",
        ) from None


# --- VToonify ---------------------------------------------------------------------------------


def _shape(state_dict: Mapping[str, Any], key: str, ndim: int) -> tuple[int, ...]:
    """Shape of the file's tensor ``key``, which must have ``ndim`` dims: an architecture is read off these
    shapes, so a hand-edited file's ``5`` or 0-d tensor there is a ValueError naming the key, not an
    AttributeError/IndexError deep in the inference (KeyError when the key is absent)."""
    value = state_dict[key]
    if not isinstance(value, torch.Tensor) or value.dim() != ndim:
        found = f"a {value.dim()}-d tensor" if isinstance(value, torch.Tensor) else f"a Python {type(value).__name__}"
        raise ValueError(f"{key} is {found}, expected a {ndim}-d tensor")
    return tuple(value.shape)


MAX_VTOONIFY_SIZE = 4096
"""Largest VToonify output size accepted (official: 1024): a file's layer count sets it, checked before
anything is built."""


def _indices(keys: set[str], prefix: str, suffix: str) -> list[int]:
    """Sorted integers N of keys ``prefix + N + suffix``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix) + "$")
    return sorted({int(m.group(1)) for k in keys if (m := pattern.match(k))})


def infer_vtoonify_config(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """VToonify constructor arguments read off the tensors (backbone, sizes, generator widths).

    ``generator.generator.*`` keys mean a DualStyleGAN backbone (VToonify-D), else toonify.
    Generator widths: ``conv1`` gives 4x4, ``convs[2k]`` gives resolution 2**(k+3).
    Encoder: its last index L gives in_size = 2**(L+3); block L-1 holds the residual blocks.
    Raises KeyError (a tensor is missing) or ValueError (a tensor of the wrong kind, layer numbers that
    skip or give sizes beyond :data:`MAX_VTOONIFY_SIZE`) on a state dict that is not a VToonify one (the
    caller turns it into a ModelFileError).
    """
    keys = {k for k in state_dict if isinstance(k, str)}  # a file may hold any key: 5, (1, 2)
    backbone = "dualstylegan" if any(k.startswith("generator.generator.") for k in keys) else "toonify"
    gen = "generator.generator." if backbone == "dualstylegan" else "generator."
    channels = {4: _shape(state_dict, gen + "conv1.conv.weight", 5)[1]}
    conv_ids = _indices(keys, gen + "convs.", ".conv.weight")
    out_size = 2 ** (len(conv_ids) // 2 + 2)
    if conv_ids != list(range(len(conv_ids))) or out_size > MAX_VTOONIFY_SIZE:
        raise ValueError(f"its generator layers {gen}convs.N are numbered {_few_ids(conv_ids)}, expected 0 to at "
                         f"most {2 * (MAX_VTOONIFY_SIZE.bit_length() - 3) - 1} in a row")
    for i in conv_ids[::2]:
        channels[2 ** (i // 2 + 3)] = _shape(state_dict, f"{gen}convs.{i}.conv.weight", 5)[1]
    mlps = _indices(keys, gen + "style.", ".weight")
    last = max(_indices(keys, "encoder.", ".weight"))  # the 1x1 conv to RGB
    if last + 3 > out_size.bit_length() or 2 ** (last + 3) not in channels:  # no 2**big computed for a big index
        raise ValueError(f"its encoder ends at encoder.{last}, an input of 2**{last + 3} px, which the {out_size} px "
                         "generator has no layer for")
    in_size = 2 ** (last + 3)
    return {
        "class_name": "VToonify",
        "in_size": in_size,
        "out_size": out_size,
        "img_channels": _shape(state_dict, f"encoder.{last}.weight", 4)[0],
        "style_channels": _shape(state_dict, gen + f"style.{mlps[0]}.weight", 2)[0],
        "num_mlps": len(mlps),
        "channel_multiplier": 2,
        "num_res_layers": len(_indices(keys, f"encoder.{last - 1}.", ".conv.weight")),
        "backbone": backbone,
        "channels": channels,
    }


def _few_ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:4])) + (f", ... {ids[-1]}" if len(ids) > 4 else "") if ids else "(none)"


def _vtoonify_state_dict(obj: Any, path: Path) -> Mapping[str, torch.Tensor]:
    """The VToonify state dict inside an official file (``{'g_ema': sd, ...}``) or a bare one."""
    sd = obj.get("g_ema") if isinstance(obj, Mapping) else None
    if sd is None and isinstance(obj, Mapping) and "fusion_skip.0.weight" in obj:
        sd = obj
    if not isinstance(sd, Mapping) or "fusion_skip.0.weight" not in sd:
        raise not_this_model(path, obj, "a VToonify model", "VToonify-", "g_ema", "{'g_ema': state dict}",
                             "pick a vtoonify_t_<style>/vtoonify.pt or vtoonify_d_<style>/vtoonify_s*.pt file")
    return sd


def load_vtoonify(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Official VToonify-T/D checkpoint -> VToonify in eval mode on ``device`` (float32)."""
    path = Path(path)
    sd = _vtoonify_state_dict(load_torch_file(path), path)
    try:
        config = infer_vtoonify_config(sd)
    except (KeyError, IndexError, ValueError) as exc:
        reason = f"no tensor {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ModelFileError(
            f"{path} looks like VToonify but its layout is incomplete ({reason})",
            refetch_fix(path),
        ) from None
    kind = "VToonify-D" if config["backbone"] == "dualstylegan" else "VToonify-T"
    check_family_kind(path, config["backbone"])
    model = build_loaded(config, sd, path, f"{kind} (out_size {config['out_size']})")
    return _to_device(model.float().eval(), device)


_KIND = {"dualstylegan": "VToonify-D", "toonify": "VToonify-T"}


def check_family_kind(path: Path, backbone: str) -> None:
    """ModelFileError when a family folder holds a model of the other kind (``vtoonify_d_<style>`` a
    VToonify-T file, or the reverse). Why: the renderer takes the folder's codes and controls with the
    model, so a T model there rendered without its exemplar (``--style-id`` ignored without a word), and a D
    model in a T folder, which has no ``exstyle_code.npy``, failed as an internal error."""
    wanted = family_backbone(path)
    if wanted is None or wanted == backbone:
        return
    found, expected = _KIND[backbone], _KIND[wanted]
    style = path.parent.name.split("_", 2)[2]
    home = (f"to vtoonify_t_{style}/vtoonify.pt" if backbone == "toonify" else
            f"into vtoonify_d_{style}/ under its vtoonify_s*.pt name, beside that family's exstyle_code.npy")
    raise ModelFileError(
        f"{path} is a {found} model, but its folder {path.parent.name} holds {expected} models (rendered from "
        f"there it would be paired with the wrong style codes and controls)",
        f"move it {home}; then, for {path.parent.name}, {refetch_fix(path)}")


# --- pSp style encoder ------------------------------------------------------------------------


def infer_psp_config(encoder_sd: Mapping[str, torch.Tensor], opts: Mapping[str, Any] | None = None) -> dict:
    """GradualStyleEncoder arguments from its tensors (keys without ``encoder.``) and ``opts``."""
    keys = set(encoder_sd)
    units = _indices(keys, "body.", ".res_layer.1.weight")
    depth = {sum(counts): layers for layers, counts in UNITS_PER_STAGE.items()}.get(len(units))
    if depth is None:
        raise ValueError(f"{len(units)} trunk units match no IR-50/100/152 layout")
    counts = UNITS_PER_STAGE[depth]
    stage_first = [sum(counts[:i]) for i in range(4)]
    widths = {
        f"W{i + 1}": _shape(encoder_sd, f"body.{unit}.res_layer.1.weight", 4)[0]
        for i, unit in enumerate(stage_first)
    }
    n_styles = len(_indices(keys, "styles.", ".linear.weight"))
    output_size = int((opts or {}).get("output_size", 1024))
    if n_styles != n_styles_for(output_size):
        raise ValueError(
            f"{n_styles} style heads, but opts.output_size {output_size} needs {n_styles_for(output_size)}"
        )
    return {
        "class_name": "GradualStyleEncoder",
        "num_layers": depth,
        "mode": "ir_se" if "body.0.res_layer.5.fc1.weight" in keys else "ir",
        "input_nc": _shape(encoder_sd, "input_layer.0.weight", 4)[1],
        "output_size": output_size,
        "n_styles": n_styles,
        "widths": widths if widths != DEFAULT_WIDTHS else None,
    }


MAX_LATENT_AVG_VALUES = 64 * 4096
"""More values than any pSp mean latent holds ([18, 512] officially): checked before the tensor is read,
since a file can store a stride-0 view that claims billions of values over a single stored number."""


def load_style_encoder(path: str | Path, device: str | torch.device = "cpu") -> StyleEncoder:
    """Official pSp ``encoder.pt`` -> StyleEncoder (output = encoder(x) + latent_avg), eval mode.

    Layout: ``{'opts': {...}, 'state_dict': {'encoder.' + k: ...}, 'latent_avg': [18, W]}``; only
    ``encoder.*`` keys are used (the official loader drops the rest of pSp the same way).
    """
    path = Path(path)
    obj = load_torch_file(path)
    full = obj.get("state_dict") if isinstance(obj, Mapping) else None
    if not isinstance(full, Mapping) or "encoder.input_layer.0.weight" not in full:
        raise not_this_model(path, obj, "a pSp style encoder", "pSp style encoder", "state_dict",
                             "{'state_dict': {'encoder.<name>': ...}, 'latent_avg': ..., 'opts': ...}",
                             "use encoder.pt from the official VToonify models")
    latent_avg = obj.get("latent_avg")
    if not (isinstance(latent_avg, torch.Tensor) and latent_avg.is_floating_point()
            and latent_avg.numel() <= MAX_LATENT_AVG_VALUES  # a view may claim 2**36 values over one number
            and all_finite(latent_avg)):
        raise ModelFileError(
            f"{path} has no finite floating-point 'latent_avg' tensor (the pSp mean latent)",
            "use encoder.pt from the official VToonify models",
        )
    encoder_sd = {k[len("encoder.") :]: v for k, v in full.items() if isinstance(k, str) and k.startswith("encoder.")}
    opts = obj.get("opts") if isinstance(obj.get("opts"), Mapping) else {}
    try:
        config = infer_psp_config(encoder_sd, opts)
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelFileError(
            f"{path} has an unexpected pSp layout ({exc})", "use encoder.pt from the official VToonify models"
        ) from None
    encoder = build_loaded(config, encoder_sd, path, "the pSp GradualStyleEncoder")
    width = config["widths"]["W4"] if config["widths"] else DEFAULT_WIDTHS["W4"]
    if (latent_avg.dim() == 0 or latent_avg.shape[-1] != width
            or latent_avg.numel() not in (width, config["n_styles"] * width)):
        raise ModelFileError(
            f"{path}: latent_avg has shape {list(latent_avg.shape)}, expected "
            f"[{config['n_styles']}, {width}] or [{width}]",
            "use encoder.pt from the official VToonify models",
        )
    return _to_device(StyleEncoder(encoder, latent_avg).float().eval(), device)


# --- face parser and style codes ----------------------------------------------------------------


def load_face_parser(path: str | Path, device: str | torch.device = "cpu") -> BiSeNet:
    """Official ``faceparsing.pth`` (bare BiSeNet state dict) -> BiSeNet in eval mode."""
    path = Path(path)
    obj = load_torch_file(path)
    if not isinstance(obj, Mapping) or "cp.resnet.conv1.weight" not in obj:
        raise not_this_model(path, obj, "the BiSeNet face parser", "BiSeNet", None, "the bare state dict",
                             "use faceparsing.pth from the official VToonify models")
    head = obj.get("conv_out.conv_out.weight")
    # the class count is read off the head; a head of another kind keeps 19 and is named as a mismatch
    n_classes = int(head.shape[0]) if isinstance(head, torch.Tensor) and head.dim() == 4 else 19
    parser = build_loaded(
        {"class_name": "BiSeNet", "n_classes": n_classes}, obj, path, "the BiSeNet face parser"
    )
    return _to_device(parser.float().eval(), device)


def load_exstyles(path: str | Path) -> dict[str, torch.Tensor]:
    """Official ``exstyle_code.npy`` -> {style name: z+ [1,18,512]} (safe, no code runs)."""
    return {name: torch.from_numpy(code) for name, code in read_exstyles(path).items()}
