"""Paired training data generated on the fly from the teacher (paper Sec. 4.1.2 / 4.2.2).

One :meth:`PairGenerator.sample` call is one official data-generation step (``train_vtoonify_*.py``):

1. a random W code ``w = mapping(z)``, repeated to all latents, with a random editing direction added to
   latents 3-6 (paper: ``w' = w + n``);
2. the realistic face ``x' = G0(w')`` at truncation 0.5 (G0: the FFHQ StyleGAN, for D the DualStyleGAN's own
   StyleGAN), clamped to [-1, 1];
3. the style code the student gets (``w''``):
   D: the exemplar's first 7 latents + latents 7.. from pSp of the 256x256 face (``E_s(x'_down)``), or all
   latents from the exemplar when colour is transferred from a fixed style (``not fix_color and fix_style``);
   T: ``0.5 * w'`` for latents 0-6 + latents 7.. from pSp of the face;
4. the stylised target ``y' = G1(...)`` (D: DualStyleGAN with structure weight ``d_s`` on layers 0-6 and
   colour weight 1, or 0 with ``fix_color``, on the rest; T: the blended Toonify StyleGAN of ``w''``);
5. D only, second half of training (not ``fix_color`` nor ``fix_style``): colour jitter by latent fusion - the
   input face is re-rendered with latents 7.. moved towards another random code, so input and target disagree
   in colour and the student learns to take colour from the style code;
6. the same random affine transform on input and target, Downsample-blur (the [1,3,3,1] FIR, stride 2) of the
   input to 1/2 and 1/4, BiSeNet parsing of the 1/2 input, blurred to 1/4 and divided by 16.

The pre-training stage (Eq. 1 / 8) skips 3-6: its target is the teacher's 32x32 feature and RGB skip.

Departures from the official scripts, all on purpose:
* every random number comes from the caller's ``torch.Generator`` (noise maps included), so a sample is a
  pure function of the generator state and a resumed run repeats exactly;
* the colour-jitter partner is a fresh random code instead of the previous iteration's ``w'`` (the same
  distribution, without state between calls);
* the affine augmentation is our own compact version of the official mild ADA transform (flip, sub-pixel
  translation, isotropic/anisotropic scale, rotation; one bilinear warp with reflection padding instead of
  the official 2x-upsampled warp), see :func:`random_affine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engine.errors import ConfigError
from engine.models.stylegan import make_fir_kernel
from engine.ops import upfirdn2d
from engine.train.teachers import TeacherSet

STYLE_LATENTS = 7
"""Latents 0-6 carry the structure style (from the exemplar); 7.. colour and texture."""
EDIT_LATENTS = slice(3, 7)
"""Editing directions act on latents 3-6 (official ``directions[..., 3:7]``)."""
TRUNCATION = 0.5
PSP_SIZE = 256
STAGES = ("pretrain", "full")


@dataclass
class PairBatch:
    """One batch of paired data. Sizes: input ``h = size / 4``, target ``4h = size`` (the teacher size)."""

    x: torch.Tensor
    """[B,3,h,w] student input frame in [-1,1] (Downsample-blurred twice)."""
    parsing: torch.Tensor
    """[B,19,h,w] BiSeNet logits of the input, already / 16 (VToonify takes ``cat(x, parsing)``)."""
    y: torch.Tensor
    """[B,3,4h,4w] teacher target in [-1,1]. Pre-training has no stylised target: there ``y`` is the
    full-resolution input photo (``x_full``)."""
    style: torch.Tensor
    """[B,n_latent,style_dim] W+ style code the student gets (D: the exemplar mix ``w''``; T: ``w''``; in
    pre-training D: the exemplar code, T: ``w``)."""
    d_s: torch.Tensor
    """[B] structure degree (D; one value per batch, as the student takes a scalar); zeros for T."""
    style_ids: torch.Tensor
    """[B] long exemplar index (D); zeros for T."""
    w: torch.Tensor
    """[B,n_latent,style_dim] intrinsic teacher latents ``w'`` (before truncation) that made the face."""
    x_full: torch.Tensor
    """[B,3,4h,4w] the input frame at full resolution (after the affine transform), for the flicker loss."""
    parsing_full: torch.Tensor
    """[B,19,4h,4w] parsing logits / 16 at full resolution (the 1/2-size logits repeated 2x, as official)."""
    interp_weights: tuple[float, ...] = ()
    """DualStyleGAN per-layer weights used for the target (D); empty for T."""
    feat: torch.Tensor | None = None
    """Pre-training only: teacher feature [B,C,32,32] after its 32x32 block, see teacher_features."""
    skip: torch.Tensor | None = None
    """Pre-training only: teacher RGB skip [B,3,32,32] at the same layer."""

    def student_input(self) -> torch.Tensor:
        """``cat(x, parsing)`` [B,22,h,w]: what VToonify's forward takes."""
        return torch.cat([self.x, self.parsing], dim=1)

    def degree(self) -> float:
        """The batch's structure degree as the scalar VToonify's forward takes (exact: the value the
        teacher was called with, not its float32 copy in ``d_s``)."""
        if self.interp_weights:
            return float(self.interp_weights[0])
        return float(self.d_s[0]) if self.d_s.numel() else 0.0


