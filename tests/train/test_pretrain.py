"""Student construction and fusion initialisation (paper 4.1.2): after initialisation, the student fed the
teacher's own 32x32 feature reproduces the teacher image (noise off); and one encoder pre-training step."""

from __future__ import annotations

import pytest
import torch
from log_records import untimed

from engine.train.pairs import PairGenerator, zero_noise
from engine.train.student import build_student, init_fusion, trained_parameters
from engine.train.teachers import load_teachers

D_S = 0.6


def _teacher_and_student(tiny_teachers, backbone: str, encoder_scale: float):
    kwargs = tiny_teachers.d_kwargs() if backbone == "dualstylegan" else tiny_teachers.t_kwargs()
    teachers = load_teachers(backbone, **kwargs)
    torch.manual_seed(3)
    student = build_student(teachers).eval()
    init_fusion(student, encoder_scale)
    return teachers, student


def _teacher_run(teachers, w, style):
    """Teacher image and its (feature, skip) after the 32x32 block, both with zero noise."""
    g = teachers.generator
    noise = zero_noise(teachers.stylegan(), w.shape[0], "cpu")
    if teachers.backbone == "dualstylegan":
        weights = [D_S] * 7 + [1.0] * (teachers.n_latent - 7)
        kwargs = dict(input_is_latent=True, noise=noise, use_res=True, interp_weights=weights,
                      truncation=0.5, truncation_latent=0)
        image, _ = g([w], style, **kwargs)
        return image, g([w], style, return_feat=True, **kwargs)
    image, _ = g([style], input_is_latent=True, noise=noise)
    return image, g([style], input_is_latent=True, noise=noise, return_feature_ind=6)


def _student_with_feature(student, x, style, feature):
    """Run the student with its encoder output replaced by ``feature`` = (feat, skip) at 32x32."""
    feat, skip = feature
    last = student.res[-1] if student.backbone == "dualstylegan" else student.encoder[-2][-1]
    hooks = [last.register_forward_hook(lambda m, i, o: feat),
             student.encoder[-1].register_forward_hook(lambda m, i, o: skip)]
    try:
        return student(x, style, D_S)
    finally:
        for h in hooks:
            h.remove()


