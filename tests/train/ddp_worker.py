"""One process of ``test_ddp.py``'s torchrun job: ``ddp_worker.py RESULT_DIR <engine train argv...>``.

Runs the real full stage (``open_session`` joins the Gloo group from torchrun's environment, the student
and D are DDP-wrapped; ``--resume auto`` resolved as ``engine train`` does), recording which files this rank
writes and a checksum of each batch it made; then gathers every rank's weights (student, EMA,
discriminator) and writes ``RESULT_DIR/rank<N>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from engine.cli import build_parser
from engine.train import session as session_module
from engine.train.cli import options_from_args
from engine.train.session import open_session, resolve_auto_resume
from engine.train.trainer import run_full


def _recording(calls: list, name: str, function):
    def wrapper(path_or_layout, *args, **kwargs):
        calls.append([name, str(getattr(path_or_layout, "family_dir", path_or_layout))])
        return function(path_or_layout, *args, **kwargs)

    return wrapper


def _flat(modules) -> torch.Tensor:
    return torch.cat([t.detach().flatten().float() for m in modules for t in m.state_dict().values()])


def main(result_dir: str, argv: list[str]) -> None:
    writes: list = []
    for name in ("save_training_checkpoint", "save_stop_checkpoint"):
        setattr(session_module, name, _recording(writes, "save", getattr(session_module, name)))
    session_module.install_companions = _recording(writes, "companions", session_module.install_companions)
    options = options_from_args(build_parser().parse_args(argv))
    if options.resume == "auto":
        options = resolve_auto_resume(options)
    session = open_session(options)
    sample = session.pairs.sample
    batches: list[list] = []  # [iteration index, checksum] of every batch this rank made

    def recording_sample(*args, **kwargs):
        batch = sample(*args, **kwargs)
        batches.append([kwargs["iteration"], float(batch.y.double().sum())])
        return batch

    session.pairs.sample = recording_sample
    run_full(options, session)
    mine = _flat([session.student, session.ema, session.extra["d"]])
    every = [torch.empty_like(mine) for _ in range(session.processes.world_size)]
    dist.all_gather(every, mine)
    record = {
        "rank": session.processes.rank,
        "world_size": session.processes.world_size,
        "ddp": type(session.model).__name__,
        "replicas_equal": all(torch.equal(every[0], other) for other in every[1:]),
        "numel": mine.numel(),
        "writes": writes,
        "batches": batches,
        "start_iter": session.start_iter,
        "adam_steps": sorted({int(s["step"]) for s in session.g_optim.state_dict()["state"].values()}),
    }
    Path(result_dir, f"rank{session.processes.rank}.json").write_text(json.dumps(record))
    dist.barrier()  # both ranks done with the group before either tears it down (finetune_ddp_worker.py)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
