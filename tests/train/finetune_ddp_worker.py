"""One process of ``test_ddp.py``'s finetune torchrun job: ``finetune_ddp_worker.py RESULT_DIR <engine train
finetune argv...>``.

Runs the real ``train finetune`` (``prepare_finetune`` joins the Gloo group from torchrun's environment, G
and D are DDP-wrapped; ``--resume auto`` resolved as the CLI does), recording which files this rank writes,
how many images it aligned and a checksum of the style images it trained on; then gathers every rank's
state (G, EMA, D, the augmentation p and the path length mean) and writes ``RESULT_DIR/rank<N>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from engine.cli import build_parser
from engine.train import finetune as finetune_module
from engine.train import session as session_module
from engine.train.cli import _stage_defaults, finetune_options_from_args


def _recording(calls: list, name: str, function):
    def wrapper(path, *args, **kwargs):
        calls.append([name, str(path)])
        return function(path, *args, **kwargs)

    return wrapper


def main(result_dir: str, argv: list[str]) -> None:
    writes: list = []
    for name in ("save_training_checkpoint", "save_stop_checkpoint"):
        setattr(session_module, name, _recording(writes, "save", getattr(session_module, name)))
    seen: dict = {}
    batches: list[float] = []
    real_batch, step = finetune_module.real_batch, finetune_module.finetune_step

    def recording_batch(*args, **kwargs):
        batch = real_batch(*args, **kwargs)
        batches.append(float(batch.double().sum()))
        return batch

    def recording_step(session, i):
        seen["session"] = session
        return step(session, i)

    finetune_module.real_batch, finetune_module.finetune_step = recording_batch, recording_step
    finetune_module.close_processes = lambda *args, **kwargs: None  # the group is needed below
    options = finetune_options_from_args(_stage_defaults(build_parser().parse_args(argv)))
    finetune_module.run_finetune(options)
    session = seen["session"]
    ex = session.extra
    state = [t.detach().flatten().float() for m in (session.student, session.ema, ex["d"])
             for t in m.state_dict().values()]
    ada = ex["ada"]
    mine = torch.cat([*state, torch.tensor([ada.p, ada.signs, ada.count, float(ex["mean_path_length"])])])
    every = [torch.empty_like(mine) for _ in range(session.processes.world_size)]
    dist.all_gather(every, mine)
    record = {
        "rank": session.processes.rank,
        "world_size": session.processes.world_size,
        "ddp": [type(session.model).__name__, type(ex["d_model"]).__name__],
        "replicas_equal": all(torch.equal(every[0], other) for other in every[1:]),
        "augment_p": ex["ada"].p,
        "mean_path_length": float(ex["mean_path_length"]),
        "writes": writes,
        "batches": batches,
        "aligned_now": ex["images"].aligned_now,
        "start_iter": session.start_iter,
        "adam_steps": sorted({int(s["step"]) for s in session.g_optim.state_dict()["state"].values()}),
    }
    Path(result_dir, f"rank{session.processes.rank}.json").write_text(json.dumps(record))
    dist.barrier()  # both ranks done with the group before either tears it down (one CI run saw rank 0
    dist.destroy_process_group()  # abort at exit, "terminate called without an active exception")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