def blur_downsample(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN ``Downsample``: the [1,3,3,1] FIR low-pass (pad 1/1) then every 2nd pixel; [N,C,H,W] ->
    [N,C,H/2,W/2]. Output pixel j is centred on input position 2j + 1 (half-pixel centres), so two of them
    give a 4x reduction centred like ``F.interpolate(..., align_corners=False)``."""
    kernel = make_fir_kernel((1, 3, 3, 1)).to(x)
    return upfirdn2d(x, kernel, down=2, pad=(1, 1), impl="fast")


def _device_of(generator: torch.Generator) -> torch.device:
    return torch.device(generator.device)


def _randn(shape, generator: torch.Generator, device) -> torch.Tensor:
    """Normal sample from ``generator``, drawn on the generator's device and moved to ``device``."""
    return torch.randn(shape, generator=generator, device=_device_of(generator)).to(device)


def _rand(shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=_device_of(generator)).to(device)


def _randint(high: int, shape, generator: torch.Generator, device) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=generator, device=_device_of(generator)).to(device)


def _generator_on(device, generator: torch.Generator) -> torch.Generator:
    """``generator`` itself when it lives on ``device``'s kind; else a generator there, seeded by one draw
    from ``generator`` (large draws, such as 1024x1024 noise maps, then stay on the GPU)."""
    device = torch.device(device)
    if device.type == _device_of(generator).type:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=_device_of(generator)))
    return torch.Generator(device=device).manual_seed(seed)


def random_noise(stylegan, batch: int, generator: torch.Generator, device) -> list[torch.Tensor]:
    """Per-sample noise maps for every layer of a StyleGAN (drawn from ``generator``, on ``device``)."""
    gen = _generator_on(device, generator)
    return [_randn((batch, *n.shape[1:]), gen, device) for n in stylegan.fixed_noises()]


def zero_noise(stylegan, batch: int, device) -> list[torch.Tensor]:
    """All-zero noise maps ("noise off", as VToonify decodes)."""
    return [torch.zeros((batch, *n.shape[1:]), device=device) for n in stylegan.fixed_noises()]


