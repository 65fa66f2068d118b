"""What `engine render` and `engine models list` say about a style this studio has only partly trained.

Real runs on the 128-px tiny teachers (batch 1, 1-2 iterations): after `engine train pretrain` alone, and
after a `train full` stopped after its first iteration, the render names the file still missing (the one
the full stage then really writes) and the training command that writes it, never `models fetch` as the
fix (it cannot download a style trained here).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading

import pytest

import engine.train.trainer as trainer_module
from engine.cli import main
from engine.commands import engine_command
from engine.errors import EXIT_USER_ERROR, JobCancelled
from engine.models.inventory import scan_models
from engine.train.options import TrainOptions
from engine.train.trainer import train

MODEL = "vtoonify_s_d0.5_c.pt"  # --fix-degree --style-degree 0.5, colour transfer: not the official default name


def _d_flags(t, models) -> list[str]:
    return [str(a) for a in ["--backbone", "dualstylegan", "--stylegan-path", t.dualstylegan, "--faceparsing-path",
                             t.faceparsing, "--exstyle-path", t.exstyle, "--style-encoder-path", t.encoder,
                             "--out", models, "--name", "mystyle", "--batch", 1, "--device", "cpu", "--no-progress",
                             "--fix-degree", "--style-degree", 0.5]]


def _quiet(argv: list[str]) -> int:
    with contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def _render(capsys, media_dir, models, out, style, *flags) -> tuple[int, str, list[dict]]:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "1", "--models", str(models),
                 "--style", style, "--device", "cpu", "--padding", "32", *flags])
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return code, captured.err, events


def _stop_full_after_first_iteration(t, models, monkeypatch) -> JobCancelled:
    """`engine train full --iter 2` asked to stop (as Ctrl-C / SIGTERM do) once iteration 1 ran."""
    cancel = threading.Event()
    real_step = trainer_module.full_step

    def step(session, i):
        values = real_step(session, i)
        cancel.set()
        return values

    monkeypatch.setattr(trainer_module, "full_step", step)
    options = TrainOptions(stage="full", backbone="dualstylegan", stylegan_path=str(t.dualstylegan),
                           faceparsing_path=str(t.faceparsing), exstyle_path=str(t.exstyle),
                           style_encoder_path=str(t.encoder), out=str(models), name="mystyle", iter=2, batch=1,
                           device="cpu", progress=False, fix_degree=True, style_degree=0.5, perc_loss=0.0)
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(JobCancelled) as info:
        train(options, cancel=cancel)
    monkeypatch.setattr(trainer_module, "full_step", real_step)
    return info.value


@pytest.mark.slow
def test_partly_trained_style_names_the_missing_file_and_the_training_step(tiny_teachers_128, media_dir, tmp_path,
                                                                          capsys, monkeypatch):
    t, models = tiny_teachers_128, tmp_path / "models"
    assert _quiet(["train", "pretrain", *_d_flags(t, models), "--iter", "1"]) == 0

    # pretrain only: the strict render refuses with the full stage's file and command
    code, err, _ = _render(capsys, media_dir, models, tmp_path / "a", "mystyle", "--backend", "vtoonify")
    assert code == EXIT_USER_ERROR
    assert f"style 'mystyle' (dualstylegan) has no model to render yet: `engine train` wrote only pretrain.pt in " \
           f"{models / 'vtoonify_d_mystyle'}, not {MODEL}" in err
    assert f"run `{engine_command('train', 'full')} --backbone dualstylegan --stylegan-path" in err
    assert "--fix-degree --style-degree 0.5" in err and "(the pre-training run's own flags, from pretrain.pt)" in err
    assert "docs/TRAINING.md" in err
    assert f"run `{engine_command('models', 'fetch')}" not in err and "only downloads the official styles" in err
    # the default backend says the same in its fall-back warning, and renders classic
    code, _, events = _render(capsys, media_dir, models, tmp_path / "b", "mystyle", "--json-progress")
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert code == 0 and [e for e in events if e["event"] == "job_done"][-1]["result"]["backend"] == "classic"
    assert len(warnings) == 1 and f"not {MODEL}" in warnings[0] and "engine train full" in warnings[0]
    assert f"run `{engine_command('models', 'fetch')}" not in warnings[0]
    assert main(["models", "list", "--models", str(models)]) == 0
    listing = capsys.readouterr().out
    assert f"mystyle       dualstylegan  missing vtoonify_d_mystyle/{MODEL}\n" in listing
    assert f"-> run `{engine_command('train', 'full')} --backbone dualstylegan --stylegan-path" in listing

    # a stopped full stage: its stop save is no model; the fix is to resume
    stopped = _stop_full_after_first_iteration(t, models, monkeypatch)
    assert MODEL.replace(".pt", "_00001.pt") in stopped.user_message
    code, err, _ = _render(capsys, media_dir, models, tmp_path / "c", "mystyle", "--backend", "vtoonify")
    assert code == EXIT_USER_ERROR and f"not {MODEL}" in err and MODEL.replace(".pt", "_00001.pt") in err
    assert "`engine train full` stopped before its last iteration: run the same command plus `--resume auto`" in err

    # following that advice writes exactly the file the messages named, and the style is ready
    assert _quiet(["train", "full", *_d_flags(t, models), "--iter", "2", "--perc-loss", "0",
                   "--resume", "auto"]) == 0
    family = scan_models(models).family("mystyle", "dualstylegan")
    assert family.usable and [c.relpath for c in family.checkpoints] == [f"vtoonify_d_mystyle/{MODEL}"]


def test_pretrained_toonify_style_is_named_as_toonify_under_backbone_auto(tiny_teachers_128, media_dir, tmp_path,
                                                                         capsys):
    t, models = tiny_teachers_128, tmp_path / "models"
    assert _quiet([str(a) for a in ["train", "pretrain", "--backbone", "toonify", "--stylegan-path", t.ffhq,
                                    "--finetunegan-path", t.finetune, "--faceparsing-path", t.faceparsing,
                                    "--out", models, "--name", "mytoon", "--iter", 1, "--batch", 1, "--device",
                                    "cpu", "--no-progress"]]) == 0
    code, err, _ = _render(capsys, media_dir, models, tmp_path / "a", "mytoon", "--backend", "vtoonify")
    assert code == EXIT_USER_ERROR
    assert "style 'mytoon' (toonify) has no model to render yet" in err and "not vtoonify.pt" in err
    assert "unknown style family" not in err
