"""The checkpoint saved when a run is stopped (Ctrl-C / SIGTERM) replaces nothing, and `--resume` /
`--overwrite` replace only files this trainer wrote; `--precision auto` is recorded as it ran and a
resume on a machine where `auto` resolves otherwise follows the documented rule.

Real pre-training runs on the 128-px tiny teachers (batch 1, 2-3 iterations each): the stop is the real
cancel event, set by a wrapper around the real step after iteration 2."""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import engine.models.precision as precision_module
import engine.train.pretrain as pretrain_module
from engine.errors import ConfigError, JobCancelled, OutputError
from engine.io.atomic import TargetExistsError, atomic_path
from engine.train.checkpoint import FORMAT, save_checkpoint, save_stop_checkpoint
from engine.train.options import TrainOptions
from engine.train.trainer import train

NAME = "vtoonify_d_stop"


def _options(files, out: Path, **changes) -> TrainOptions:
    base = TrainOptions(
        stage="pretrain", backbone="dualstylegan", stylegan_path=str(files.dualstylegan),
        faceparsing_path=str(files.faceparsing), exstyle_path=str(files.exstyle),
        direction_path=str(files.directions), out=str(out), name=NAME, iter=3, batch=1, lr=1e-3, seed=7,
        device="cpu", progress=False,
    )
    return replace(base, **changes)


def _quiet_train(options: TrainOptions, cancel=None) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        train(options, cancel=cancel)
    return err.getvalue()


def _stopped_after(options: TrainOptions, iterations: int, monkeypatch) -> tuple[JobCancelled, str]:
    """Run ``options`` and ask it to stop once ``iterations`` steps ran (as SIGTERM does)."""
    cancel = threading.Event()
    real_step = pretrain_module.pretrain_step

    def step(session, i):
        values = real_step(session, i)
        if i + 1 == iterations:
            cancel.set()
        return values

    monkeypatch.setattr(pretrain_module, "pretrain_step", step)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(JobCancelled) as info:
        train(options, cancel=cancel)
    monkeypatch.setattr(pretrain_module, "pretrain_step", real_step)
    return info.value, err.getvalue()


def _signature(path: Path) -> tuple:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def periodic(tiny_teachers_128, tmp_path_factory):
    """An uninterrupted 3-iteration run that saved ``pretrain-00002.pt`` on its --save-every schedule."""
    out = tmp_path_factory.mktemp("periodic") / "models"
    _quiet_train(_options(tiny_teachers_128, out, save_every=2))
    return out


@pytest.mark.slow
def test_stop_at_an_iteration_whose_checkpoint_holds_the_same_state_keeps_that_file(
        periodic, tiny_teachers_128, tmp_path, monkeypatch):
    out = tmp_path / "models"
    family = out / NAME
    family.mkdir(parents=True)
    kept = family / "pretrain-00002.pt"
    kept.write_bytes((periodic / NAME / "pretrain-00002.pt").read_bytes())  # same command, run before
    before = _signature(kept)
    stop, err = _stopped_after(_options(tiny_teachers_128, out, overwrite=True), 2, monkeypatch)
    # nothing was written, so the message says the state is in that file, never "saved"
    assert stop.message.endswith(f"; its state is already in {kept} (kept, nothing written)"), stop.message
    assert "saved" not in stop.message and f"--resume {kept}" in stop.fix
    # starting afresh beside an earlier run's checkpoint is said once, with the --resume that continues it
    assert err.count("warning:") == 1 and f"add --resume {kept}" in err, err
    # without a bar or --json-log, each logged iteration (the first, then every --log-every) is one line
    assert "pretrain: iterations 1-3, batch 1, cpu, fp32 -> " in err and "pretrain iteration 1/3  emse " in err
    assert _signature(kept) == before  # not rewritten: it already holds this state
    assert sorted(p.name for p in family.iterdir()) == ["exstyle_code.npy", "pretrain-00002.pt"]


