"""Farm workers in containers share a machine's host name (Docker with host networking takes the host's),
each with its own process ids: a temp that another container's live job is writing must not look like a
dead process's leftover to this one (before, each container's render deleted the other's temps mid-write,
failing that job with 'the temporary file ... was replaced while it was written', exit 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import host_name
from engine.io import atomic
from engine.pipeline.outputs import clean_stale_temps

REPO = Path(__file__).resolve().parents[2]


def test_the_temp_tag_names_the_pid_namespace_only_inside_a_container(monkeypatch):
    plain = atomic.host_tag()
    monkeypatch.setattr(host_name, "pid_namespace", lambda: host_name.INITIAL_PID_NAMESPACE)
    assert atomic.host_tag() == plain.split("_pidns")[0]  # the host's own processes: names as before
    monkeypatch.setattr(host_name, "pid_namespace", lambda: 4026532175)
    assert atomic.host_tag().endswith("_pidns4026532175")
    monkeypatch.setattr(host_name, "pid_namespace", lambda: None)  # no /proc: the host name alone
    assert "_pidns" not in atomic.host_tag()


def test_a_job_in_another_pid_namespace_leaves_a_live_jobs_temp_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(host_name, "pid_namespace", lambda: host_name.INITIAL_PID_NAMESPACE)
    outside = tmp_path / f".shot.0001.exr.{atomic.host_tag()}-{os.getpid()}.0123456789ab.tmp"
    outside.write_bytes(b"being written")
    monkeypatch.setattr(host_name, "pid_namespace", lambda: 4026532175)  # a container: this pid is not its own
    monkeypatch.setattr("engine.service.connection.pid_alive", lambda pid: False)
    assert clean_stale_temps(tmp_path, "shot") == []
    assert outside.read_bytes() == b"being written"
    own = tmp_path / f".shot.0002.exr.{atomic.host_tag()}-999999.0123456789ab.tmp"
    own.write_bytes(b"left by a killed job of this container")
    assert clean_stale_temps(tmp_path, "shot") == [own]


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0, reason="needs root and unshare(1)")
def test_a_real_process_in_its_own_pid_namespace_keeps_its_hands_off(tmp_path):
    """The same in a real new PID namespace (unshare --pid --mount-proc), where the live outer pid is absent."""
    live = tmp_path / f".shot.0001.exr.{atomic.host_tag()}-{os.getpid()}.0123456789ab.tmp"
    live.write_bytes(b"being written")
    code = (
        "import sys; from pathlib import Path; from engine.pipeline.outputs import clean_stale_temps; "
        "print(len(clean_stale_temps(Path(sys.argv[1]), 'shot')))"
    )
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no PID namespaces here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0" and live.read_bytes() == b"being written"