@pytest.mark.parametrize("backbone", ["dualstylegan", "toonify"])
def test_initialised_student_reproduces_teacher_from_its_32px_feature(tiny_teachers, backbone):
    teachers, student = _teacher_and_student(tiny_teachers, backbone, encoder_scale=0.0)
    gen = torch.Generator().manual_seed(11)
    w = teachers.stylegan().style(torch.randn(2, teachers.style_dim, generator=gen))
    w = w.unsqueeze(1).repeat(1, teachers.n_latent, 1)
    style = teachers.exstyles[[1, 4]] if backbone == "dualstylegan" else w * 0.5
    x = torch.randn(2, 22, teachers.size // 4, teachers.size // 4, generator=gen)  # any frame: f_E must not leak
    with torch.no_grad():
        image, feature = _teacher_run(teachers, w, style)
        out = _student_with_feature(student, x, style, feature)
        assert feature[0].shape[-1] == 32 and out.shape == image.shape == (2, 3, teachers.size, teachers.size)
        assert (out - image).abs().max().item() < 1e-4
        assert image.std() > 0.1  # a real image, not a constant

        # the official init (kernel * 0.01 + identity) leaks f_E: the exactness above is not trivial
        _, official = _teacher_and_student(tiny_teachers, backbone, encoder_scale=0.01)
        official_out = _student_with_feature(official, x, style, feature)
        assert (official_out - image).abs().max().item() > 1e-3


def test_student_trains_only_encoder_and_fusion(tiny_teachers):
    teachers, student = _teacher_and_student(tiny_teachers, "dualstylegan", 0.0)
    assert not any(p.requires_grad for p in student.generator.parameters())
    assert not any(p.requires_grad for p in student.res.parameters())
    pre = {id(p) for p in trained_parameters(student, "pretrain")}
    full = {id(p) for p in trained_parameters(student, "full")}
    assert pre == {id(p) for p in student.encoder.parameters()}
    assert full == pre | {id(p) for p in student.fusion_out.parameters()} | {
        id(p) for p in student.fusion_skip.parameters()}
    # the D ModRes blocks are the teacher's (dilated copies)
    for i, block in enumerate(student.res):
        for (name, p), q in zip(block.state_dict().items(), teachers.generator.res[i].state_dict().values()):
            assert torch.equal(p, q), name


def test_pretrain_target_matches_student_feature_shape(tiny_teachers):
    teachers, student = _teacher_and_student(tiny_teachers, "dualstylegan", 0.0)
    pairs = PairGenerator(teachers, stage="pretrain", fix_style=True, style_id=2, fix_degree=True, style_degree=0.5)
    batch = pairs.sample(2, torch.Generator().manual_seed(0), iteration=0, total_iterations=4)
    feat, skip = student(batch.student_input(), batch.style, batch.degree(), return_feat=True)
    assert feat.shape == batch.feat.shape and skip.shape == batch.skip.shape


def test_pretrain_resume_repeats_the_next_step(tiny_teachers, tmp_path):
    import contextlib
    import io

    from engine.cli import main

    def run(out, *extra):
        common = ["train", "pretrain", "--backbone", "toonify", "--stylegan-path", tiny_teachers.ffhq,
                  "--finetunegan-path", tiny_teachers.finetune, "--faceparsing-path", tiny_teachers.faceparsing,
                  "--out", out, "--name", "t", "--iter", 2, "--batch", 1, "--seed", 3, "--lr", 1e-3,
                  "--log-every", 1, "--json-log", "--no-progress", *extra]
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            assert main([str(a) for a in common]) == 0
        return [untimed(line) for line in text.getvalue().splitlines() if '"iter"' in line]

    first = run(tmp_path / "a", "--save-every", 1)
    saved = tmp_path / "a" / "vtoonify_t_t" / "pretrain-00001.pt"
    again = run(tmp_path / "b", "--resume", saved)
    assert [r["iter"] for r in first] == [1, 2] and [r["iter"] for r in again] == [2]
    assert again[0] == first[1]
    a = torch.load(tmp_path / "a" / "vtoonify_t_t" / "pretrain.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "vtoonify_t_t" / "pretrain.pt", weights_only=True)
    assert a["iter"] == b["iter"] == 2
    assert all(torch.equal(a["g_ema"][k], b["g_ema"][k]) for k in a["g_ema"])


def test_pretrain_resume_from_a_diverged_checkpoint_is_refused(tiny_teachers_128, tmp_path, capsys):
    # Before: only the full stage checked; a pretrain save holding NaN resumed, trained NaN steps, exit 0,
    # and replaced pretrain.pt with NaN weights.
    from engine.cli import main

    files = tiny_teachers_128

    def argv(out, *extra):
        return [str(a) for a in ["train", "pretrain", "--backbone", "toonify", "--stylegan-path", files.ffhq,
                                 "--finetunegan-path", files.finetune, "--faceparsing-path", files.faceparsing,
                                 "--out", out, "--name", "t", "--iter", 2, "--batch", 1, "--no-progress", *extra]]

    assert main(argv(tmp_path / "a", "--save-every", 1)) == 0
    saved = tmp_path / "a" / "vtoonify_t_t" / "pretrain-00001.pt"
    ckpt = torch.load(saved, weights_only=True)
    first = next(iter(ckpt["g"]))
    ckpt["g"][first].view(-1)[0] = float("nan")
    torch.save(ckpt, saved)
    final = tmp_path / "a" / "vtoonify_t_t" / "pretrain.pt"
    before = final.read_bytes()
    capsys.readouterr()
    assert main(argv(tmp_path / "a", "--resume", saved)) == 2
    err = capsys.readouterr().err
    assert f"{saved}: its g entry holds NaN or infinite values in {first}" in err
    assert final.read_bytes() == before
