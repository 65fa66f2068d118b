"""The student VToonify built around a teacher, its fusion initialisation, and the EMA copy.

The student is the renderer's own ``engine.models.vtoonify.VToonify`` (nothing duplicated): its
``generator`` is the teacher (DualStyleGAN for D, the blended StyleGAN G1 for T) and stays frozen, as
do the D ModRes blocks ``res`` (copied from the DualStyleGAN's, official ``train_vtoonify_d.py``).
Only ``encoder``, ``fusion_out`` and ``fusion_skip`` train.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from engine.models import build_model
from engine.models.vtoonify import VToonify

EMA_DECAY = 0.5 ** (32 / (10 * 1000))
"""Official ``accum``: half-life of 10k images at batch 32."""
TRAINED_PARTS = ("encoder", "fusion_out", "fusion_skip")


def official_init(module: nn.Module) -> None:
    """``util.weights_init`` of the official code: He-normal conv/linear weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_student(teachers) -> VToonify:
    """VToonify around ``teachers.generator`` (input side = teacher size / 4, as 256 -> 1024).

    ``teachers`` is a :class:`engine.train.teachers.TeacherSet` (sizes and widths already checked there).
    """
    student = build_model(teachers.student_config())
    official_init(student.encoder)
    official_init(student.fusion_out)
    official_init(student.fusion_skip)
    student.generator.load_state_dict(teachers.generator.state_dict())
    if student.backbone == "dualstylegan":
        for i, block in enumerate(student.res):  # dilated copies of the teacher's ModRes blocks
            block.load_state_dict(teachers.generator.res[i].state_dict())
    freeze_teacher_parts(student)
    return student.to(teachers.device)


def freeze_teacher_parts(student: VToonify) -> None:
    student.generator.requires_grad_(False)
    if student.backbone == "dualstylegan":
        student.res.requires_grad_(False)


def trained_parameters(student: VToonify, stage: str) -> list[nn.Parameter]:
    """Pretrain: the encoder only; full: encoder and fusion modules (official ``g_parameters``)."""
    params = list(student.encoder.parameters())
    if stage == "full":
        params += list(student.fusion_out.parameters()) + list(student.fusion_skip.parameters())
    return params


@torch.no_grad()
def init_fusion(student: VToonify, encoder_scale: float = 0.0) -> None:
    """Make every fusion map ``f_G (x) f_E -> f_G`` (paper 4.1.2): the half of each fusion kernel that
    reads the generator feature (and the RGB skip) is the identity at the centre tap, the half that
    reads ``f_E`` is ``encoder_scale`` times its random init, biases are 0.

    Departure: the official scripts scale the whole kernel by 0.01 and add the identity, which leaves
    1 % noise on the f_G half too; with ``encoder_scale=0`` the student reproduces the teacher exactly.
    """
    for k, fusion in enumerate(student.fusion_out):
        conv = fusion.conv if student.backbone == "dualstylegan" else fusion
        _identity_on_first(conv, encoder_scale)
        _identity_on_first(student.fusion_skip[k], encoder_scale)


def _identity_on_first(conv: nn.Conv2d, scale: float) -> None:
    out_ch, in_ch, kh, kw = conv.weight.shape
    if in_ch < out_ch or kh % 2 == 0:
        raise ValueError(f"cannot make {conv} an identity on its first {out_ch} inputs")
    weight = conv.weight
    weight[:, out_ch:] *= scale
    weight[:, :out_ch] = 0
    weight[:, :out_ch, kh // 2, kw // 2] = torch.eye(out_ch, dtype=weight.dtype, device=weight.device)
    if conv.bias is not None:
        conv.bias.zero_()


def make_ema(student: VToonify) -> VToonify:
    """A frozen copy for the exponential moving average (official ``g_ema``), in eval mode."""
    ema = copy.deepcopy(student).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def accumulate(ema: VToonify, student: VToonify, parts: tuple[str, ...], decay: float = EMA_DECAY) -> None:
    """``ema = decay * ema + (1 - decay) * student`` for the parameters of ``parts`` (official ``accumulate``)."""
    for part in parts:
        target = dict(getattr(ema, part).named_parameters())
        for name, p in getattr(student, part).named_parameters():
            target[name].mul_(decay).add_(p.detach(), alpha=1 - decay)

