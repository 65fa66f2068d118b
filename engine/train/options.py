"""``TrainOptions``: the one definition of a training run (CLI flags -> checked, frozen values).

Names and defaults follow the official ``train_vtoonify_d.py`` / ``train_vtoonify_t.py`` (``--iter 2000
--batch 8 --lr 1e-4``, loss weights ``--grec-loss 0.1 --perc-loss 0.01 --adv-loss 0.01 --tmp-loss 1
--msk-loss 0.0005``, ``--style-id 26 --style-degree 0.5``, T blend ``--weight 1*9 0*9``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from engine.errors import ConfigError

STAGES = ("pretrain", "full")
TRAIN_PRECISIONS = ("fp32", "bf16", "auto")
BACKBONES = ("dualstylegan", "toonify")
DEFAULT_BLEND = (1.0,) * 9 + (0.0,) * 9
"""Official ``--weight`` of VToonify-T: layers 0-8 from the fine-tuned model, 9-17 from FFHQ."""


@dataclass(frozen=True)
class TrainOptions:
    stage: str
    """'pretrain' (encoder, Eq. 1 / 8) or 'full' (Eq. 5)."""
    backbone: str
    """'dualstylegan' (VToonify-D) or 'toonify' (VToonify-T)."""
    stylegan_path: str
    """D: DualStyleGAN ``generator.pt``; T: the FFHQ StyleGAN2 (``g_ema``)."""
    faceparsing_path: str
    """BiSeNet ``faceparsing.pth`` (parsing maps of the input frames)."""
    out: str = "checkpoint"
    """Models folder to write into (``DIR/NAME/...``)."""
    name: str = ""
    """Family folder; '' -> ``vtoonify_d_cartoon`` / ``vtoonify_t_cartoon`` (official defaults)."""
    exstyle_path: str | None = None
    """D: ``exstyle_code.npy`` / ``refined_exstyle_code.npy`` (required for D)."""
    style_encoder_path: str | None = None
    """pSp ``encoder.pt``: the style code of the face (full stage, unless D with a fixed, colour-kept style)."""
    direction_path: str | None = None
    """``directions.npy`` (attribute edits added to latents 3-6); None -> no edits, one warning."""
    finetunegan_path: str | None = None
    """T: the fine-tuned StyleGAN2 (required for T)."""
    weight: tuple[float, ...] = DEFAULT_BLEND
    """T: per-layer blend of the fine-tuned and the FFHQ model (18 values)."""
    encoder_path: str | None = None
    """Full stage: the pre-trained encoder; None -> ``DIR/NAME/pretrain.pt`` (official default)."""
    perceptual_weights: str | None = None
    """Local LPIPS-VGG weights (torchvision VGG16 + LPIPS v0.1 lin layers, one file or two joined with
    ``os.pathsep``). Never downloaded; the full stage needs it unless ``perc_loss`` is 0."""
    iter: int = 2000
    batch: int = 8
    lr: float = 1e-4
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    """Forward passes in 'fp32' or 'bf16' (autocast; weights, gradients and Adam stay float32); 'auto':
    bf16 where the device multiplies bf16 natively (AVX512-BF16/AMX CPUs, Ampere+ GPUs), else fp32."""
    save_every: int = 0
    """Also save ``..._%05d.pt`` every N iterations (0: only the final file)."""
    log_every: int = 200
    sample_every: int = 200
    """Full stage: write a preview ``OUT/NAME/samples/full_%05d.png`` every N iterations (0: none)."""
    json_log: bool = False
    progress: bool = True
    resume: str | None = None
    overwrite: bool = False
    """Replace an existing final file of this run (otherwise refused)."""
    adv_loss: float = 0.01
    grec_loss: float = 0.1
    perc_loss: float = 0.01
    tmp_loss: float = 1.0
    msk_loss: float = 0.0005
    r1: float = 0.0
    """R1 penalty weight (official: none; StyleGAN2 uses 10 every 16 D steps)."""
    d_reg_every: int = 16
    fix_style: bool = False
    style_id: int = 26
    fix_degree: bool = False
    style_degree: float = 0.5
    fix_color: bool = False
    fusion_init_scale: float = 0.0
    """Scale of the random f_E half of the fusion kernels at initialisation (official: 0.01; 0 makes the
    initialised student reproduce the teacher exactly, as the paper states)."""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            from engine.commands import engine_command

            raise ConfigError(f"unknown stage {self.stage!r}",
                              f"use `{engine_command('train', 'pretrain')}` or `{engine_command('train', 'full')}`")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {self.backbone!r}", "use --backbone dualstylegan or toonify")
        checks = [
            (self.iter >= 1, f"--iter must be at least 1, got {self.iter}", "e.g. --iter 2000"),
            (self.batch >= 1, f"--batch must be at least 1, got {self.batch}", "e.g. --batch 8"),
            (0 < self.lr < math.inf, f"--lr must be a positive number, got {self.lr}", "official default 1e-4"),
            (self.log_every >= 1, f"--log-every must be at least 1, got {self.log_every}", "e.g. --log-every 200"),
            (self.save_every >= 0, f"--save-every must be >= 0, got {self.save_every}", "0 saves only at the end"),
            (self.sample_every >= 0, f"--sample-every must be >= 0, got {self.sample_every}", "0 writes no previews"),
            (0.0 <= self.style_degree <= 1.0, f"--style-degree must lie in [0, 1], got {self.style_degree}",
             "official default 0.5"),
            (self.style_id >= 0, f"--style-id must be >= 0, got {self.style_id}", "an index into exstyle_code.npy"),
            (len(self.weight) == 18, f"--weight needs 18 values, got {len(self.weight)}", "one per W+ layer"),
            (self.d_reg_every >= 1, f"--d-reg-every must be at least 1, got {self.d_reg_every}", "e.g. 16"),
            (0 <= self.fusion_init_scale < math.inf, "--fusion-init-scale must be a number >= 0",
             "0 (exact) or 0.01 (official)"),
            (self.precision in TRAIN_PRECISIONS, f"unknown --precision {self.precision!r}",
             "use fp32, bf16 or auto (fp16 would need loss scaling and is not offered)"),
        ]
        # the model file names a fixed degree with one decimal (official ``_d%1.1f``) and the renderer
        # picks models by that name: 0.75 would be saved as _d0.8 and never match --degree 0.75
        checks.append((self.backbone != "dualstylegan" or not self.fix_degree
                       or abs(round(self.style_degree, 1) - self.style_degree) < 1e-9,
                       f"--style-degree {self.style_degree:g} with --fix-degree has more than one decimal; the model "
                       f"file would be named _d{self.style_degree:1.1f} and render only at that degree",
                       "use a degree with one decimal (0.0, 0.1, ..., 1.0)"))
        # each weight on its own: min() passes a NaN that is not first, and NaN/inf trains a NaN model
        weights = (self.adv_loss, self.grec_loss, self.perc_loss, self.tmp_loss, self.msk_loss, self.r1)
        checks.append((all(0 <= w < math.inf for w in weights), "loss weights must be finite numbers >= 0",
                       "use 0 to switch a term off"))
        for ok, message, fix in checks:
            if not ok:
                raise ConfigError(message, fix)
        if self.backbone == "dualstylegan" and not self.exstyle_path:
            raise ConfigError("VToonify-D training needs the exemplar style codes",
                              "pass --exstyle-path exstyle_code.npy (or refined_exstyle_code.npy)")
        if self.backbone == "toonify" and not self.finetunegan_path:
            raise ConfigError("VToonify-T training needs the fine-tuned StyleGAN",
                              "pass --finetunegan-path (e.g. finetune-000600.pt)")
        if self.stage == "full" and self.perc_loss > 0 and not self.perceptual_weights:
            raise ConfigError(
                f"the full stage's perceptual term (--perc-loss {self.perc_loss:g}, paper Eq. 2) needs the "
                "LPIPS-VGG weights, which are never downloaded",
                "pass --perceptual-weights vgg16-397923af.pth:vgg.pth (torchvision VGG16 + LPIPS v0.1 lin "
                "weights), or --perc-loss 0 to train without the term",
            )
        if self.stage == "full" and self.needs_style_encoder and not self.style_encoder_path:
            raise ConfigError("the full stage needs the pSp style encoder for the face's style code",
                              "pass --style-encoder-path encoder.pt")

    @property
    def needs_style_encoder(self) -> bool:
        """The official D script skips pSp only for a fixed exemplar with colour transfer."""
        return not (self.backbone == "dualstylegan" and self.fix_style and not self.fix_color)

    @property
    def folder_name(self) -> str:
        return self.name or ("vtoonify_d_cartoon" if self.backbone == "dualstylegan" else "vtoonify_t_cartoon")

    def variant(self) -> dict:
        """Arguments of :func:`engine.models.inventory.model_file_name`."""
        return {"fix_style": self.fix_style, "style_id": self.style_id, "fix_degree": self.fix_degree,
                "style_degree": self.style_degree, "fix_color": self.fix_color}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["weight"] = list(self.weight)
        return data
