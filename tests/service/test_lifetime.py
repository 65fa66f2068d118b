"""Engine lifetime with REAL processes: --idle-timeout ends an unused engine, --parent-pid ends an
engine whose parent was killed (kill -9), and neither ends an engine that still has work or clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from service_helpers import SERVER_ENTRY, engine_env, runner_args, wait_terminal

from engine.service.connection import load_connection_file
from engine.service.journal import read_journal
from engine.service.launcher import EngineProcess
from engine.service.server import PARENT_GRACE_S, Lifetime, process_alive

EXIT_SLACK_S = 10.0
"""Start-up and polling allowance on a loaded 2-core CI machine, on top of each timeout."""


def start_engine_with(root: Path, **lifetime) -> EngineProcess:
    engine = EngineProcess(args=[*runner_args(root), "--device", "cpu"],
                           connection_file=str(root / "engine.json"), env=engine_env(root / "state"),
                           entry=SERVER_ENTRY, timeout_s=60, **lifetime)
    return engine.start()


def wait_gone(pid: int, timeout_s: float) -> float:
    """Seconds until ``pid`` no longer runs (a zombie left behind by a killed parent counts as gone)."""
    started = time.monotonic()
    while process_alive(pid):
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"process {pid} still runs after {timeout_s:g} s")
        time.sleep(0.05)
    return time.monotonic() - started


def journal_states(root: Path) -> dict[str, str]:
    return {job["id"]: job["state"] for job in read_journal(root / "state" / "jobs.jsonl")}


@pytest.mark.parametrize("product", [False, True], ids=["test-entry", "engine-serve"])
def test_idle_engine_exits_cleanly_and_removes_its_connection_file(tmp_path, product):
    if product:  # the product entry point, python -m engine serve
        engine = EngineProcess(args=["--device", "cpu"], connection_file=str(tmp_path / "engine.json"),
                               env=engine_env(tmp_path / "state"), timeout_s=60, idle_timeout=1.0).start()
    else:
        engine = start_engine_with(tmp_path, idle_timeout=1.0)
    try:
        assert engine.proc.wait(1.0 + EXIT_SLACK_S) == 0
        assert not (tmp_path / "engine.json").exists()
    finally:
        engine.stop()


def test_connected_client_or_running_job_keeps_the_engine(tmp_path, source_file):
    engine = start_engine_with(tmp_path, idle_timeout=1.0)
    try:
        with engine.connect() as client:
            time.sleep(2.5)  # well past the idle timeout, with a client connected
            assert engine.proc.poll() is None and client.ping()["pong"]
            job = client.submit({"source": str(source_file), "output": str(tmp_path / "out"),
                                 "frames": "1-5", "delay_s": 0.6})
        time.sleep(2.0)  # no client now, but the job is still running
        assert engine.proc.poll() is None
        assert engine.proc.wait(3.0 + 1.0 + EXIT_SLACK_S) == 0  # after the job, the idle timeout ends it
        assert journal_states(tmp_path)[job] == "done"
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"plate.{n:04d}.txt" for n in range(1, 6)]
        assert not (tmp_path / "engine.json").exists()
    finally:
        engine.stop()


PARENT_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from engine.service.client import EngineClient
    from engine.service.launcher import start_engine
    root, entry, args, settings = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
    proc, info = start_engine(sys.executable, args, connection_file=os.path.join(root, "engine.json"),
                              entry=tuple(entry), parent_pid=os.getpid())
    client = EngineClient.connect(info)
    job = client.submit(settings)
    print(json.dumps({"engine_pid": proc.pid, "job": job}), flush=True)
    time.sleep(600)
""")


def start_parent(root: Path, settings: dict) -> tuple[subprocess.Popen, dict]:
    """A stand-in for Blender: it starts the engine with --parent-pid, submits a job, then idles."""
    root.mkdir(parents=True, exist_ok=True)
    script = root / "parent.py"
    script.write_text(PARENT_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(root), json.dumps(SERVER_ENTRY),
                               json.dumps([*runner_args(root), "--device", "cpu"]), json.dumps(settings)],
                              stdout=subprocess.PIPE, env=engine_env(root / "state"), text=True)
    line = parent.stdout.readline()
    assert line, f"the parent script did not start the engine (exit {parent.wait()})"
    return parent, json.loads(line)