@pytest.mark.slow
@pytest.mark.parametrize("occupant", ["foreign", "other_state"])
def test_stop_never_replaces_another_file_and_its_state_resumes_exactly(
        occupant, periodic, tiny_teachers_128, tmp_path, monkeypatch):
    out = tmp_path / "models"
    family = out / NAME
    family.mkdir(parents=True)
    taken = family / "pretrain-00002.pt"
    if occupant == "foreign":
        taken.write_bytes(b"a lighter's notes, not a checkpoint")
    else:  # a checkpoint of this trainer at the same iteration, but another state (another run)
        other = torch.load(periodic / NAME / "pretrain-00002.pt", weights_only=True)
        first = next(iter(other["g"]))
        other["g"][first] = other["g"][first] + 1
        torch.save(other, taken)
    before = _signature(taken)
    stop, err = _stopped_after(_options(tiny_teachers_128, out, overwrite=True), 2, monkeypatch)
    assert ("earlier run" in err) == (occupant == "other_state"), err  # only the trainer's files count
    saved = family / "pretrain-00002_stopped.pt"
    assert f"saved {saved}" in stop.message and f"--resume {saved}" in stop.fix
    assert _signature(taken) == before
    assert not _hidden(family)  # no temp left behind
    state = torch.load(saved, weights_only=True)
    assert state["format"] == FORMAT and state["iter"] == 2

    # a farm retry runs the same command with --resume auto: it finds the stop save (the foreign file and
    # the other state's pretrain-00002.pt, older, are not taken)
    err = _quiet_train(_options(tiny_teachers_128, out, resume="auto"))
    assert f"--resume auto: continuing from {saved} (iteration 2)" in err, err
    resumed = torch.load(family / "pretrain.pt", weights_only=True)
    reference = torch.load(periodic / NAME / "pretrain.pt", weights_only=True)
    assert resumed["iter"] == 3
    for part in ("g", "g_ema"):
        assert all(torch.equal(reference[part][k], resumed[part][k]) for k in reference[part]), part
    # retried once more: the run is complete, nothing loads, nothing is written
    before = _signature(family / "pretrain.pt")
    monkeypatch.setattr("engine.train.session.load_teachers", _never_called)
    err = _quiet_train(_options(tiny_teachers_128, out, resume="auto"))
    assert "already holds 3 iterations (--iter 3); nothing to do" in err, err
    assert _signature(family / "pretrain.pt") == before


def _never_called(*args, **kwargs):
    raise AssertionError("nothing should load")


def test_resume_and_overwrite_never_replace_a_file_the_trainer_did_not_write(tiny_teachers_128, tmp_path):
    out = tmp_path / "models"
    family = out / NAME
    family.mkdir(parents=True)
    official = family / "pretrain.pt"
    torch.save({"g_ema": {"0.0.weight": torch.zeros(1)}}, official)  # e.g. an official pretrain file
    before = _signature(official)
    with pytest.raises(OutputError, match="did not write") as info:
        _quiet_train(_options(tiny_teachers_128, out, overwrite=True))
    assert "pretrain.pt" in info.value.message and "--name" in info.value.fix
    assert _signature(official) == before
    assert sorted(p.name for p in family.iterdir()) == ["pretrain.pt"]  # refused before anything was written
    elsewhere = tmp_path / "target"
    elsewhere.write_bytes(b"keep")
    official.unlink()
    official.symlink_to(elsewhere)
    with pytest.raises(OutputError, match="a link"):
        _quiet_train(_options(tiny_teachers_128, out, overwrite=True))
    assert official.is_symlink() and elsewhere.read_bytes() == b"keep"


def test_stop_checkpoint_rename_refuses_a_name_taken_meanwhile(tmp_path, monkeypatch):
    """The last step is a rename that fails on a taken name (no check-then-replace race)."""
    target = tmp_path / "vtoonify_00004.pt"
    with pytest.raises(TargetExistsError), atomic_path(target, replace=False) as tmp:
        tmp.write_bytes(b"new state")
        target.write_bytes(b"appeared meanwhile")
    assert target.read_bytes() == b"appeared meanwhile" and sorted(p.name for p in tmp_path.iterdir()) == [
        target.name]

    state = {"stage": "pretrain", "backbone": "toonify", "g_ema": {"a": torch.ones(2)}, "g": {"a": torch.ones(2)},
             "g_optim": {}, "iter": 4}
    save_checkpoint(target.with_name("vtoonify_00004_stopped.pt"), {**state, "iter": 3})
    path, written = save_stop_checkpoint(target, state)  # both names taken by other states: the next free one
    assert written and path.name == "vtoonify_00004_stopped2.pt"
    assert torch.load(path, weights_only=True)["iter"] == 4
    assert save_stop_checkpoint(target, state) == (path, False)  # the same state again: kept, nothing new
    assert len(list(tmp_path.iterdir())) == 3


