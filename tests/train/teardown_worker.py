"""One process of ``test_ddp.py``'s teardown checks: ``teardown_worker.py RESULT_DIR MODE <engine argv...>``.

Runs the real ``engine`` CLI (``engine train pretrain`` under torchrun), recording when this process's
teardown (``close_processes``) began and ended in ``RESULT_DIR/rank<N>.json``. MODE:

* ``slow0``: rank 0 finishes 3 s after rank 1 (as a large final checkpoint on slow storage);
* ``fail1``: rank 1 fails on its own in iteration 2 (a bug, a lost GPU) while rank 0 trains on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import engine.train.pretrain as pretrain_module
import engine.train.trainer as trainer_module
from engine.cli import main

RANK = int(os.environ.get("RANK", "0"))


def run(result_dir: str, mode: str, argv: list[str]) -> int:
    record: dict = {"rank": RANK}
    real_close, real_stage, real_step = (
        trainer_module.close_processes,
        trainer_module.run_pretrain,
        pretrain_module.pretrain_step,
    )

    def close(*args, **kwargs):
        record["close_began"] = time.time()
        real_close(*args, **kwargs)
        record["close_ended"] = time.time()
        Path(result_dir, f"rank{RANK}.json").write_text(json.dumps(record))

    def stage(*args, **kwargs):
        final = real_stage(*args, **kwargs)
        if mode == "slow0" and RANK == 0:
            time.sleep(3)
        record["trained"] = time.time()
        return final

    def step(session, i):
        if mode == "fail1" and RANK == 1 and i == 1:
            raise RuntimeError("rank 1 failed on its own")
        return real_step(session, i)

    trainer_module.close_processes, trainer_module.run_pretrain = close, stage
    pretrain_module.pretrain_step = step
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2], sys.argv[3:]))
