"""An engine SIGKILLed while it compacts its job journal (which it does at every start) leaves the hidden temp
of the rewrite behind; the next engine's load removes it, and only temps of dead engines of this host.

Found by the kill tests of the service (engine SIGKILLed mid-job, restarted, job resumed): the journal and
the renders came back whole, but nothing ever removed a killed rewrite's temp from the state folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.host_name import host_tag
from engine.service.journal import Journal, read_journal

REPO = Path(__file__).resolve().parents[2]

# The child rewrites a journal as the engine compacts it, and is killed after the temp is written, before
# the rename: exactly what a kill inside Journal.rewrite leaves.
KILLED_MID_REWRITE = """
import os, signal, sys
import engine.service.journal as journal
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
journal.os.replace = killed
journal.Journal(sys.argv[1]).rewrite([{"id": "new", "seq": 9, "state": "done"}])
"""


def test_the_next_load_removes_a_killed_rewrites_temp_and_keeps_the_journal(tmp_path):
    state = tmp_path / "state"
    Journal(state).rewrite([{"id": "a1", "seq": 1, "state": "running"}])
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_REWRITE, str(state)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    left = [p.name for p in state.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1, left

    host = host_tag()
    alive = state / f".jobs-{host}-{os.getpid()}-abcd1234.tmp"  # an engine compacting right now
    other_host = state / f".jobs-{host}x-4242-abcd1234.tmp"
    older = state / ".jobs-abcd1234.tmp"  # an earlier engine's name: whose it is cannot be told
    for path in (alive, other_host, older):
        path.write_text("{}\n")

    records = Journal(state).load()

    assert [r["id"] for r in records] == ["a1"]  # the killed rewrite changed nothing
    assert sorted(p.name for p in state.iterdir()) == sorted(["jobs.jsonl", alive.name, other_host.name, older.name])
    assert [r["id"] for r in read_journal(state / "jobs.jsonl")] == ["a1"]