def test_engine_exits_within_the_grace_when_its_parent_is_killed(tmp_path, source_file):
    settings = {"source": str(source_file), "output": str(tmp_path / "out"), "frames": "1-200", "delay_s": 0.2}
    parent, started = start_parent(tmp_path, settings)
    engine_pid = started["engine_pid"]
    try:
        assert (info := load_connection_file(tmp_path / "engine.json")) and info.pid == engine_pid
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        took = wait_gone(engine_pid, PARENT_GRACE_S + EXIT_SLACK_S)
        assert took >= PARENT_GRACE_S * 0.8  # it waited for the grace, not a crash
        assert not (tmp_path / "engine.json").exists()  # a clean exit
        assert journal_states(tmp_path)[started["job"]] == "cancelled"  # the dead parent's job was stopped
        assert len(list((tmp_path / "out").iterdir())) < 200
    finally:
        if process_alive(engine_pid):
            os.kill(engine_pid, signal.SIGKILL)


def test_a_parent_pid_no_process_can_have_counts_as_gone(tmp_path):
    """--parent-pid 2**40 once made the engine die of an internal OverflowError after it had started."""
    engine = start_engine_with(tmp_path, parent_pid=2**40)
    try:
        assert engine.proc.wait(PARENT_GRACE_S + EXIT_SLACK_S) == 0
        assert "is gone" in engine.stderr_tail() and "internal error" not in engine.stderr_tail()
        assert not (tmp_path / "engine.json").exists()
    finally:
        engine.stop()


def test_parent_gone_cancels_only_orphaned_jobs_and_waits_for_connected_clients(tmp_path, source_file):
    orphan_settings = {"source": str(source_file), "output": str(tmp_path / "orphan"), "frames": "1-200",
                       "delay_s": 0.2}
    parent, started = start_parent(tmp_path, orphan_settings)
    engine_pid = started["engine_pid"]
    try:
        info = load_connection_file(tmp_path / "engine.json")
        from engine.service.client import EngineClient

        with EngineClient.connect(info) as panel:  # another client (say the panel) with its own job
            mine = panel.submit({"source": str(source_file), "output": str(tmp_path / "mine"), "frames": "1-3",
                                 "delay_s": 0.1})
            panel.subscribe(started["job"])
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait(10)
            terminal, _ = wait_terminal(panel, started["job"], timeout_s=EXIT_SLACK_S)
            assert terminal["event"] == "job_cancelled"
            time.sleep(PARENT_GRACE_S + 1.0)
            assert process_alive(engine_pid)  # a client is still connected
            assert panel.status(mine)["state"] == "done"
            jobs = {j["job"]: j for j in panel.jobs()}
            assert jobs[started["job"]]["state"] == "cancelled" and jobs[mine]["state"] == "done"
        wait_gone(engine_pid, PARENT_GRACE_S + EXIT_SLACK_S)
        assert not (tmp_path / "engine.json").exists()
    finally:
        if process_alive(engine_pid):
            os.kill(engine_pid, signal.SIGKILL)


def test_zombie_counts_as_gone(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # exited but not reaped: a zombie
    assert not process_alive(child.pid)
    child.wait()


def test_lifetime_timer_restarts_whenever_there_is_work():
    lifetime = Lifetime(idle_timeout_s=5.0)
    assert not lifetime.should_exit(True, 100.0)
    assert not lifetime.should_exit(True, 104.0)
    assert not lifetime.should_exit(False, 104.5)  # a client came and went: the timer starts anew
    assert not lifetime.should_exit(True, 105.0)
    assert lifetime.should_exit(True, 110.0)
    assert Lifetime().limit_s() is None and not Lifetime().active


@pytest.mark.parametrize("value", ["nan", "-1"])
def test_an_idle_timeout_that_is_no_number_of_seconds_is_refused(tmp_path, value):
    """--idle-timeout nan was taken (float("nan")) and silently meant "never"."""
    done = subprocess.run([sys.executable, "-m", "engine", "serve", "--connection-file", str(tmp_path / "e.json"),
                           "--idle-timeout", value], env=engine_env(tmp_path / "state"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "idle timeout" in done.stderr and "pass 0 (never)" in done.stderr
    assert not (tmp_path / "e.json").exists()
