"""Stage 1: encoder pre-training (paper Eq. 1 for VToonify-T, Eq. 8 for VToonify-D).

The encoder's last feature (and its RGB skip) must match the teacher's input to the layers the student
keeps, the feature after its 32x32 block: ``L_E = |f_E(x) - f_G(w)|^2 + |skip_E - skip_G|^2`` (MSE, as
``train_vtoonify_*.py``). For D the encoder is conditioned on the exemplar code and ``d_s`` through the
(frozen) ModRes blocks. Only the encoder trains; EMA as official. Output: ``OUT/NAME/pretrain.pt`` with
``g_ema`` = the EMA encoder's state dict (what the official ``full`` stage loads), plus ``g``, the
optimiser state and the iteration for ``--resume``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from engine.train.checkpoint import check_finite_gan_state, load_training_checkpoint
from engine.train.files import named_by_flag
from engine.train.options import TrainOptions
from engine.train.session import Session, open_session, wrap_ddp
from engine.train.student import accumulate


def pretrain_step(session: Session, iteration: int) -> dict[str, torch.Tensor]:
    """One optimisation step of Eq. 1 / 8; returns the (unweighted) loss ``emse``."""
    o = session.options
    with session.autocast():
        batch = session.pairs.sample(o.batch, session.step_generator(iteration), iteration=iteration,
                                     total_iterations=o.iter)
        style = batch.style if session.is_d else None  # the T encoder has no style input
        feat, skip = session.model(batch.student_input(), style, batch.degree(), return_feat=True)
    loss = F.mse_loss(feat.float(), batch.feat.float()) + F.mse_loss(skip.float(), batch.skip.float())
    session.g_optim.zero_grad(set_to_none=True)
    loss.backward()
    session.g_optim.step()
    accumulate(session.ema, session.student, ("encoder",))
    return {"emse": loss.detach()}


def resume_pretrain(session: Session, path: str | Path) -> None:
    """Encoder, EMA and optimiser from ``path``; NaN/Inf states are refused as in the full stage (a
    diverged save would otherwise train NaN steps and replace ``pretrain.pt`` with them)."""
    with named_by_flag("resume"):
        ckpt = load_training_checkpoint(path, "pretrain", session.options.backbone)
    check_finite_gan_state(ckpt, path)
    _load_encoder_states(session, ckpt, path)
    session.g_optim.load_state_dict(ckpt["g_optim"])
    session.continue_from(ckpt, path)


def _load_encoder_states(session: Session, ckpt: dict, path) -> None:
    from engine.errors import ModelFileError

    try:
        session.student.encoder.load_state_dict(ckpt["g"])
        session.ema.encoder.load_state_dict(ckpt["g_ema"])
    except RuntimeError as exc:
        raise ModelFileError(
            f"{path} does not fit this teacher's student ({str(exc).splitlines()[1].strip()[:160]})",
            "resume with the same teacher files it was trained with",
        ) from None


def encoder_payload(session: Session, done: int) -> dict:
    return {
        "g_ema": session.ema.encoder.state_dict(),
        "g": session.student.encoder.state_dict(),
        "g_optim": session.g_optim.state_dict(),
        "iter": done,
    }


def prepare_pretrain(options: TrainOptions, session: Session | None = None, cancel=None) -> Session:
    """Everything before the first pre-training step (``pretrain_step(session, i)`` can run after it)."""
    session = session or open_session(options, cancel)
    if options.resume:
        resume_pretrain(session, options.resume)
    session.log.restart(session.start_iter)
    session.begin()
    session.model = wrap_ddp(session.student, session.processes, session.device)
    session.student.train()
    return session


def run_pretrain(options: TrainOptions, session: Session | None = None, cancel=None) -> Path:
    """Check and load everything, then pre-train; returns the path of ``pretrain.pt``."""
    session = prepare_pretrain(options, session, cancel)
    final = session.layout.pretrain_path
    session.run_loop("pretrain", pretrain_step, encoder_payload, final)
    from engine.commands import engine_command

    session.log.note(f"pre-trained encoder -> {final} (not a model to render yet; next: "
                     f"`{engine_command('train', 'full')}` with the same flags)")
    return final