def _matrix(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    return torch.stack([torch.stack(r, -1) for r in rows], -2)  # [B,3,3]


def random_affine(batch: int, generator: torch.Generator, p: float = 0.2, size: int = 256) -> torch.Tensor:
    """[B,2,3] ``affine_grid`` matrices (normalised coordinates) of a mild random transform of a
    ``size``-pixel square image.

    Each step applies with probability ``p`` (rotations with ``1 - sqrt(1 - p)``), in the official order and
    ranges: x-flip; "integer" translation ``round(u * size) / size`` pixels, u uniform +-0.125; isotropic
    scale lognormal(0, 0.1 ln 2); rotation uniform +-45 deg; anisotropic scale lognormal(0, 0.1 ln 2);
    rotation; fractional translation normal(0, 0.125) pixels. Translations are in pixels, as the official
    script effectively applies them (its ADA port reads the translation parameters in pixel units, so
    shifts stay below a pixel; we checked this by running it): the faces keep their place and only
    orientation, scale and mirroring vary.
    """
    cpu = torch.device("cpu")

    def coin(prob: float) -> torch.Tensor:
        return (_rand((batch,), generator, cpu) < prob).float()

    one, zero = torch.ones(batch), torch.zeros(batch)

    def scale(sx, sy):
        return _matrix([[sx, zero, zero], [zero, sy, zero], [zero, zero, one]])

    def rotate(theta):
        c, s = torch.cos(theta), torch.sin(theta)
        return _matrix([[c, -s, zero], [s, c, zero], [zero, zero, one]])

    def translate(tx, ty):
        return _matrix([[one, zero, tx], [zero, one, ty], [zero, zero, one]])

    def maybe(mat: torch.Tensor, prob: float) -> torch.Tensor:
        pick = coin(prob).view(batch, 1, 1)
        return pick * mat + (1 - pick) * torch.eye(3).expand(batch, 3, 3)

    p_rot = 1 - math.sqrt(1 - p)
    log2 = math.log(2)
    pixel = 2.0 / size  # one pixel in normalised coordinates
    flip = 1 - 2 * (_rand((batch,), generator, cpu) < 0.5).float()
    shift = torch.round((_rand((batch,), generator, cpu) * 0.25 - 0.125) * size) / size * pixel
    iso = torch.exp(_randn((batch,), generator, cpu) * 0.1 * log2)
    rot1 = (_rand((batch,), generator, cpu) * 2 - 1) * math.pi / 4
    aniso = torch.exp(_randn((batch,), generator, cpu) * 0.1 * log2)
    rot2 = (_rand((batch,), generator, cpu) * 2 - 1) * math.pi / 4
    frac = _randn((batch,), generator, cpu) * 0.125 * pixel
    steps = [
        maybe(scale(flip, one), p),
        maybe(translate(shift, shift), p),
        maybe(scale(iso, iso), p),
        maybe(rotate(-rot1), p_rot),
        maybe(scale(aniso, 1 / aniso), p),
        maybe(rotate(-rot2), p_rot),
        maybe(translate(frac, frac), p),
    ]
    mat = torch.eye(3).expand(batch, 3, 3)
    for step in steps:
        mat = step @ mat
    return mat[:, :2, :]


def apply_affine(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp [B,C,H,W] with [B,2,3] matrices (bilinear, reflection padding, half-pixel centres)."""
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class PairGenerator:
    """Makes :class:`PairBatch` es from a :class:`TeacherSet` for one training stage and variant.

    Args:
        teachers: the loaded teachers.
        out_size: target size; must equal the teacher size (the student upsamples 4x from ``size / 4``).
        stage: ``'pretrain'`` (encoder pre-training: feature targets, no augmentation) or ``'full'``.
        fix_style, style_id: D: always use exemplar ``style_id`` (else a random exemplar per sample).
        fix_degree, style_degree: D: always use ``d_s = style_degree`` (else sampled, see :meth:`sample`).
        fix_color: D: keep the input's colours (colour weight 0 on latents 7.., no colour jitter).
        affine_p: probability of each augmentation step (official 0.2).
        device: where tensors are made.

    The pSp style encoder is loaded here when this stage needs it, so a bad encoder file fails before
    training starts.
    """

    def __init__(
        self,
        teachers: TeacherSet,
        *,
        out_size: int | None = None,
        stage: str = "full",
        fix_style: bool = False,
        style_id: int = 26,
        fix_degree: bool = False,
        style_degree: float = 0.5,
        fix_color: bool = False,
        affine_p: float = 0.2,
        device: str | torch.device = "cpu",
    ) -> None:
        if stage not in STAGES:
            raise ConfigError(f"unknown training stage {stage!r}", "use pretrain or full")
        if out_size is not None and out_size != teachers.size:
            raise ConfigError(
                f"target size {out_size} differs from the teacher size {teachers.size}",
                "train at the teacher's resolution (the student input is a quarter of it)",
            )
        if not 0.0 <= style_degree <= 1.0:
            raise ConfigError(f"--style-degree {style_degree} is outside [0, 1]", "pick a degree between 0 and 1")
        self.is_d = teachers.backbone == "dualstylegan"
        if self.is_d and fix_style and not 0 <= style_id < teachers.exstyles.shape[0]:
            raise ConfigError(
                f"--style-id {style_id} does not exist: {teachers.exstyle_path} holds "
                f"{teachers.exstyles.shape[0]} styles (0..{teachers.exstyles.shape[0] - 1})",
                "pick an index within the exstyle file",
            )
        self.teachers = teachers
        self.out_size = teachers.size
        self.stage = stage
        self.fix_style, self.style_id = fix_style, style_id
        self.fix_degree, self.style_degree = fix_degree, float(style_degree)
        self.fix_color = fix_color
        self.affine_p = affine_p
        self.device = torch.device(device)
        if self.needs_style_encoder:
            teachers.style_encoder()

    @property
    def needs_style_encoder(self) -> bool:
        """pSp is needed in the full stage, except D with a fixed style whose colour is transferred."""
        if self.stage != "full":
            return False
        return not (self.is_d and self.fix_style and not self.fix_color)

    # --- the random choices of one step -------------------------------------------------------------

    def sample_degree(self, generator: torch.Generator, iteration: int, total: int) -> float:
        """D: ``style_degree`` when fixed; else full stage: one of 0, 0.2, ..., 1; pre-training: 0 for the
        first quarter of the iterations, then uniform in [0, 1) (official schedule). T: 0."""
        if not self.is_d:
            return 0.0
        if self.fix_degree:
            return self.style_degree
        if self.stage == "full":
            return float(_randint(6, (1,), generator, "cpu")) / 5.0
        if iteration <= total / 4.0:
            return 0.0
        return float(_rand((1,), generator, "cpu"))

    def sample_style_ids(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        if not self.is_d:
            return torch.zeros(batch, dtype=torch.long, device=self.device)
        if self.fix_style:
            return torch.full((batch,), self.style_id, dtype=torch.long, device=self.device)
        return _randint(self.teachers.exstyles.shape[0], (batch,), generator, self.device)

    def sample_w(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Random ``w' = mapping(z)`` on all latents, plus a random editing direction on latents 3-6."""
        t = self.teachers
        z = _randn((batch, t.style_dim), generator, self.device)
        w = t.stylegan().style(z).unsqueeze(1).repeat(1, t.n_latent, 1)  # [B,L,D]
        if t.directions is not None:
            pick = _randint(t.directions.shape[0], (batch,), generator, self.device)
            w[:, EDIT_LATENTS] = w[:, EDIT_LATENTS] + t.directions[pick][:, EDIT_LATENTS]
        return w

    def interp_weights(self, d_s: float) -> tuple[float, ...]:
        """DualStyleGAN per-layer weights: ``d_s`` on the structure layers 0-6; colour layers 1, or 0 with
        ``fix_color``; in pre-training ``d_s`` everywhere (official)."""
        n = self.teachers.n_latent
        if self.stage == "pretrain":
            return (d_s,) * n
        colour = 0.0 if self.fix_color else 1.0
        return (d_s,) * STYLE_LATENTS + (colour,) * (n - STYLE_LATENTS)

    # --- teacher calls --------------------------------------------------------------------------------

    def render_face(self, w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Realistic face ``x' = clamp(G0(w'))`` at truncation 0.5, [B,3,size,size]."""
        base = self.teachers.base_generator
        noise = random_noise(base, w.shape[0], generator, self.device)
        img, _ = base([w], input_is_latent=True, truncation=TRUNCATION, truncation_latent=0, noise=noise)
        return img.clamp(-1, 1)

    def style_code(self, face: torch.Tensor, w: torch.Tensor, exemplar: torch.Tensor | None) -> torch.Tensor:
        """The student's style code ``w''`` (see the module docstring, step 3); [B,L,D]."""
        if self.is_d and self.fix_style and not self.fix_color:
            return exemplar.clone()
        t = self.teachers
        psp = t.zplus2wplus(t.style_encoder()(F.adaptive_avg_pool2d(face, PSP_SIZE)))  # [B,L,D]
        first = exemplar[:, :STYLE_LATENTS] if self.is_d else w[:, :STYLE_LATENTS] * TRUNCATION
        return torch.cat([first, psp[:, STYLE_LATENTS:]], dim=1)

    def render_target(
        self, w: torch.Tensor, style: torch.Tensor, weights: tuple[float, ...], noise: list[torch.Tensor]
    ) -> torch.Tensor:
        """Stylised target ``y' = clamp(G1(...))`` [B,3,size,size] (D: DualStyleGAN at truncation 0.5; T: no
        truncation, as the official T script)."""
        t = self.teachers
        if self.is_d:
            img, _ = t.generator([w], style, input_is_latent=True, truncation=TRUNCATION, truncation_latent=0,
                                 use_res=True, interp_weights=list(weights), noise=noise)
        else:
            img, _ = t.generator([style], input_is_latent=True, noise=noise)
        return img.clamp(-1, 1)

    def jitter_colour(self, w: torch.Tensor, generator: torch.Generator, iteration: int, total: int) -> torch.Tensor:
        """``w'`` with latents 7.. moved towards another random code by ``iteration / (total/2) - 1``."""
        other = self.sample_w(w.shape[0], generator)
        amount = iteration / (total / 2.0) - 1.0
        fused = w.clone()
        fused[:, STYLE_LATENTS:] = other[:, STYLE_LATENTS:] * amount + w[:, STYLE_LATENTS:] * (1.0 - amount)
        return fused

    def parse(self, half: torch.Tensor) -> torch.Tensor:
        """BiSeNet head-0 logits of the 1/2-size frame (input scaled by 2, official), [B,19,H/2,W/2]."""
        return self.teachers.face_parser(2 * half)[0]

    # --- public ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self, batch: int, generator: torch.Generator, *, iteration: int = 0, total_iterations: int = 1
    ) -> PairBatch:
        """One batch; deterministic for a given ``generator`` state (and iteration / total).

        ``iteration`` / ``total_iterations`` drive the schedules: the pre-training degree schedule and the
        colour jitter of the second half (D, full stage).
        """
        if batch < 1:
            raise ConfigError(f"batch size {batch} must be at least 1", "use --batch 1 or more")
        t = self.teachers
        d_s = self.sample_degree(generator, iteration, total_iterations)
        style_ids = self.sample_style_ids(batch, generator)
        exemplar = t.exstyles[style_ids] if self.is_d else None
        w = self.sample_w(batch, generator)
        face = self.render_face(w, generator)
        d_tensor = torch.full((batch,), d_s, device=self.device)
        if self.stage == "pretrain":
            return self._pretrain_batch(face, w, exemplar, d_s, d_tensor, style_ids, generator)

        weights = self.interp_weights(d_s) if self.is_d else ()
        style = self.style_code(face, w, exemplar)
        target = self.render_target(w, style, weights, random_noise(t.stylegan(), batch, generator, self.device))
        if self.is_d and not self.fix_color and not self.fix_style and iteration > 0 \
                and iteration >= total_iterations / 2.0:
            face = self.render_face(self.jitter_colour(w, generator, iteration, total_iterations), generator)
        theta = random_affine(batch, generator, self.affine_p, face.shape[-1])
        both = apply_affine(torch.cat([face, target], 1), theta)
        x_full, y = both[:, :3], both[:, 3:]
        return PairBatch(y=y, style=style, d_s=d_tensor, style_ids=style_ids, w=w, interp_weights=weights,
                         **self._student_inputs(x_full))

    def _student_inputs(self, x_full: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the student sees of a full-resolution frame: the frame and its parsing (logits /16)
        blurred down 4x, and the full-resolution versions the flicker loss crops from."""
        half = blur_downsample(x_full)
        logits_half = self.parse(half)
        return {
            "x": blur_downsample(half),
            "parsing": blur_downsample(logits_half) / 16.0,
            "x_full": x_full,
            "parsing_full": F.adaptive_avg_pool2d(logits_half, x_full.shape[-2:]) / 16.0,
        }

    def _pretrain_batch(self, face, w, exemplar, d_s, d_tensor, style_ids, generator) -> PairBatch:
        t = self.teachers
        style = exemplar if self.is_d else w
        batch = PairBatch(y=face, style=style, d_s=d_tensor, style_ids=style_ids, w=w,
                          interp_weights=self.interp_weights(d_s) if self.is_d else (),
                          **self._student_inputs(face))
        batch.feat, batch.skip = self.teacher_features(
            batch, noise=random_noise(t.stylegan(), w.shape[0], generator, self.device)
        )
        return batch

    @torch.no_grad()
    def teacher_features(
        self, batch: PairBatch, noise: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The pre-training target (Eq. 1 / 8): the teacher's feature and RGB skip right after its 32x32
        block, i.e. the input of the layers the student keeps; shapes [B,C,32,32] and [B,3,32,32] (= the
        student encoder's output for the size/4 input ``x``: its last level is always the 32x32 one).

        D: ``DualStyleGAN([w'], exemplar, truncation 0.5, use_res, interp_weights=[d_s]*L, return_feat)``;
        T: the blended StyleGAN of ``[w']`` at truncation 0.5, ``return_feature_ind=6``.
        ``noise``: per-layer maps (``random_noise``); None = zero noise ("noise off").
        """
        t = self.teachers
        if noise is None:
            noise = zero_noise(t.stylegan(), batch.w.shape[0], self.device)
        if self.is_d:
            weights = (batch.degree(),) * t.n_latent
            return t.generator([batch.w], batch.style, input_is_latent=True, return_feat=True,
                               truncation=TRUNCATION, truncation_latent=0, use_res=True,
                               interp_weights=list(weights), noise=noise)
        return t.generator([batch.w], input_is_latent=True, return_feature_ind=6, truncation=TRUNCATION,
                           truncation_latent=0, noise=noise)
