"""``engine train`` command line: official aliases, and bad input rejected with one clear error before
any training step, with nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from log_records import untimed

from engine.cli import build_parser, main
from engine.errors import ConfigError
from engine.models import build_model
from engine.train.cli import options_from_args

REPO = Path(__file__).resolve().parents[2]


def _d_args(files, out: Path, stage: str = "pretrain", **override) -> list[str]:
    paths = {"stylegan-path": files.dualstylegan, "faceparsing-path": files.faceparsing,
             "exstyle-path": files.exstyle, "style-encoder-path": files.encoder, "direction-path": files.directions}
    paths.update(override)
    args = ["train", stage, "--backbone", "dualstylegan", "--out", str(out), "--name", "vtoonify_d_tiny",
            "--iter", "2", "--batch", "1", "--no-progress"]
    for flag, value in paths.items():
        if value is not None:
            args += [f"--{flag}", str(value)]
    return args


def _fails(capsys, argv: list[str], *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_official_underscore_spellings_are_aliases(tmp_path):
    hyphen = ["train", "full", "--backbone", "dualstylegan", "--stylegan-path", "g.pt", "--faceparsing-path", "f.pth",
              "--exstyle-path", "e.npy", "--style-encoder-path", "enc.pt", "--fix-style", "--style-id", "3",
              "--fix-degree", "--style-degree", "0.3", "--fix-color", "--grec-loss", "0.2", "--msk-loss", "0.001",
              "--save-every", "5", "--log-every", "7", "--encoder-path", "p.pt", "--perceptual-weights", "v.pth"]
    underscore = ["--" + a[2:].replace("-", "_") if a.startswith("--") else a for a in hyphen]
    parser = build_parser()
    a = options_from_args(parser.parse_args(hyphen))
    b = options_from_args(parser.parse_args(underscore))
    assert a == b
    assert (a.fix_style, a.style_id, a.fix_degree, a.style_degree, a.fix_color) == (True, 3, True, 0.3, True)
    assert (a.grec_loss, a.msk_loss, a.save_every, a.log_every, a.encoder_path) == (0.2, 0.001, 5, 7, "p.pt")
    assert a.perceptual_weights == "v.pth"


def test_official_defaults(tmp_path):
    args = build_parser().parse_args(["train", "pretrain", "--backbone", "toonify", "--stylegan_path", "g.pt",
                                      "--faceparsing_path", "f.pth", "--finetunegan_path", "t.pt"])
    o = options_from_args(args)
    assert (o.iter, o.batch, o.lr) == (2000, 8, 1e-4)
    assert (o.adv_loss, o.grec_loss, o.perc_loss, o.tmp_loss, o.msk_loss) == (0.01, 0.1, 0.01, 1.0, 0.0005)
    assert (o.style_id, o.style_degree, o.r1) == (26, 0.5, 0.0)
    assert list(o.weight) == [1.0] * 9 + [0.0] * 9
    assert o.folder_name == "vtoonify_t_cartoon"


def test_teacher_of_the_wrong_kind(tiny_teachers, tmp_path, capsys):
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out, **{"stylegan-path": tiny_teachers.ffhq}),
           "not a DualStyleGAN generator", "--backbone toonify")
    assert not out.exists()


def test_missing_file(tiny_teachers, tmp_path, capsys):
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out, **{"faceparsing-path": tmp_path / "nope.pth"}), "nope.pth")
    assert not out.exists()


def test_widths_that_do_not_fit(tiny_teachers, tmp_path, capsys):
    bad = tmp_path / "generator.pt"
    channels = {4: 16, 8: 16, 16: 12, 32: 16, 64: 8, 128: 8}  # VToonify-D needs 8 == 16 == 32
    model = build_model({"class_name": "DualStyleGAN", "size": 128, "style_dim": 48, "n_mlp": 8,
                         "channels": channels})
    torch.save({"g_ema": model.state_dict()}, bad)
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out, **{"stylegan-path": bad}), "8/16/32")
    assert not out.exists()


def test_unwritable_out(tiny_teachers, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _fails(capsys, _d_args(tiny_teachers, blocker / "models"), "not a folder")
    assert blocker.read_text() == "x"

    locked = tmp_path / "locked"
    locked.mkdir()
    import engine.train.checkpoint as ckpt

    real_access = ckpt.os.access
    monkeypatch.setattr(ckpt.os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    _fails(capsys, _d_args(tiny_teachers, locked / "models"), "not writable")
    assert list(locked.iterdir()) == []


def test_full_without_pretrained_encoder(tiny_teachers, tmp_path, capsys):
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out, stage="full") + ["--perc-loss", "0"],
           "pre-trained encoder not found", "pretrain")
    assert not out.exists()


def test_full_stage_needs_perceptual_weights_or_an_explicit_perc_loss_0(tiny_teachers, tmp_path, capsys):
    """The paper's recipe has a perceptual term whose weights are never downloaded: leaving them out is a
    choice the user makes explicitly (--perc-loss 0), never a silent change of the recipe."""
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out, stage="full"),
           "--perc-loss 0.01", "--perceptual-weights", "--perc-loss 0")
    assert not out.exists()


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("stylegan-path", "nope/generator.pt", "--stylegan-path: file not found: nope/generator.pt"),
    ("stylegan-path", ".", "--stylegan-path . is a folder"),
    ("faceparsing-path", "nope.pth", "--faceparsing-path: file not found"),
    ("exstyle-path", "nope.npy", "--exstyle-path: file not found"),
    ("direction-path", "nope.npy", "--direction-path: file not found"),
    ("direction-path", "dangling.npy", "--direction-path dangling.npy is a link to gone.npy, which does not exist"),
    ("exstyle-path", "fifo.npy", "--exstyle-path fifo.npy is not a regular file"),
])
def test_missing_files_are_named_by_their_flag(tiny_teachers, tmp_path, capsys, monkeypatch, flag, value, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dangling.npy").symlink_to("gone.npy")
    os.mkfifo(tmp_path / "fifo.npy")  # reading it would block the run forever
    out = tmp_path / "out"
    line = _fails(capsys, _d_args(tiny_teachers, out, **{flag: value}), needle, "Files you need")
    # `models fetch` downloads the parser and pSp encoder, never a teacher, its style codes or directions
    assert ("models fetch" in line) == (flag == "faceparsing-path"), line
    assert not out.exists()


def test_every_missing_file_is_named_at_once(tmp_path, capsys, monkeypatch):
    """The documented command on a fresh machine: one error lists every file to get, each by its flag
    with where it comes from, instead of one file per attempt."""
    monkeypatch.chdir(tmp_path)
    argv = ["train", "pretrain", "--backbone", "dualstylegan", "--stylegan-path", "cartoon/generator.pt",
            "--exstyle-path", "cartoon/refined_exstyle_code.npy", "--faceparsing-path", "faceparsing.pth",
            "--direction-path", "directions.npy", "--out", "models", "--name", "mystyle"]
    line = _fails(capsys, argv, "4 training files are missing or unusable",
                  "--stylegan-path: file not found: cartoon/generator.pt",
                  "--exstyle-path: file not found: cartoon/refined_exstyle_code.npy",
                  "--faceparsing-path: file not found: faceparsing.pth",
                  "--direction-path: file not found: directions.npy",
                  "DualStyleGAN release", "models fetch", "Files you need")
    assert line.count("--stylegan-path") == 2  # once in the problem, once in the fix
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(("argv", "names", "absent"), [
    (["full", "--backbone", "dualstylegan"], "needs --faceparsing-path, --exstyle-path, --style-encoder-path and "
     "--perceptual-weights", ["--finetunegan-path", "--backbone:"]),
    (["full", "--backbone", "toonify", "--perc-loss", "0"], "needs --faceparsing-path, --finetunegan-path and "
     "--style-encoder-path", ["--exstyle-path", "--perceptual-weights"]),
    (["full", "--backbone", "dualstylegan", "--fix-style", "--faceparsing-path", "f.pth", "--exstyle-path", "e.npy",
      "--perceptual-weights", "v.pth"], None, []),                    # fixed exemplar with its colours: no pSp
    (["pretrain"], "needs --backbone and --faceparsing-path", ["--exstyle-path", "--finetunegan-path"]),
])
def test_every_missing_flag_is_named_at_once(tmp_path, capsys, monkeypatch, argv, names, absent):
    """The README's typical command with flags left out: one error names every flag this stage and backbone
    still need, each with the file that belongs there (it used to name one per attempt, and for a missing
    --faceparsing-path suggested `--backbone toonify` whatever the backbone)."""
    monkeypatch.chdir(tmp_path)
    full = ["train", *argv, "--stylegan-path", "g.pt", "--out", "models"]
    if names is None:  # nothing missing: the run goes on to check the files themselves
        _fails(capsys, full, "training files are missing or unusable", "--stylegan-path: file not found")
        return
    line = _fails(capsys, full, names, "Files you need")
    for flag in names.split("needs ")[1].replace(" and ", ", ").split(", "):
        assert f"{flag}: " in line, flag                               # each one says what file belongs there
    for flag in absent:
        assert flag not in line, flag
    if "--perceptual-weights" in names:
        assert "--perc-loss 0.01" in line and "--perc-loss 0 to drop it" in line
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(("flag", "stage", "expected"), [
    ("stylegan-path", "pretrain", "DualStyleGAN generator.pt"),
    ("exstyle-path", "pretrain", "exstyle_code.npy"),
    ("faceparsing-path", "pretrain", "faceparsing.pth"),
    ("style-encoder-path", "full", "pSp encoder.pt"),
    ("encoder-path", "full", "`engine train pretrain`"),
    ("resume", "pretrain", "written by `engine train`"),
    ("perceptual-weights", "full", "vgg16-397923af.pth"),
])
def test_a_truncated_file_is_named_by_its_flag_with_the_training_fix(tiny_teachers, perceptual_weights, tmp_path,
                                                                     capsys, flag, stage, expected):
    """A corrupt training input (a half-copied file) names the flag and what belongs there, not the
    renderer's "download it again" advice (`models fetch` downloads no DualStyleGAN generator), and writes
    nothing."""
    out = tmp_path / "out"
    source = {"stylegan-path": tiny_teachers.dualstylegan, "exstyle-path": tiny_teachers.exstyle,
              "faceparsing-path": tiny_teachers.faceparsing}.get(flag, tiny_teachers.dualstylegan)
    broken = tmp_path / f"broken{source.suffix}"
    broken.write_bytes(source.read_bytes()[:4000])
    args = _d_args(tiny_teachers, out, stage=stage, **({flag: broken} if flag in (
        "stylegan-path", "exstyle-path", "faceparsing-path", "style-encoder-path") else {}))
    if flag in ("encoder-path", "resume", "perceptual-weights"):
        args += [f"--{flag}", str(broken)]
    if stage == "full" and flag != "perceptual-weights":
        args += ["--perceptual-weights", perceptual_weights]
    line = _fails(capsys, args, f"--{flag}: ", "truncated or corrupt", expected, "Files you need")
    assert "download it again" not in line  # the renderer's advice for its own models folder
    # `models fetch` downloads the parser and pSp encoder, never a teacher, style codes or checkpoints
    assert ("models fetch" in line) == (flag in ("faceparsing-path", "style-encoder-path")), line
    assert not out.exists()


def test_a_family_exstyle_file_with_other_codes_is_refused_before_any_write(tiny_teachers, tmp_path, capsys):
    """OUT/NAME/exstyle_code.npy is kept, and the renderer pairs the family's models with it: training on
    other codes into that folder would render every --style-id with a wrong exemplar."""
    import numpy as np

    out = tmp_path / "out"
    family = out / "vtoonify_d_tiny"
    family.mkdir(parents=True)
    there = family / "exstyle_code.npy"
    other = {name: code + 1 for name, code in np.load(tiny_teachers.exstyle, allow_pickle=True).item().items()}
    np.save(there, np.array(other, dtype=object), allow_pickle=True)
    before = there.read_bytes()
    _fails(capsys, _d_args(tiny_teachers, out), "holds other style codes than --exstyle-path", "another --name")
    assert there.read_bytes() == before
    assert [p.name for p in family.iterdir()] == ["exstyle_code.npy"]


def test_the_same_codes_saved_again_pass_the_family_exstyle_check(tiny_teachers, tmp_path):
    import numpy as np

    from engine.train.checkpoint import check_family_exstyles, output_layout

    layout = output_layout(tmp_path / "out", "tiny", "dualstylegan")
    layout.family_dir.mkdir(parents=True)
    codes = np.load(tiny_teachers.exstyle, allow_pickle=True).item()
    np.save(layout.exstyle_path, np.array(dict(codes), dtype=object), allow_pickle=True)  # official re-save
    check_family_exstyles(layout, tiny_teachers.exstyle)


def test_empty_or_missing_perceptual_weights_and_resume_file(tiny_teachers, perceptual_weights, tmp_path, capsys):
    out = tmp_path / "out"
    empty = tmp_path / "vgg.pth"
    empty.write_bytes(b"")
    vgg16 = perceptual_weights.split(os.pathsep)[0]
    _fails(capsys, _d_args(tiny_teachers, out, stage="full") + ["--perceptual-weights", f"{vgg16}{os.pathsep}{empty}"],
           "--perceptual-weights", "is empty")
    _fails(capsys, _d_args(tiny_teachers, out) + ["--resume", str(tmp_path / "gone.pt")], "--resume: file not found")
    assert not out.exists()


def test_existing_result_is_not_replaced(tiny_teachers, tmp_path, capsys):
    out = tmp_path / "out"
    final = out / "vtoonify_d_tiny" / "pretrain.pt"
    final.parent.mkdir(parents=True)
    final.write_bytes(b"earlier run")
    _fails(capsys, _d_args(tiny_teachers, out), "already exists", "--overwrite")
    assert final.read_bytes() == b"earlier run"
    assert sorted(p.name for p in final.parent.iterdir()) == ["pretrain.pt"]


def test_bad_options_and_foreign_resume(tiny_teachers, tmp_path, capsys):
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out) + ["--style-degree", "1.5"], "--style-degree")
    _fails(capsys, _d_args(tiny_teachers, out) + ["--fix-style", "--style-id", "99"], "--style-id 99")
    foreign = tmp_path / "official.pt"
    torch.save({"g_ema": {}}, foreign)
    _fails(capsys, _d_args(tiny_teachers, out) + ["--resume", str(foreign)], "not written by `engine train`")
    assert not out.exists()


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("--msk-loss", "nan", "loss weights must be finite"),
    ("--perc-loss", "inf", "loss weights must be finite"),
    ("--tmp-loss", "nan", "loss weights must be finite"),
    ("--lr", "inf", "--lr must be a positive number"),
    ("--fusion-init-scale", "inf", "--fusion-init-scale"),
])
def test_non_finite_hyperparameters_are_refused(tiny_teachers, tmp_path, capsys, flag, value, needle):
    # Before: min() over the weights let a NaN that was not the first one through (and inf always): the run
    # trained to the end, exit 0, and wrote a model of NaN weights.
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out) + [flag, value], needle)
    assert not out.exists()


def test_a_fixed_degree_the_model_file_name_cannot_hold_is_refused(tiny_teachers, tmp_path, capsys):
    # Before: --fix-degree --style-degree 0.75 trained vtoonify_s_d0.8_c.pt, which `render --degree 0.75`
    # refused (no model supports degree 0.75) and `--degree 0.8` ran off the trained degree.
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out) + ["--fix-degree", "--style-degree", "0.75"],
           "--style-degree 0.75 with --fix-degree has more than one decimal", "_d0.8")
    assert not out.exists()
    for ok in ("0.3", "1.0", "0"):  # what the official names hold
        argv = _d_args(tiny_teachers, out) + ["--fix-degree", "--style-degree", ok]
        assert options_from_args(build_parser().parse_args(argv)).style_degree == float(ok)
    argv = _d_args(tiny_teachers, out) + ["--style-degree", "0.75"]  # without --fix-degree: unused, allowed
    assert options_from_args(build_parser().parse_args(argv)).style_degree == 0.75


def test_non_finite_finetune_hyperparameters_are_refused(tmp_path):
    from engine.train.finetune_options import FinetuneOptions

    for bad in ({"lr": float("inf")}, {"r1": float("inf")}, {"path_regularize": float("inf")}):
        with pytest.raises(ConfigError):
            FinetuneOptions(stylegan_path="ffhq.pt", images=str(tmp_path), **bad)


def test_real_process_exit_code_and_one_line(tiny_teachers, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *_d_args(tiny_teachers, out, **{"exstyle-path": tmp_path / "x.npy"})],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "x.npy" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--finetunegan-path"])
def test_option_of_the_other_backbone(tiny_teachers, tmp_path, capsys, flag):
    out = tmp_path / "out"
    _fails(capsys, _d_args(tiny_teachers, out) + [flag, str(tiny_teachers.finetune)], "VToonify-T option")
    assert not out.exists()


def test_full_disk_exits_75_and_leaves_no_partial_checkpoint(tiny_teachers_128, tmp_path, capsys, monkeypatch):
    """ENOSPC while the checkpoint is written: one error line, exit 75 (EXIT_RETRY: a farm retries), and
    neither the checkpoint nor its hidden temp file stays behind."""
    import errno

    import engine.train.checkpoint as checkpoint

    def full_disk(obj, path):
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    out = tmp_path / "out"
    code = main(_d_args(tiny_teachers_128, out) + ["--iter", "1"])
    err = capsys.readouterr().err
    assert code == 75, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "full" in lines[0] and "pretrain.pt" in lines[0], err
    assert sorted(p.name for p in (out / "vtoonify_d_tiny").iterdir()) == ["exstyle_code.npy"]


def test_a_disk_full_mid_run_keeps_the_last_save_intact_and_names_the_resume(tiny_teachers_128, tmp_path, capsys,
                                                                           monkeypatch):
    """ENOSPC at the second --save-every save: exit 75, one line naming the file not written and how to go
    on (`--resume auto` from pretrain-00001.pt); the first save is untouched, no temp file is left, and
    the retry continues with the losses an uninterrupted run logs."""
    import errno

    import engine.train.checkpoint as checkpoint

    def run(out: Path, *extra: str) -> tuple[int, list[dict], str]:
        code = main(_d_args(tiny_teachers_128, out) + ["--iter", "3", "--save-every", "1", "--seed", "4",
                                                       "--json-log", "--log-every", "1", *extra])
        captured = capsys.readouterr()
        return code, [untimed(line) for line in captured.out.splitlines() if line.startswith("{")], captured.err

    code, whole, _ = run(tmp_path / "whole")
    assert code == 0
    real_save, saves = checkpoint.torch.save, []

    def full_at_second_save(obj, path):
        saves.append(path)
        if len(saves) == 2:
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(obj, path)

    out = tmp_path / "out"
    family = out / "vtoonify_d_tiny"
    monkeypatch.setattr(checkpoint.torch, "save", full_at_second_save)
    code, first, err = run(out)
    assert code == 75, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "full or over quota; pretrain-00002.pt was not written" in lines[0], err
    assert "--resume auto (it continues from pretrain-00001.pt, iteration 1, the newest save, intact)" in lines[0]
    assert sorted(p.name for p in family.iterdir()) == ["exstyle_code.npy", "pretrain-00001.pt"]  # no temp
    kept = torch.load(family / "pretrain-00001.pt", weights_only=True)  # whole and readable: the same state
    same = torch.load(tmp_path / "whole" / "vtoonify_d_tiny" / "pretrain-00001.pt", weights_only=True)
    assert kept["iter"] == 1 and all(torch.equal(kept["g"][k], same["g"][k]) for k in same["g"])

    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    code, rest, err = run(out, "--resume", "auto")
    assert code == 0, err
    logged = [r for r in whole if "iter" in r]
    assert [r for r in first if "iter" in r] == logged[:2]  # iteration 2 ran; its save failed
    assert [r for r in rest if "iter" in r] == logged[1:]  # so the retry runs it again: the same losses


def test_first_ctrl_c_asks_to_stop_the_second_stops_at_once(capsys):
    import signal
    import threading
    import time

    from engine.train.cli import stop_on_signals

    cancel = threading.Event()
    before = signal.getsignal(signal.SIGINT)
    with stop_on_signals(cancel):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs between bytecodes of this thread
        assert cancel.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before
    assert "press Ctrl-C again" in capsys.readouterr().err


def test_stop_asked_while_loading_trains_and_saves_nothing(tiny_teachers_128, tmp_path):
    import threading

    from engine.errors import JobCancelled
    from engine.train.trainer import train

    cancel = threading.Event()
    cancel.set()
    out = tmp_path / "out"
    options = options_from_args(build_parser().parse_args(_d_args(tiny_teachers_128, out)))
    with pytest.raises(JobCancelled, match="before its first iteration"):
        train(options, cancel=cancel)
    assert not list(out.rglob("*.pt"))


def test_a_batch_that_can_never_fit_is_refused_before_any_step(tiny_teachers_128, tmp_path, capsys):
    """A mistyped --batch would otherwise meet the kernel's OOM killer (no message); the teacher's largest
    feature map (128 px x 24 channels, float32: 1.5 MiB a sample) x 10**7 exceeds any machine."""
    out = tmp_path / "out"
    line = _fails(capsys, _d_args(tiny_teachers_128, out) + ["--batch", str(10**7)], "--batch 10000000",
                  "cannot fit on cpu", "128-px feature maps", "smaller --batch")
    assert f"{24 * 128 * 128 * 4 * 10**7 / 2**30:.1f} GiB for it" in line, line  # 14648.4
    assert not list(out.rglob("*.pt"))


def test_a_style_encoder_training_does_not_read_is_still_checked_before_it_is_installed(
        tiny_teachers, perceptual_weights, tmp_path, capsys):
    """--fix-style with colour transfer trains without pSp, yet the full stage copies --style-encoder-path into
    the models folder as encoder.pt for the renderer. A corrupt file went there unchecked (found by hand: 5000
    random bytes became OUT/encoder.pt, `models list` said the family was ready, and every later family of that
    folder that needs pSp would meet it); now it is refused by its flag before anything is written."""
    out = tmp_path / "out"
    broken = tmp_path / "encoder.pt"
    broken.write_bytes(tiny_teachers.encoder.read_bytes()[:4000])
    fixed = ["--fix-style", "--style-id", "1"]
    assert main(_d_args(tiny_teachers, out) + fixed) == 0  # pretrain.pt, so the full stage would run
    capsys.readouterr()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    args = _d_args(tiny_teachers, out, stage="full", **{"style-encoder-path": broken})
    _fails(capsys, args + fixed + ["--perceptual-weights", perceptual_weights],
           "--style-encoder-path: ", "truncated or corrupt", "pSp encoder.pt")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # no encoder.pt, no model file


def test_perceptual_weights_in_a_folder_whose_name_holds_the_list_separator(perceptual_weights, tmp_path):
    """--perceptual-weights lists two files joined with os.pathsep (':'), so a studio folder such as
    `lpips:v0.1` was cut inside the name: the run stopped with four "file not found" halves of two files that
    exist. Files that exist are now taken whole; the plain split stays for names that do not exist."""
    import shutil
    from types import SimpleNamespace

    from engine.train.files import WHAT, given_files
    from engine.train.losses import load_perceptual_loss

    folder = tmp_path / f"lpips{os.pathsep}v0.1 ü"
    folder.mkdir()
    value = os.pathsep.join(shutil.copy(p, folder) for p in perceptual_weights.split(os.pathsep))
    options = SimpleNamespace(**{**dict.fromkeys(WHAT), "perceptual_weights": value})
    assert [path for _, path in given_files(options)] == [folder / "vgg16-397923af.pth", folder / "vgg.pth"]
    load_perceptual_loss(value)  # every tensor found: no "lack N tensors" error
    missing = os.pathsep.join([str(folder / "gone.pth"), str(folder / "vgg.pth")])
    assert len(given_files(SimpleNamespace(**{**dict.fromkeys(WHAT), "perceptual_weights": missing}))) >= 2
