"""Teacher models for distillation, loaded from the official files with every check done up front.

VToonify learns from a frozen StyleGAN teacher (paper Sec. 4.1.2 / 4.2.2, ``train_vtoonify_t.py`` /
``train_vtoonify_d.py``):

* VToonify-D: the DualStyleGAN generator ``generator.pt`` (``g_ema``) plus the exemplar style codes
  ``exstyle_code.npy`` (z+, mapped to W+ here, as the official script does before training);
* VToonify-T: the FFHQ StyleGAN ``g_ema`` and the finetuned (toonified) StyleGAN ``g_ema``, blended
  layer by layer with ``weight`` ("resolution dependent interpolation": weight 1 takes the layer from
  the finetuned model);
* both: the BiSeNet face parser, optional editing directions ``directions.npy``, and the pSp style
  encoder (only opened when the style code needs it, see :meth:`TeacherSet.style_encoder`).

Widths and sizes are read off the tensors, so narrow test teachers work like the official ones. A wrong
kind of file, a missing file or widths that do not fit raise one ``ModelFileError`` / ``ConfigError``
naming the file and the fix, before anything is trained.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import ConfigError, ModelFileError
from engine.models import build_loaded, load_exstyles, load_face_parser, load_style_encoder
from engine.models.checkpoints import describe_checkpoint, load_state_dict_strict, load_torch_file
from engine.models.stylegan import Generator, map_each_latent
from engine.train.files import named_by_flag

BACKBONES = ("dualstylegan", "toonify")
DEFAULT_T_WEIGHT = (1.0,) * 9 + (0.0,) * 9
"""Official ``--weight`` default of ``train_vtoonify_t.py``: layers 0-8 from the finetuned model."""
MIN_TEACHER_SIZE = 128
"""The student decodes from the generator's 32x32 layer with a 4x upscale: in_size = size / 4 >= 32."""


@dataclass
class TeacherSet:
    """Frozen teacher models (``eval()``, no gradients) on one device."""

    backbone: str
    """``'dualstylegan'`` (VToonify-D) or ``'toonify'`` (VToonify-T)."""
    generator: nn.Module
    """D: DualStyleGAN ``g_ema``; T: StyleGAN Generator with the finetuned layers blended in by ``weight``."""
    face_parser: nn.Module
    """BiSeNet (19 classes)."""
    exstyles: torch.Tensor | None
    """D: exemplar style codes in W+ ``[N, n_latent, style_dim]`` (mapped from the file's z+, in file order);
    None for T."""
    directions: torch.Tensor | None
    """Editing directions ``[K, L, style_dim]`` added to latents 3-6; None without ``direction_path``."""
    style_dim: int
    n_latent: int
    size: int
    """Teacher resolution (1024 for the official models)."""
    base_generator: nn.Module
    """StyleGAN that renders the realistic input face: D: the DualStyleGAN's own StyleGAN
    (``generator.generator``); T: the FFHQ model (the un-blended ``stylegan_path``)."""
    channels: dict[int, int]
    """Generator channel table; the student VToonify must be built with it."""
    exstyle_names: tuple[str, ...] = ()
    """D: style names in file order (index = ``--style-id``)."""
    exstyle_path: Path | None = None
    style_encoder_path: Path | None = None
    device: str | torch.device = "cpu"
    warnings: list[str] = field(default_factory=list)
    """Things the caller should show the user once (e.g. no editing directions)."""
    _style_encoder: nn.Module | None = field(default=None, repr=False)

    def style_encoder(self) -> nn.Module:
        """The pSp encoder (image [B,3,256,256] in [-1,1] -> z+ [B, n_latent, style_dim] incl. latent_avg).

        Loaded on first use and cached; its widths must fit the generator. Raises ConfigError when no
        ``style_encoder_path`` was given, ModelFileError for a bad file.
        """
        if self._style_encoder is None:
            if self.style_encoder_path is None:
                raise ConfigError(
                    "these training settings need the pSp style encoder, but none was given",
                    "pass --style-encoder-path encoder.pt (from the official VToonify models)",
                )
            with named_by_flag("style_encoder_path"):
                encoder = load_style_encoder(self.style_encoder_path, self.device)
            n_styles = encoder.encoder.n_styles
            width = int(encoder.encoder.widths["W4"])
            if n_styles != self.n_latent or width != self.style_dim:
                raise ModelFileError(
                    f"{self.style_encoder_path} makes {n_styles} codes of width {width}, but the teacher "
                    f"generator needs {self.n_latent} codes of width {self.style_dim}",
                    "use the pSp encoder.pt trained for this StyleGAN (same size and style width)",
                )
            self._style_encoder = _freeze(encoder)
        return self._style_encoder

    def check_style_encoder(self) -> None:
        """Load the pSp file once to check it, without keeping it (GPU memory) when training never uses it:
        the full stage still copies it into the models folder as ``encoder.pt`` for the renderer, and a
        corrupt or mismatched file must not be installed there unchecked."""
        if self._style_encoder is None:
            self.style_encoder()
            self._style_encoder = None

    def stylegan(self) -> Generator:
        """The StyleGAN2 generator whose mapping network turns z / z+ into W / W+ (shared by both kinds)."""
        return self.generator.generator if self.backbone == "dualstylegan" else self.generator

    def zplus2wplus(self, zplus: torch.Tensor) -> torch.Tensor:
        """z+ ``[B, L, D]`` -> W+ ``[B, L, D]`` through the teacher's mapping network (each code alone)."""
        return map_each_latent(self.stylegan().style, zplus)

    def student_config(self) -> dict[str, Any]:
        """``build_model`` config of the student VToonify that decodes with this teacher (4x upscale)."""
        return {
            "class_name": "VToonify",
            "backbone": self.backbone,
            "in_size": self.size // 4,
            "out_size": self.size,
            "style_channels": self.style_dim,
            "num_mlps": len([m for m in self.stylegan().style if hasattr(m, "weight")]),
            "channels": dict(self.channels),
        }


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


