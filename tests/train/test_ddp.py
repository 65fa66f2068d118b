"""Several processes (``torchrun``, Gloo on CPU): the DDP replicas stay identical and only rank 0 writes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
