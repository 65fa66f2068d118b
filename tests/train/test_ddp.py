"""Several processes (``torchrun``, Gloo on CPU): a SIGTERM stop saves once, the retry resumes, the DDP
replicas stay identical and only rank 0 writes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.cli import main

REPO = Path(__file__).resolve().parents[2]


def _args(files, out: Path, iters: int, perceptual: str) -> list[str]:
    """The full stage as a farm runs it: the same command line for the first try and every retry."""
    args = ["train", "full", "--backbone", "dualstylegan", "--stylegan-path", files.dualstylegan,
            "--faceparsing-path", files.faceparsing, "--exstyle-path", files.exstyle,
            "--style-encoder-path", files.encoder, "--direction-path", files.directions, "--out", out,
            "--name", "vtoonify_d_ddp", "--iter", iters, "--batch", 1, "--lr", 1e-3, "--seed", 3,
            "--device", "cpu", "--log-every", 1, "--json-log", "--no-progress", "--resume", "auto",
            "--perceptual-weights", perceptual]
    return [str(a) for a in args]


def _torchrun(*argv: str) -> subprocess.Popen:
    """``torchrun --standalone --nproc_per_node 2 ARGV`` (2 CPU processes, Gloo on the loopback)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *argv],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _sigterm_after_iteration_2(proc: subprocess.Popen) -> str:
    """SIGTERM to torchrun once iteration 2 is logged (the workers are in the loop); its stderr."""
    try:
        for line in proc.stdout:
            if line.startswith('{"stage"') and json.loads(line)["iter"] >= 2:
                proc.send_signal(signal.SIGTERM)
                break
        return proc.communicate(timeout=300)[1]
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_sigterm_to_torchrun_saves_once_and_the_retry_continues_with_identical_replicas(
        tiny_teachers_128, perceptual_weights, tmp_path):
    """A farm cancelling a 2-process full-stage job, then retrying the same command (``--resume auto``):

    1. SIGTERM to torchrun reaches both workers; they agree on the iteration to stop after, rank 0 alone
       saves ``..._%05d.pt`` and both name it;
    2. the retry (2 processes, DDP-wrapped student and D) continues from that file, Adam state included;
       each rank trains on its own data and the replicas (student, EMA, D) stay bit-identical, so the
       gradients were averaged; only rank 0 writes; one log, losses averaged over both processes.

    One test, two torchrun launches (each costs three interpreters importing torch, most of its time).
    """
    out, results = tmp_path / "models", tmp_path / "results"
    family = out / "vtoonify_d_ddp"
    results.mkdir()
    files = tiny_teachers_128
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "pretrain", *_args(files, out, 1, perceptual_weights)[2:]]) == 0

    err = _sigterm_after_iteration_2(_torchrun("-m", "engine", *_args(files, out, 1000, perceptual_weights)))
    stopped = [line for line in err.splitlines() if line.startswith("cancelled: training stopped after iteration")]
    assert len(stopped) == 2, err[-4000:]  # each worker says where it stopped: the same iteration and file
    assert stopped[0] == stopped[1]
    saved = sorted(family.glob("vtoonify_s_d_c_*.pt"))
    assert len(saved) == 1 and f"saved {saved[0]}" in stopped[0], (stopped, saved)
    ckpt = torch.load(saved[0], map_location="cpu", weights_only=True)
    done = ckpt["iter"]
    assert ckpt["stage"] == "full" and 2 <= done < 1000
    assert stopped[0].startswith(f"cancelled: training stopped after iteration {done} of 1000")
    assert not (family / "vtoonify_s_d_c.pt").exists()
    assert not [p for p in family.iterdir() if p.name.startswith(".")]  # no temp file left behind

    retry = _torchrun(str(REPO / "tests" / "train" / "ddp_worker.py"), str(results),
                      *_args(files, out, done + 1, perceptual_weights))
    stdout, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err[-4000:]
    assert f"--resume auto: continuing from {saved[0]} (iteration {done})" in err
    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["ddp"]) for r in ranks] == [(0, 2, "DistributedDataParallel"),
                                                                        (1, 2, "DistributedDataParallel")]
    assert all(r["start_iter"] == done and r["adam_steps"] == [done + 1] for r in ranks)  # continued, not anew
    assert all(r["replicas_equal"] and r["numel"] > 0 for r in ranks)
    # each rank trained on its own data, so identical replicas mean the gradients were averaged; rank 0 also
    # made iteration 1's batch again for the last preview (the uninterrupted run's preview input)
    assert [i for i, _ in ranks[0]["batches"]] == [done, 0] and [i for i, _ in ranks[1]["batches"]] == [done]
    assert ranks[0]["batches"][0] != ranks[1]["batches"][0]
    assert ranks[1]["writes"] == []
    assert ranks[0]["writes"] == [["companions", str(family)], ["save", str(family / "vtoonify_s_d_c.pt")]]
    # one log: rank 0's JSON records, the loss of the iteration averaged over both processes
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"stage"')]
    assert [r["iter"] for r in records] == [done + 1]
    assert records[-1]["tmp"] > 0 and records[-1]["perc"] > 0  # every term on (flicker ramped in)
    assert sorted(p.name for p in family.iterdir()) == sorted(
        ["exstyle_code.npy", "pretrain.pt", "vtoonify_s_d_c.pt", saved[0].name, "samples"])


