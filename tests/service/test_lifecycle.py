"""Engine process lifecycle: clean shutdown, signals, stale connection files, journal + resume."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from service_helpers import REPO, SERVER_ENTRY, engine_env, start_test_engine, wait_terminal

from engine.errors import ConfigError, UnreachableError
from engine.service.client import start_engine
from engine.service.connection import (
    ConnectionInfo,
    load_connection_file,
    read_connection_file,
    write_connection_file,
)
from engine.service.journal import read_journal


def test_shutdown_request_exits_cleanly_and_removes_the_connection_file(tmp_path):
    engine = start_test_engine(tmp_path)
    conn = Path(engine.info.path)
    assert read_connection_file(conn) == engine.info
    with engine.connect() as client:
        client.shutdown()
    assert engine.proc.wait(10) == 0
    assert not conn.exists()
    assert read_connection_file(conn) is None


def test_sigterm_exits_cleanly_and_removes_the_connection_file(tmp_path):
    engine = start_test_engine(tmp_path)
    engine.proc.send_signal(signal.SIGTERM)
    assert engine.proc.wait(10) == 0
    assert not Path(engine.info.path).exists()


def test_sighup_exits_cleanly_and_removes_the_connection_file(tmp_path):
    """Closing the terminal that ran ``engine serve`` (SIGHUP) stops it as SIGTERM does; its default
    action ended the process on the spot and left the connection file behind."""
    engine = start_test_engine(tmp_path)
    engine.proc.send_signal(signal.SIGHUP)
    assert engine.proc.wait(10) == 0
    assert not Path(engine.info.path).exists()


def test_stale_connection_file_is_replaced(tmp_path):
    conn = tmp_path / "engine.json"
    dead = ConnectionInfo("127.0.0.1", 9, "old-token", pid=2**22 + 12345)
    write_connection_file(dead, conn)
    assert read_connection_file(conn) is None  # stale: no such process
    engine = start_test_engine(tmp_path)
    try:
        fresh = load_connection_file(conn)
        assert fresh.pid == engine.proc.pid and fresh.token != "old-token"
    finally:
        engine.stop()


def test_a_connection_file_naming_an_impossible_pid_is_stale_and_replaced(tmp_path):
    """A forged or damaged file's pid of 2**40 once raised OverflowError from os.kill: every client's
    read_connection_file crashed, and the engine refused to start with an internal error."""
    conn = tmp_path / "engine.json"
    write_connection_file(ConnectionInfo("127.0.0.1", 9, "forged", pid=2**40), conn)
    assert read_connection_file(conn) is None
    engine = start_test_engine(tmp_path)
    try:
        assert load_connection_file(conn).pid == engine.proc.pid
    finally:
        engine.stop()


def test_second_engine_refuses_a_live_connection_file_and_says_why(tmp_path):
    engine = start_test_engine(tmp_path)
    try:
        with pytest.raises(UnreachableError) as err:
            start_engine(sys.executable, ["--state-dir", str(tmp_path / "s2")], connection_file=engine.info.path,
                         env=engine_env(tmp_path / "s2"), timeout_s=20, entry=SERVER_ENTRY, cwd=str(REPO))
        assert "already running" in err.value.message  # the child's stderr tail is in the error
        assert load_connection_file(engine.info.path) == engine.info  # the live file was left alone
    finally:
        engine.stop()


RACE_SCRIPT = """
import sys, time
import engine_entry
start_at = float(sys.argv[1])
while time.time() < start_at:
    time.sleep(0.0005)
