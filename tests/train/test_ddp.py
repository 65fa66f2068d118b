"""Several processes (``torchrun``, Gloo on CPU): the DDP replicas stay identical and only rank 0 writes."""

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
ITERS = 3  # the flicker term's ramp is > 0 from iteration 3 of 3 on


def _args(files, out: Path, stage: str, iters: int, perceptual: str) -> list[str]:
    args = ["train", stage, "--backbone", "dualstylegan", "--stylegan-path", files.dualstylegan,
            "--faceparsing-path", files.faceparsing, "--exstyle-path", files.exstyle,
            "--style-encoder-path", files.encoder, "--direction-path", files.directions, "--out", out,
            "--name", "vtoonify_d_ddp", "--iter", iters, "--batch", 1, "--lr", 1e-3, "--seed", 3,
            "--device", "cpu", "--log-every", 1, "--json-log", "--no-progress"]
    if stage == "full":
        args += ["--perceptual-weights", perceptual]
    return [str(a) for a in args]


@pytest.mark.slow
def test_two_processes_keep_identical_replicas_and_only_rank_0_writes(tiny_teachers_128, perceptual_weights,
                                                                      tmp_path):
    out, results = tmp_path / "models", tmp_path / "results"
    results.mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(_args(tiny_teachers_128, out, "pretrain", 1, perceptual_weights)) == 0
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(REPO / "tests" / "train" / "ddp_worker.py"), str(results),
         *_args(tiny_teachers_128, out, "full", ITERS, perceptual_weights)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["ddp"]) for r in ranks] == [(0, 2, "DistributedDataParallel"),
                                                                        (1, 2, "DistributedDataParallel")]
    assert all(r["replicas_equal"] and r["numel"] > 0 for r in ranks)
    # each rank trained on its own data, so identical replicas mean the gradients were averaged
    assert all(a != b for a, b in zip(ranks[0]["batches"], ranks[1]["batches"]))
    assert len(ranks[0]["batches"]) == ITERS
    family = out / "vtoonify_d_ddp"
    assert ranks[1]["writes"] == []
    assert [w[0] for w in ranks[0]["writes"]] == ["companions", "save"]
    assert ranks[0]["writes"][1][1] == str(family / "vtoonify_s_d_c.pt")
    # one log: rank 0's JSON records, the loss of every iteration averaged over both processes
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"stage"')]
    assert [r["iter"] for r in records] == list(range(1, ITERS + 1))
    assert records[-1]["tmp"] > 0 and records[-1]["perc"] > 0
    assert sorted(p.name for p in family.iterdir()) == ["exstyle_code.npy", "pretrain.pt", "vtoonify_s_d_c.pt"]


def _torchrun(argv: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "engine",
         *argv], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_sigterm_to_torchrun_saves_once_and_resume_auto_continues_under_torchrun(tiny_teachers_128, tmp_path):
    """A farm cancelling a 2-process job: SIGTERM to torchrun reaches both workers, they agree on the
    iteration to stop after, rank 0 alone saves ``pretrain-%05d.pt``; the retry with ``--resume auto``
    (again 2 processes) continues from that file instead of starting over."""
    out = tmp_path / "models"
    family = out / "vtoonify_d_ddpstop"
    files = tiny_teachers_128

    def argv(iters: int) -> list[str]:
        return [str(a) for a in (
            "train", "pretrain", "--backbone", "dualstylegan", "--stylegan-path", files.dualstylegan,
            "--faceparsing-path", files.faceparsing, "--exstyle-path", files.exstyle, "--out", out,
            "--name", "vtoonify_d_ddpstop", "--iter", iters, "--batch", 1, "--seed", 3, "--device", "cpu",
            "--log-every", 1, "--json-log", "--no-progress", "--resume", "auto")]

    proc = _torchrun(argv(1000))
    try:
        for line in proc.stdout:  # stop once iteration 2 is logged: the workers are in the loop
            if line.startswith('{"stage"') and json.loads(line)["iter"] >= 2:
                proc.send_signal(signal.SIGTERM)
                break
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped = [line for line in err.splitlines() if line.startswith("cancelled: training stopped after iteration")]
    assert len(stopped) == 2, err[-4000:]  # each worker says where it stopped: the same iteration and file
    assert stopped[0] == stopped[1]
    saved = sorted(family.glob("pretrain-*.pt"))
    assert len(saved) == 1 and f"saved {saved[0]}" in stopped[0], (stopped, saved)
    ckpt = torch.load(saved[0], map_location="cpu", weights_only=True)
    done = ckpt["iter"]
    assert ckpt["stage"] == "pretrain" and 2 <= done < 1000
    assert stopped[0].startswith(f"cancelled: training stopped after iteration {done} of 1000")
    assert not (family / "pretrain.pt").exists()
    assert not [p for p in family.iterdir() if p.name.startswith(".")]  # no temp file left behind

    retry = _torchrun(argv(done + 1))
    stdout, err = retry.communicate(timeout=240)
    assert retry.returncode == 0, err[-4000:]
    assert f"--resume auto: continuing from {saved[0]} (iteration {done})" in err
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"stage"')]
    assert [r["iter"] for r in records] == [done + 1]  # one iteration, not a fresh start
    final = torch.load(family / "pretrain.pt", map_location="cpu", weights_only=True)
    assert final["iter"] == done + 1
    steps = {int(s["step"]) for s in final["g_optim"]["state"].values()}
    assert steps == {done + 1}  # Adam continued from the stopped state's moments