@pytest.mark.slow
def test_finetune_under_torchrun_shards_the_artwork_saves_once_and_keeps_identical_replicas(tmp_path):
    """``train finetune`` as a 2-process torchrun job (32-px G/D, Gloo): rank 0 alone aligns the artwork
    and writes; SIGTERM saves once; the ``--resume auto`` retry continues with DDP-wrapped G and D, each
    rank on its own shard of the images, and the replicas (G, EMA, D, augmentation and path length
    state) stay bit-identical after steps with R1 and path length regularisation."""
    from tests.train.test_finetune import colour_images, write_ffhq

    ffhq, art = write_ffhq(tmp_path / "ffhq.pt"), colour_images(tmp_path / "art", 12)
    out, results = tmp_path / "models", tmp_path / "results"
    family = out / "vtoonify_t_red"
    results.mkdir()

    def args(iters: int) -> list[str]:
        return [str(a) for a in ["train", "finetune", "--stylegan-path", ffhq, "--images", art, "--aligned",
                                 "--out", out, "--name", "red", "--iter", iters, "--batch", 2, "--seed", 3,
                                 "--device", "cpu", "--log-every", 1, "--json-log", "--no-progress",
                                 "--sample-every", 0, "--d-reg-every", 2, "--g-reg-every", 2, "--ada-length", 64,
                                 "--resume", "auto"]]

    # rank 0's error in the artwork reaches rank 1 (which waits for the aligned images): both stop, exit 2
    few = args(4)
    few[few.index(str(art))] = str(colour_images(tmp_path / "few", 3))
    _, err = _torchrun("-m", "engine", *few).communicate(timeout=300)
    assert "error: only 3 usable style image(s)" in err, err[-4000:]
    assert "error: rank 0 stopped reading the style images: only 3 usable" in err
    assert "add style images" in err and not list(family.glob("*.pt"))

    err = _sigterm_after_iteration_2(_torchrun("-m", "engine", *args(1000)))
    assert err.count("reading the style images in") == 1, err[-4000:]  # one log, rank 0's
    stopped = [line for line in err.splitlines() if line.startswith("cancelled: training stopped after iteration")]
    assert len(stopped) == 2 and stopped[0] == stopped[1], err[-4000:]
    saved = sorted(family.glob("finetune-*.pt"))
    assert len(saved) == 1 and f"saved {saved[0]}" in stopped[0], (stopped, saved)
    done = torch.load(saved[0], weights_only=True)["iter"]
    assert 2 <= done < 1000 and not (family / "finetune.pt").exists()
    assert len(list((family / "finetune_aligned").glob("*.npy"))) == 12
    assert not [p for p in family.rglob(".*")]  # no temp file left behind

    retry = _torchrun(str(REPO / "tests" / "train" / "finetune_ddp_worker.py"), str(results), *args(done + 3))
    stdout, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err[-4000:]
    assert err.count(f"--resume auto: continuing from {saved[0]} (iteration {done})") == 1
    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"]) for r in ranks] == [(0, 2), (1, 2)]
    assert all(r["ddp"] == ["DistributedDataParallel"] * 2 and r["start_iter"] == done for r in ranks)
    assert ranks[0]["adam_steps"] == ranks[1]["adam_steps"] and min(ranks[0]["adam_steps"]) > done
    assert all(r["replicas_equal"] for r in ranks) and ranks[0]["mean_path_length"] > 0
    # each rank its own shard of the artwork (distinct colours), and nothing left to align on either
    assert len(ranks[0]["batches"]) == 3 and ranks[0]["batches"] != ranks[1]["batches"]
    assert [r["aligned_now"] for r in ranks] == [0, 0]
    assert ranks[1]["writes"] == [] and ranks[0]["writes"] == [["save", str(family / "finetune.pt")]]
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"stage"')]
    assert [r["iter"] for r in records] == [done + 1, done + 2, done + 3]


@pytest.mark.slow
def test_the_processes_leave_together_and_one_failing_alone_does_not_hang_the_other(tiny_teachers_128, tmp_path):
    """Teardown of a real 2-process ``engine train pretrain`` (``teardown_worker.py`` around the CLI):

    1. rank 0 finishes 3 s after rank 1 (a big final save): rank 1 waits for it before leaving the group,
       so neither tears the group down under the other (one CI run had rank 0 abort at exit, 'terminate
       called without an active exception'); torchrun exits 0;
    2. rank 1 fails alone in iteration 2: it does not wait at the exit barrier (rank 0 is in a collective it
       will never join), rank 0 is not left hanging, torchrun exits non-zero naming rank 1's error.
    """
    files = tiny_teachers_128
    worker = str(REPO / "tests" / "train" / "teardown_worker.py")

    def launch(mode: str) -> tuple[subprocess.CompletedProcess, Path]:
        results = tmp_path / mode
        results.mkdir()
        argv = ["train", "pretrain", *_args(files, tmp_path / f"models_{mode}", 3, "-")[2:]]
        argv = argv[: argv.index("--perceptual-weights")]
        proc = _torchrun(worker, str(results), mode, *argv)
        try:
            stdout, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, err), results

    done, results = launch("slow0")
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr[-4000:]
    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["trained"] - ranks[1]["trained"] > 2  # rank 0 finished last, 3 s after rank 1
    assert ranks[1]["close_ended"] >= ranks[0]["close_began"]  # rank 1 left only once rank 0 was done too

    failed, results = launch("fail1")
    assert failed.returncode != 0 and "rank 1 failed on its own" in failed.stderr, failed.stderr[-4000:]
    assert "did not finish within" not in failed.stderr  # nobody waited out the exit barrier