sys.exit(engine_entry.main(sys.argv[2:]))
"""


def test_engines_started_at_once_on_one_connection_file_leave_exactly_one_running(tmp_path):
    """Checking for a live engine and writing the connection file were two steps: engines started in
    the same instant (the add-on and the panel each starting one) both passed the check, the later
    one's file replaced the earlier one's, and that engine ran on where no client could find it."""
    conn = tmp_path / "engine.json"
    for round_ in range(3):
        start_at = time.time() + 3.0  # every engine has imported the service by then
        procs = [subprocess.Popen([sys.executable, "-c", RACE_SCRIPT, str(start_at), "--state-dir",
                                   str(tmp_path / f"state{round_}-{i}"), "--job-runner", "jobrunners:write_frames",
                                   "--no-model-cache", "--connection-file", str(conn), "--idle-timeout", "4"],
                                  env=engine_env(tmp_path / f"state{round_}-{i}"), cwd=str(REPO),
                                  stderr=subprocess.PIPE, text=True) for i in range(3)]
        try:
            results = [(proc.wait(30), proc.stderr.read()) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        served = [err for code, err in results if code == 0]  # ran until its idle timeout
        assert len(served) == 1, results
        refused = [(code, err) for code, err in results if code != 0]
        assert all(code == 2 and "already running" in err for code, err in refused), refused
        assert not conn.exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith("engine")]


def test_killed_engine_marks_jobs_interrupted_and_resume_finishes_them(tmp_path):
    source = tmp_path / "plate.bin"
    source.write_bytes(b"plate" * 10)
    out = tmp_path / "out"
    engine = start_test_engine(tmp_path / "e")
    with engine.connect() as client:
        job = client.submit({"source": str(source), "output": str(out), "frames": "1-200", "delay_s": 0.02})
        while client.wait_event(10)["event"] != "frame_done":
            pass
        queued = client.submit({"source": str(source), "output": str(tmp_path / "q"), "frames": "1-2"})
    os.kill(engine.proc.pid, signal.SIGKILL)  # no chance to clean up
    engine.proc.wait(10)
    journal = read_journal(tmp_path / "e" / "state" / "jobs.jsonl")
    assert {j["id"]: j["state"] for j in journal} == {job: "running", queued: "queued"}
    written = len(list(out.glob("*.txt")))
    assert 1 <= written < 200

    engine = start_test_engine(tmp_path / "e")  # same state dir, stale connection file replaced
    try:
        with engine.connect() as client:
            assert client.status(job)["state"] == "interrupted"
            assert client.status(queued)["state"] == "interrupted"
            assert client.subscribe(job) == "interrupted"
            assert client.wait_event(5)["state"] == "interrupted"
            assert client.resume(job) == job  # same id, requeued with resume=True
            with pytest.raises(ConfigError):  # it is queued/running again: not resumable twice
                client.resume(job)
            end, _ = wait_terminal(client, job, timeout_s=30)
            assert end["event"] == "job_done"
            assert end["result"]["skipped"] >= written  # resume=True: frames already written were kept
            assert client.status(job)["settings"]["resume"] is True
        assert len(list(out.glob("*.txt"))) == 200
    finally:
        engine.stop()


def test_start_engine_reports_the_engine_stderr_when_it_dies(tmp_path):
    started = time.monotonic()
    with pytest.raises(UnreachableError) as err:
        start_engine(sys.executable, ["--device", "tpu"], connection_file=str(tmp_path / "c.json"),
                     env=engine_env(tmp_path), timeout_s=20, entry=SERVER_ENTRY, cwd=str(REPO))
    assert "exited with code 2" in err.value.message and "unknown device 'tpu'" in err.value.message
    assert time.monotonic() - started < 15


def run_engine_briefly(args: list[str], tmp_path: Path, entry: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *entry, *args], check=False, cwd=REPO, env=engine_env(tmp_path / "state"),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("entry", [SERVER_ENTRY, ("-m", "engine", "serve")])
def test_busy_port_is_a_one_line_config_error(tmp_path, entry):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = run_engine_briefly(["--port", str(port), "--connection-file", str(tmp_path / "c.json")], tmp_path,
                                  entry)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}"), proc.stderr
    assert "--port" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "c.json").exists()


def test_unwritable_connection_file_is_a_one_line_config_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    proc = run_engine_briefly(["--connection-file", str(blocker / "engine.json")], tmp_path, SERVER_ENTRY)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the connection file"), proc.stderr
    assert "--connection-file" in lines[0]


def test_sigterm_while_a_job_computes_without_a_cancel_check_exits_0_within_two_seconds(tmp_path):
    """SIGTERM to an engine whose job sits in seconds of torch work with no cancel check (measured with
    full-size models: mid-frame on one thread): it waited the 10 s cancel grace, then exited -6 (SIGABRT:
    torch's threads torn down under the abandoned job thread), a crash against the documented exit 0.
    Now: the job gets 1 s, is journalled interrupted, no new file write starts, and the engine exits 0."""
    import time

    engine = start_test_engine(tmp_path, runner="jobrunners:compute_ignoring_cancel", extra_args=())
    with engine.connect() as client:
        job = client.submit({"source": str(tmp_path / "in.mov"), "output": str(tmp_path / "out"),
                             "frames": "1-2"})
        client.subscribe(job)
        deadline = time.monotonic() + 60
        while client.status(job)["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        sent = time.monotonic()
        engine.proc.send_signal(signal.SIGTERM)
        code = engine.proc.wait(30)
        took = time.monotonic() - sent
    assert code == 0
    assert took < 2.5, took
    assert not Path(engine.info.path).exists()
    states = {record["id"]: record["state"] for record in read_journal(tmp_path / "state" / "jobs.jsonl")}
    assert states.get(job) == "interrupted", states