# --- precision -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_auto_precision_is_recorded_as_it_ran_and_a_resume_follows_it(tiny_teachers_128, tmp_path, monkeypatch):
    out = tmp_path / "models"
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: True)  # the training machine
    err = _quiet_train(_options(tiny_teachers_128, out, iter=1, precision="auto", resume="auto"))
    assert "--resume auto: no checkpoint of this run" in err, err  # a first try starts at 0
    first = torch.load(out / NAME / "pretrain.pt", weights_only=True)
    assert first["precision"] == "bf16" and first["options"]["precision"] == "auto"

    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: False)  # the resuming machine
    resume = str(out / NAME / "pretrain.pt")
    err = _quiet_train(_options(tiny_teachers_128, tmp_path / "a", iter=2, precision="auto", resume=resume))
    assert torch.load(tmp_path / "a" / NAME / "pretrain.pt", weights_only=True)["precision"] == "bf16"
    warnings = [line for line in err.splitlines() if line.startswith("warning:") and "toward --iter 1" not in line]
    assert len(warnings) == 1 and "in bf16, the precision it was trained in" in warnings[0], err
    assert "--precision fp32 to switch" in warnings[0]
    assert "pretrain: iterations 2-2, batch 1, cpu, bf16 (--precision auto)" in err, err  # what runs, up front

    err = _quiet_train(_options(tiny_teachers_128, tmp_path / "b", iter=2, precision="fp32", resume=resume))
    assert torch.load(tmp_path / "b" / NAME / "pretrain.pt", weights_only=True)["precision"] == "fp32"
    assert "trained in bf16, in fp32 (--precision fp32)" in err and "will not repeat" in err


def test_help_names_the_workflow_and_the_real_perceptual_rule(capsys):
    from engine.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert info.value.code == 0
    assert "required unless --perc-loss 0" in text and "without it the perceptual term is off" not in text
    assert "render clip.mp4 -o out --models models --style mystyle" in text and "--resume" in text
    assert "W W W" in text and "WEIGHT WEIGHT" not in text


def test_a_resume_file_of_the_wrong_stage_or_already_done_is_refused_before_the_teachers_load(
        tiny_teachers_128, tmp_path, monkeypatch):
    import engine.train.session as session_module
    from engine.errors import ConfigError, ModelFileError

    def no_loading(*args, **kwargs):
        raise AssertionError("the teachers were loaded before the --resume file was checked")

    monkeypatch.setattr(session_module, "load_teachers", no_loading)
    pre = tmp_path / "pretrain.pt"
    save_checkpoint(pre, {"stage": "pretrain", "backbone": "dualstylegan", "g_ema": {}, "g": {}, "g_optim": {},
                          "iter": 3})
    full = _options(tiny_teachers_128, tmp_path / "m", stage="full", perc_loss=0.0,
                    style_encoder_path=str(tiny_teachers_128.encoder), resume=str(pre))
    with pytest.raises(ModelFileError, match="not a 'full' one") as info:
        train(full)
    assert "drop --resume" in info.value.fix and "--encoder-path" in info.value.fix
    with pytest.raises(ConfigError, match="already holds 3 iterations"):
        train(_options(tiny_teachers_128, tmp_path / "m", resume=str(pre)))
    assert not (tmp_path / "m").exists()