def _indices(keys, prefix: str, suffix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"(\d+)" + re.escape(suffix) + "$")
    return sorted({int(m.group(1)) for k in keys if (m := pattern.match(k))})


def infer_stylegan_config(state: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, Any]:
    """StyleGAN2 ``Generator`` arguments from its tensors: size, style_dim, n_mlp and the channel table.

    ``conv1`` gives the 4x4 width, ``convs[2k]`` the width at 2**(k+3); the mapping has ``n_mlp`` linears
    ``style.1..n``. Raises KeyError/IndexError on a state dict that is not a StyleGAN2 generator.
    """
    keys = set(state)
    channels = {4: int(state[prefix + "conv1.conv.weight"].shape[1])}
    conv_ids = _indices(keys, prefix + "convs.", ".conv.weight")
    if not conv_ids:
        raise KeyError(prefix + "convs.0.conv.weight")
    for i in conv_ids[::2]:
        channels[2 ** (i // 2 + 3)] = int(state[f"{prefix}convs.{i}.conv.weight"].shape[1])
    mlps = _indices(keys, prefix + "style.", ".weight")
    return {
        "size": 2 ** (len(conv_ids) // 2 + 2),
        "style_dim": int(state[f"{prefix}style.{mlps[0]}.weight"].shape[0]),
        "n_mlp": len(mlps),
        "channels": channels,
    }


def _g_ema(path: Path, what: str, fix: str) -> Mapping[str, torch.Tensor]:
    """The ``g_ema`` state dict of an official generator file (``{'g_ema': ...}``)."""
    obj = load_torch_file(path)
    state = obj.get("g_ema") if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping):
        raise ModelFileError(f"{path} is not {what}: it looks like {describe_checkpoint(obj)}", fix)
    return state


def _load_dualstylegan(path: Path) -> nn.Module:
    fix = "pass the DualStyleGAN generator.pt of the style (e.g. checkpoint/cartoon/generator.pt)"
    state = _g_ema(path, "a DualStyleGAN generator", fix)
    if not any(k.startswith("res.") for k in state) or "generator.conv1.conv.weight" not in state:
        hint = " (a plain StyleGAN: use --backbone toonify)" if "conv1.conv.weight" in state else ""
        raise ModelFileError(
            f"{path} is not a DualStyleGAN generator: it looks like {describe_checkpoint(state)}{hint}", fix
        )
    try:
        config = infer_stylegan_config(state, "generator.")
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelFileError(f"{path} has an incomplete DualStyleGAN layout (no tensor {exc})", fix) from None
    config = {"class_name": "DualStyleGAN", **config}
    return build_loaded(config, state, path, f"DualStyleGAN (size {config['size']})")


def _load_stylegan(path: Path, role: str, config: Mapping[str, Any] | None = None) -> tuple[Generator, dict]:
    fix = (
        "pass the FFHQ StyleGAN2 g_ema (stylegan2-ffhq-config-f.pt)"
        if role == "ffhq"
        else "pass the finetuned StyleGAN2 of the style (e.g. checkpoint/cartoon/finetune-000600.pt)"
    )
    state = _g_ema(path, "a StyleGAN2 generator", fix)
    if "conv1.conv.weight" not in state or "style.1.weight" not in state:
        raise ModelFileError(f"{path} is not a StyleGAN2 generator: it looks like {describe_checkpoint(state)}", fix)
    try:
        own = infer_stylegan_config(state)
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelFileError(f"{path} has an incomplete StyleGAN2 layout (no tensor {exc})", fix) from None
    if config is not None and own != dict(config):
        raise ModelFileError(
            f"{path} (size {own['size']}, style width {own['style_dim']}, widths {own['channels']}) does not "
            f"match the FFHQ generator (size {config['size']}, style width {config['style_dim']}, "
            f"widths {config['channels']})",
            "pass the finetuned model that was trained from this --stylegan-path",
        )
    model = Generator(own["size"], own["style_dim"], own["n_mlp"], channels=own["channels"])
    model = load_state_dict_strict(model, state, path, f"StyleGAN2 (size {own['size']})")
    return model, own


def _layer_of(key: str) -> int | None:
    """StyleGAN layer (latent index) a synthesis parameter belongs to, as the official ``gather_params``:
    conv1 -> 0, to_rgb1 -> 1, convs.k -> k+1, to_rgbs.k -> 2k+3; None for mapping, input and noise."""
    if key.startswith("conv1."):
        return 0
    if key.startswith("to_rgb1."):
        return 1
    if m := re.match(r"convs\.(\d+)\.", key):
        return int(m.group(1)) + 1
    if m := re.match(r"to_rgbs\.(\d+)\.", key):
        return int(m.group(1)) * 2 + 3
    return None


def blend_stylegans(
    base: Mapping[str, torch.Tensor], finetuned: Mapping[str, torch.Tensor], weight: Sequence[float]
) -> dict[str, torch.Tensor]:
    """Layer-wise blend (Toonify): ``base * (1 - w[l]) + finetuned * w[l]`` for every synthesis tensor of
    layer l; the mapping network, constant input and noise maps come from ``base`` (as the official
    ``blend_models(finetune, base, weight)``)."""
    out = {}
    for key, value in base.items():
        layer = _layer_of(key)
        if layer is None or not value.is_floating_point():
            out[key] = value.clone()
        else:
            w = float(weight[layer])
            out[key] = value * (1 - w) + finetuned[key].to(value.dtype) * w
    return out


def _load_directions(path: Path, style_dim: int) -> torch.Tensor:
    fix = "pass the official directions.npy (editing directions [K, 18, 512]) or leave the option out"
    if not path.is_file():
        raise ModelFileError(f"editing directions not found: {path}", fix)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:  # a pickled (object) array: never unpickled here
        raise ModelFileError(f"{path} is not a plain numeric .npy array ({exc})", fix) from None
    except (OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a readable .npy file ({exc})", fix) from None
    if array.dtype.kind != "f" or array.ndim != 3 or array.shape[1] < 7 or array.shape[2] != style_dim:
        raise ModelFileError(
            f"{path} holds a {array.dtype} array of shape {list(array.shape)}; expected float "
            f"[K, n_latent >= 7, {style_dim}] (the generator's style width)",
            fix,
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _check_size(config: Mapping[str, Any], path: Path, backbone: str) -> None:
    size, channels = config["size"], config["channels"]
    if size < MIN_TEACHER_SIZE or 2 ** int(math.log2(size)) != size:
        raise ConfigError(
            f"{path}: teacher size {size} is too small for VToonify (the student decodes from 32x32 to 4x "
            f"its input, so the teacher must be a power of two >= {MIN_TEACHER_SIZE})",
            "use a StyleGAN of resolution 128 or more (the official ones are 1024)",
        )
    if backbone == "dualstylegan" and not channels[8] == channels[16] == channels[32]:
        raise ConfigError(
            f"{path}: widths at 8/16/32 are {channels[8]}/{channels[16]}/{channels[32]}; VToonify-D applies "
            "the DualStyleGAN ModRes blocks of those layers at one level, so they must be equal",
            "use a DualStyleGAN whose 8, 16 and 32 layers have one width (true for the official models)",
        )


def _existing(path: str | Path | None, option: str, kind: str) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{kind} not found: {path}", f"check {option} (the official file is named in docs)")
    return path


def load_teachers(
    backbone: str,
    *,
    stylegan_path: str | Path,
    faceparsing_path: str | Path,
    exstyle_path: str | Path | None = None,
    style_encoder_path: str | Path | None = None,
    direction_path: str | Path | None = None,
    finetunegan_path: str | Path | None = None,
    weight: Sequence[float] | None = None,
    device: str | torch.device = "cpu",
) -> TeacherSet:
    """Load and check every teacher file of one training run; see the module docstring.

    D needs ``exstyle_path``; T needs ``finetunegan_path`` (``weight``: 18 floats, default the official
    ``[1]*9 + [0]*9``). The pSp file is only checked for existence here and opened by
    :meth:`TeacherSet.style_encoder`.
    """
    if backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {backbone!r}", "use --backbone dualstylegan or --backbone toonify")
    stylegan_path = Path(stylegan_path)
    encoder_path = _existing(style_encoder_path, "--style-encoder-path", "pSp style encoder")
    warnings: list[str] = []
    names: tuple[str, ...] = ()
    exstyles_z = None
    if backbone == "dualstylegan":
        if exstyle_path is None:
            raise ConfigError("VToonify-D needs the exemplar style codes", "pass --exstyle-path exstyle_code.npy")
        if finetunegan_path is not None:
            raise ConfigError("--finetunegan-path is a VToonify-T option", "leave it out, or use --backbone toonify")
        with named_by_flag("stylegan_path"):
            generator = _load_dualstylegan(stylegan_path)
        config = infer_stylegan_config(generator.state_dict(), "generator.")
        _check_size(config, stylegan_path, backbone)
        with named_by_flag("exstyle_path"):
            codes = load_exstyles(exstyle_path)
            shapes = {tuple(c.shape[1:]) for c in codes.values()}
            if shapes != {(generator.n_latent, config["style_dim"])}:
                raise ModelFileError(
                    f"{exstyle_path}: style codes of shape {sorted(shapes)} do not fit the DualStyleGAN of "
                    f"{stylegan_path} ({generator.n_latent} codes of width {config['style_dim']})",
                    "use the exstyle_code.npy made for this generator (same style folder)",
                )
        names = tuple(codes)
        exstyles_z = torch.cat(list(codes.values()), 0)
        base = generator.generator
    else:
        if finetunegan_path is None:
            raise ConfigError("VToonify-T needs the finetuned StyleGAN", "pass --finetunegan-path finetune-*.pt")
        if exstyle_path is not None:
            raise ConfigError("--exstyle-path is a VToonify-D option", "leave it out, or use --backbone dualstylegan")
        with named_by_flag("stylegan_path"):
            base, config = _load_stylegan(stylegan_path, "ffhq")
        _check_size(config, stylegan_path, backbone)
        with named_by_flag("finetunegan_path"):
            tuned, _ = _load_stylegan(Path(finetunegan_path), "finetune", config)
        weight = list(DEFAULT_T_WEIGHT if weight is None else weight)
        if len(weight) < base.n_latent or not all(math.isfinite(float(w)) for w in weight):
            raise ConfigError(
                f"--weight has {len(weight)} values; the generator has {base.n_latent} layers",
                "give 18 numbers (one per layer; 1 = finetuned layer, 0 = FFHQ layer)",
            )
        generator = Generator(config["size"], config["style_dim"], config["n_mlp"], channels=config["channels"])
        generator.load_state_dict(blend_stylegans(base.state_dict(), tuned.state_dict(), weight), strict=True)
    with named_by_flag("faceparsing_path"):
        parser = load_face_parser(faceparsing_path, device)
    directions = None
    if direction_path is None:
        warnings.append("no --direction-path: training faces get no attribute edits (latents 3-6 unchanged)")
    else:
        with named_by_flag("direction_path"):
            directions = _load_directions(Path(direction_path), config["style_dim"]).to(device)
    generator = _freeze(generator.float().to(device))
    base = _freeze(base.float().to(device))
    teachers = TeacherSet(
        backbone=backbone,
        generator=generator,
        face_parser=_freeze(parser),
        exstyles=None,
        directions=directions,
        style_dim=int(config["style_dim"]),
        n_latent=int(base.n_latent),
        size=int(config["size"]),
        base_generator=base,
        channels=dict(config["channels"]),
        exstyle_names=names,
        exstyle_path=None if exstyle_path is None else Path(exstyle_path),
        style_encoder_path=encoder_path,
        device=device,
        warnings=warnings,
    )
    if exstyles_z is not None:
        with torch.no_grad():
            teachers.exstyles = teachers.zplus2wplus(exstyles_z.to(device))
    return teachers
