"""Stage 2 (``full``): the paper's Eq. 5 on paired data made on the fly, and the ``train`` entry point.

Per iteration, as ``train_vtoonify_d.py`` / ``train_vtoonify_t.py``:

1. a :class:`PairBatch` (input x, target y, style code w'', degree d_s);
2. discriminator step: ``adv * d_logistic(D(y), D(G(x)))`` on images average-pooled to a quarter (256 px for
   the official 1024-px teachers), conditioned on
   d_s and the exemplar index for D; optional lazy R1 (``--r1``, off as official);
3. generator step (encoder + fusion modules): ``adv * nonsaturating(D(G(x))) + grec * MSE(G(x), y)
   + perc * LPIPS(G(x), y) (pooled to half: 512 px officially) + tmp * ramp * flicker (Eq. 4) + msk * mask (Eq. 9, D)``;
   the flicker weight ramps from 0 at half the iterations to 1 at the end (official);
4. EMA of encoder and fusion modules into ``g_ema``;
5. rank 0: every ``--sample-every`` iterations a preview PNG of ``g_ema`` on iteration 1's batch
   (``engine.train.samples``, as the official ``log/NAME/%05d.jpg``).

Logged terms (JSON ``--json-log``) are the weighted values, as the official progress line: ``d_adv``,
``g_adv``, ``rec``, ``perc``, ``tmp``, ``msk`` (D), ``r1`` (when on) and ``d_s`` (D: the degree drawn).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from engine.commands import engine_command
from engine.errors import ModelFileError
from engine.train.checkpoint import load_pretrained_encoder, load_training_checkpoint, restore_gan_state
from engine.train.discriminator import ConditionalDiscriminator
from engine.train.files import named_by_flag
from engine.train.losses import (
    d_logistic_loss,
    flicker_loss,
    flicker_ramp,
    g_nonsaturating_loss,
    load_perceptual_loss,
    mask_loss,
    r1_penalty,
)
from engine.train.options import TrainOptions
from engine.train.pretrain import run_pretrain
from engine.train.samples import SampleWriter
from engine.train.session import (
    ADAM_BETAS,
    Session,
    close_processes,
    open_session,
    resolve_auto_resume,
    wrap_ddp,
)
from engine.train.student import TRAINED_PARTS, accumulate, init_fusion

D_SHRINK = 4
"""The official discriminator scores outputs average-pooled to 256 = size / 4 (1024-px teachers); smaller
teachers keep the ratio, so a 256-px test teacher is scored at 64 px."""
PERCEPTUAL_SHRINK = 2
"""The official perceptual loss compares images pooled to 512 = size / 2 ("1024 will out of memory")."""


def discriminator_channels(teacher_channels: dict[int, int], size: int) -> dict[int, int] | None:
    """Official widths for official (512-wide) teachers; for narrow test teachers, the teacher's own
    widths (a full-width D would dominate the run time of a tiny model)."""
    if teacher_channels.get(4) == 512:
        return None
    table = {r: w for r, w in teacher_channels.items() if r <= size}
    return table


def build_discriminator(session: Session) -> ConditionalDiscriminator:
    t = session.teachers
    size = t.size // D_SHRINK
    styles = t.exstyles.shape[0] if session.is_d else None
    return ConditionalDiscriminator(
        size, use_condition=session.is_d, style_num=styles, channels=discriminator_channels(t.channels, size)
    ).to(session.device)


def _pool(img: torch.Tensor, size: int) -> torch.Tensor:
    return img if img.shape[-1] == size else F.adaptive_avg_pool2d(img, size)


def full_step(session: Session, iteration: int) -> dict[str, torch.Tensor]:
    """One D step and one G step (see the module docstring); returns the weighted loss terms."""
    o, ex = session.options, session.extra
    disc, disc_model, d_optim, percept = ex["d"], ex["d_model"], ex["d_optim"], ex["percept"]
    gen = session.step_generator(iteration)
    with session.autocast():
        batch = session.pairs.sample(o.batch, gen, iteration=iteration, total_iterations=o.iter)
    x, style, d_s, real = batch.student_input(), batch.style, batch.degree(), batch.y
    samples = ex.get("samples")
    if samples is not None:
        samples.keep(batch, iteration)
    cond = (batch.d_s.view(-1, 1).float(), batch.style_ids) if session.is_d else ()
    d_size = disc.size
    losses: dict[str, torch.Tensor] = {}

    # discriminator
    disc.requires_grad_(True)
    with session.autocast():
        with torch.no_grad():
            fake = session.model(x, style, d_s)
        real_pred = disc_model(_pool(real, d_size), *cond).float()
        fake_pred = disc_model(_pool(fake, d_size), *cond).float()
    d_loss = d_logistic_loss(real_pred, fake_pred) * o.adv_loss
    d_optim.zero_grad(set_to_none=True)
    d_loss.backward()
    d_optim.step()
    losses["d_adv"] = d_loss.detach()
    if o.r1 > 0 and iteration % o.d_reg_every == 0:  # float32: a gradient penalty needs the precision
        real_img = _pool(real.float(), d_size).detach().requires_grad_(True)
        r1 = r1_penalty(disc_model(real_img, *cond), real_img) * (o.r1 / 2)
        d_optim.zero_grad(set_to_none=True)
        (r1 * o.d_reg_every).backward()
        d_optim.step()
        losses["r1"] = r1.detach()

    # generator (encoder + fusion modules)
    disc.requires_grad_(False)
    with session.autocast():
        if session.is_d:
            fake, masks = session.model(x, style, d_s, return_mask=True)
        else:
            fake, masks = session.model(x, style, d_s), []
        fake_pred = disc(_pool(fake, d_size), *cond).float()  # D frozen: no DDP sync
        perc = None
        if percept is not None and o.perc_loss > 0:
            size = fake.shape[-1] // PERCEPTUAL_SHRINK
            perc = percept(_pool(fake, size), _pool(real, size)).float().sum() * o.perc_loss
        ramp = flicker_ramp(iteration, o.iter) * o.tmp_loss
        tmp = flicker_loss(session.model, batch, gen, fake=fake) * ramp if ramp > 0 else None
    g_adv = g_nonsaturating_loss(fake_pred) * o.adv_loss
    rec = F.mse_loss(fake.float(), real.float()) * o.grec_loss
    total = g_adv + rec
    losses["g_adv"], losses["rec"] = g_adv.detach(), rec.detach()
    if perc is not None:
        total = total + perc
        losses["perc"] = perc.detach()
    if session.is_d:
        msk = mask_loss([m.float() for m in masks], d_s) * o.msk_loss
        total = total + msk
        losses["msk"] = msk.detach()
    tmp = tmp if tmp is not None else total.new_zeros(())
    total = total + tmp
    losses["tmp"] = tmp.detach()
    session.g_optim.zero_grad(set_to_none=True)
    total.backward()
    session.g_optim.step()
    accumulate(session.ema, session.student, TRAINED_PARTS)
    if samples is not None:
        samples.write(session.ema, iteration + 1, session.autocast, lambda: first_batch(session))
    if session.is_d:  # VToonify-T has no structure degree: a logged 0 would only mislead
        losses["d_s"] = d_s  # the drawn float itself: a float32 tensor of 0.6 logs as 0.6000000238418579
    return losses


def first_batch(session: Session):
    """Iteration 1's batch on this process, made again from the seed (a resumed run's preview input:
    every random draw of step 0 comes from its own generator, so it is the batch the run started with)."""
    o = session.options
    with torch.no_grad(), session.autocast():
        return session.pairs.sample(o.batch, session.step_generator(0), iteration=0, total_iterations=o.iter)


def _load_pretrained(session: Session) -> None:
    """Encoder from ``pretrain.pt`` into student and EMA, then the fusion initialisation."""
    o = session.options
    path = Path(o.encoder_path) if o.encoder_path else session.layout.pretrain_path
    if not path.is_file():
        raise ModelFileError(
            f"pre-trained encoder not found: {path}",
            f"run `{engine_command('train', 'pretrain')}` with the same --out/--name first, or pass --encoder-path",
        )
    with named_by_flag("encoder_path"):
        state = load_pretrained_encoder(path)
    try:
        session.student.encoder.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{path} was pre-trained for another teacher ({str(exc).splitlines()[1].strip()[:160]})",
            "pre-train again with these teacher files",
        ) from None
    init_fusion(session.student, o.fusion_init_scale)
    session.ema.load_state_dict(session.student.state_dict())


def _resume_full(session: Session, path: str | Path) -> None:
    with named_by_flag("resume"):
        ckpt = load_training_checkpoint(path, "full", session.options.backbone)
    restore_gan_state(session, ckpt, path, "these teachers", "resume with the same teacher files it was trained with")
    session.continue_from(ckpt, path)


def full_payload(session: Session, done: int) -> dict:
    ex = session.extra
    return {
        "g_ema": session.ema.state_dict(),
        "g": session.student.state_dict(),
        "d": ex["d"].state_dict(),
        "g_optim": session.g_optim.state_dict(),
        "d_optim": ex["d_optim"].state_dict(),
        "iter": done,
    }


def prepare_full(options: TrainOptions, session: Session | None = None, cancel=None) -> Session:
    """Everything before the full stage's first step: D, optimisers, LPIPS, pre-trained encoder (or the
    resumed state), the output folder, DDP. ``full_step(session, i)`` can run after this."""
    session = session or open_session(options, cancel)
    ex = session.extra
    ex["d"] = build_discriminator(session)
    ex["d_optim"] = torch.optim.Adam(ex["d"].parameters(), lr=options.lr, betas=ADAM_BETAS)
    ex["percept"] = None
    if options.perc_loss > 0:  # TrainOptions already refused a weight without --perceptual-weights
        with named_by_flag("perceptual_weights"):
            ex["percept"] = load_perceptual_loss(options.perceptual_weights, session.device)
    if options.resume:
        _resume_full(session, options.resume)
    else:
        _load_pretrained(session)
    session.log.restart(session.start_iter)
    session.begin()
    if session.processes.main:
        ex["samples"] = SampleWriter(session.layout.family_dir, options.sample_every, session.start_iter,
                                     options.iter, session.log.warn)
    session.model = wrap_ddp(session.student, session.processes, session.device)
    ex["d_model"] = wrap_ddp(ex["d"], session.processes, session.device)
    session.student.train()
    return session


def run_full(options: TrainOptions, session: Session | None = None, cancel=None) -> Path:
    """Check and load everything, then run the full stage; returns the path of the final model."""
    session = prepare_full(options, session, cancel)
    final = session.layout.model_path
    session.run_loop("full", full_step, full_payload, final)
    session.log.note(f"trained model -> {final} (render with --models {options.out} --style {session.layout.style})")
    return final


def train(options: TrainOptions, cancel=None) -> Path:
    """``engine train``: run one stage; every user mistake is raised before the first step.

    ``cancel`` (a ``threading.Event``): once set, the run stops after the iteration in progress, saves a
    numbered checkpoint and raises JobCancelled naming it (see :meth:`Session.run_loop`).
    """
    if options.resume == "auto":
        resolved = resolve_auto_resume(options)
        if isinstance(resolved, Path):
            return resolved
        options = resolved
    together = False
    try:
        stage = run_pretrain if options.stage == "pretrain" else run_full
        final = stage(options, cancel=cancel)
        together = True
        return final
    except BaseException as exc:
        together = getattr(exc, "every_process", False)
        raise
    finally:
        close_processes(together)