def test_resume_auto_past_a_lowered_iter_without_the_final_file_is_no_finished_run(tiny_teachers_128, tmp_path,
                                                                                     monkeypatch):
    # Before: a stop save at 2 and `--resume auto --iter 1` said "nothing to do" (exit 0) and left the
    # family without pretrain.pt, so `models list` showed it missing its file.
    from engine.errors import ConfigError

    out = tmp_path / "models"
    _stopped_after(_options(tiny_teachers_128, out), 2, monkeypatch)
    final = out / NAME / "pretrain.pt"
    assert not final.exists()
    with pytest.raises(ConfigError, match="holds 2 iterations, more than --iter 1") as info:
        _quiet_train(_options(tiny_teachers_128, out, iter=1, resume="auto"))
    assert "--iter 3 or more" in info.value.fix
    assert not final.exists()
    _quiet_train(_options(tiny_teachers_128, out, resume="auto"))  # --iter 3: continues and finishes
    assert final.is_file()
    err = _quiet_train(_options(tiny_teachers_128, out, iter=2, resume="auto"))  # final there: nothing to do
    assert "nothing to do" in err


def test_a_run_whose_losses_turn_nan_stops_before_saving_them(tiny_teachers_128, tmp_path, monkeypatch):
    """Losses that turn NaN mid-run (a step too large for the data) end the run with exit 2 before
    anything of that iteration is saved: it went on to write NaN checkpoints and a NaN final model with
    exit 0. The save made before the divergence stays, and continues the run."""
    real_step = pretrain_module.pretrain_step

    def step(session, i):
        values = real_step(session, i)
        return {**values, "emse": float("nan")} if i + 1 == 3 else values

    monkeypatch.setattr(pretrain_module, "pretrain_step", step)
    out = tmp_path / "models"
    with pytest.raises(ConfigError, match="training diverged at iteration 3: emse = nan") as info:
        _quiet_train(_options(tiny_teachers_128, out, iter=4, save_every=2))
    assert "--resume auto" in info.value.fix and "lower --lr" in info.value.fix
    assert sorted(p.name for p in (out / NAME).glob("*.pt")) == ["pretrain-00002.pt"]  # no NaN save, no final
    monkeypatch.setattr(pretrain_module, "pretrain_step", real_step)
    _quiet_train(_options(tiny_teachers_128, out, iter=4, save_every=2, resume="auto"))
    assert (out / NAME / "pretrain.pt").is_file()


def test_resuming_with_another_iter_says_the_schedules_change(periodic, tiny_teachers_128, tmp_path):
    """The degree/colour-jitter schedule and the flicker ramp are fractions of --iter: extending a run
    (--iter 3 -> 5) moves them back, which was not said (--iter is no recipe option)."""
    out = tmp_path / "models"
    (out / NAME).mkdir(parents=True)
    kept = out / NAME / "pretrain-00002.pt"
    kept.write_bytes((periodic / NAME / "pretrain-00002.pt").read_bytes())
    err = _quiet_train(_options(tiny_teachers_128, out, iter=4, resume=str(kept)))
    assert "trained toward --iter 3, with --iter 4" in err and "the d_s schedule" in err, err
    assert "flicker" not in err and "colour" not in err, err  # pre-training has neither
    assert (out / NAME / "pretrain.pt").is_file()


def test_resuming_with_another_iter_warns_only_where_a_schedule_follows_it(tiny_teachers_128, tmp_path):
    """VToonify-T pre-training has no schedule (no d_s, no colour jitter, no flicker term): a resume
    with another --iter repeats an uninterrupted run, so it gets no warning; a T full stage names only
    the flicker ramp."""
    files, out = tiny_teachers_128, tmp_path / "models"
    t = replace(_options(files, out, iter=2), backbone="toonify", stylegan_path=str(files.ffhq),
                finetunegan_path=str(files.finetune), exstyle_path=None, name="vtoonify_t_stop")
    _quiet_train(t)
    err = _quiet_train(replace(t, iter=3, resume=str(out / "vtoonify_t_stop" / "pretrain.pt")))
    assert "trained toward" not in err, err
    from engine.train.session import iter_schedules

    assert iter_schedules(replace(t, stage="full", style_encoder_path="e.pt", perc_loss=0)) == ["the flicker-loss ramp"]
    d_full = replace(_options(files, out), stage="full", style_encoder_path="e.pt", perc_loss=0)
    assert iter_schedules(d_full) == ["the colour jitter", "the flicker-loss ramp"]
    assert iter_schedules(replace(d_full, fix_color=True, tmp_loss=0)) == []
    assert iter_schedules(replace(d_full, stage="pretrain", fix_degree=True)) == []
