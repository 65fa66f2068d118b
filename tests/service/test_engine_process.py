"""A real engine process over a real socket: auth, jobs, events, cancel, failures, slow readers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from service_helpers import REPO, SERVER_ENTRY, engine_env, wait_terminal

from engine.errors import AuthError, ConfigError, UnknownJobError, UnreachableError
from engine.service import protocol
from engine.service.client import EngineClient
from engine.service.connection import ConnectionInfo
from engine.service.server import serve


def raw_connect(info: ConnectionInfo) -> tuple[socket.socket, protocol.LineReader]:
    sock = socket.create_connection((info.host, info.port), timeout=5)
    return sock, protocol.LineReader(sock)


def settings_for(source: Path, out: Path, frames: str = "1-4", **extra) -> dict:
    return {"source": str(source), "output": str(out), "frames": frames, **extra}


def test_hello_reports_engine_and_client_ids(fake_engine):
    with fake_engine.connect() as a, fake_engine.connect() as b:
        assert a.hello["ok"] is True and a.hello["protocol"] == 1
        assert a.engine_version == "0.1.0"
        assert a.client_id != b.client_id
        assert a.ping()["pong"] is True


def test_connection_file_is_private_and_names_the_process(fake_engine):
    path = Path(fake_engine.info.path)
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert set(data) == {"host", "port", "token", "pid", "protocol"}
    assert data["pid"] == fake_engine.proc.pid and data["host"] == "127.0.0.1"
    assert len(data["token"]) >= 40


@pytest.mark.parametrize("hello", [
    {"type": "hello", "token": "wrong-token", "protocol": 1},
    {"type": "hello", "protocol": 1},
    {"type": "ping", "id": 1},
    {"type": "hello", "token": 12345, "protocol": 1},
])
def test_bad_or_missing_token_is_refused_and_disconnected(fake_engine, hello):
    sock, reader = raw_connect(fake_engine.info)
    with sock:
        sock.sendall(protocol.encode(hello))
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and reply["error"]["code"] == "auth"
        sock.sendall(protocol.encode({"type": "ping", "id": 2}))  # ignored: the server hung up
        assert reader.readline() is None


def test_wrong_protocol_version_is_refused(fake_engine):
    sock, reader = raw_connect(fake_engine.info)
    with sock:
        sock.sendall(protocol.encode({"type": "hello", "token": fake_engine.info.token, "protocol": 99}))
        reply = protocol.decode(reader.readline())
        assert reply["error"]["code"] == "auth" and "protocol" in reply["error"]["message"]
        assert reader.readline() is None


def test_client_connect_raises_typed_errors(fake_engine, tmp_path):
    bad = ConnectionInfo(**dict(fake_engine.info.to_dict(), token="nope"))
    with pytest.raises(AuthError):
        EngineClient.connect(bad)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    with pytest.raises(UnreachableError) as err:
        EngineClient.connect(ConnectionInfo("127.0.0.1", free_port, "t", os.getpid()))
    assert "start" in err.value.fix
    with pytest.raises(UnreachableError):
        EngineClient.connect(None)


def test_non_loopback_bind_is_refused_in_process_and_as_a_process(tmp_path):
    with pytest.raises(ConfigError) as err:
        serve(host="0.0.0.0", connection_file=str(tmp_path / "c.json"), state_dir=str(tmp_path))
    assert "127.0.0.1" in err.value.message
    proc = subprocess.run([sys.executable, *SERVER_ENTRY, "--host", "192.168.1.5", "--connection-file",
                           str(tmp_path / "c.json")], check=False, cwd=REPO, env=engine_env(tmp_path),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "refusing to listen" in proc.stderr
    assert not (tmp_path / "c.json").exists()


def test_job_runs_with_progress_and_files(fake_engine, source_file, tmp_path):
    out = tmp_path / "out"
    with fake_engine.connect() as client:
        job = client.submit(settings_for(source_file, out, "1001-1004", name="shot"))
        done, events = wait_terminal(client, job)
    assert done["event"] == "job_done" and done["state"] == "done"
    kinds = [e["event"] for e in events]
    assert kinds.count("progress") == 4 and kinds.count("frame_done") == 4
    assert [e["done"] for e in events if e["event"] == "progress"] == [1, 2, 3, 4]
    assert all(e["job"] == job for e in events)
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"shot.{n}.txt" for n in range(1001, 1005)]
    assert (out / "shot.1003.txt").read_text().startswith("frame 1003 of plate.bin: 1200 bytes")
    assert done["result"]["frames"] == [1001, 1004] and done["result"]["count"] == 4
    with fake_engine.connect() as other:
        status = other.status(job)
        assert status["state"] == "done" and status["progress"]["done"] == 4
        assert status["result"]["outputs"] == [str(out / f"shot.{n}.txt") for n in range(1001, 1005)]
        assert job in [j["job"] for j in other.jobs()]


def test_settings_may_be_sent_at_top_level(fake_engine, source_file, tmp_path):
    with fake_engine.connect() as client:
        reply = client.request("submit", **settings_for(source_file, tmp_path / "o", "1-2"))
        done, _ = wait_terminal(client, reply["job"])
    assert done["event"] == "job_done" and len(list((tmp_path / "o").iterdir())) == 2


def test_bad_settings_are_rejected_with_the_config_error(fake_engine, tmp_path):
    with fake_engine.connect() as client:
        with pytest.raises(ConfigError) as err:
            client.submit({"source": "x.mp4", "output": str(tmp_path), "degree": "high"})
        assert "degree" in err.value.message
        with pytest.raises(ConfigError):
            client.submit({"source": "x.mp4"})
        with pytest.raises(UnknownJobError):
            client.status("no-such-job")


def test_cancel_mid_job_leaves_no_partial_files(fake_engine, source_file, tmp_path):
    out = tmp_path / "out"
    with fake_engine.connect() as client:
        job = client.submit(settings_for(source_file, out, "1-200", delay_s=0.02))
        while True:  # wait until it is really running
            event = client.wait_event(10)
            if event["event"] == "frame_done" and event["frame"] >= 3:
                break
        client.cancel(job)
        end, _ = wait_terminal(client, job)
        assert end["event"] == "job_cancelled" and client.status(job)["state"] == "cancelled"
    names = [p.name for p in out.iterdir()]
    assert 3 <= len(names) < 200
    assert not [n for n in names if n.endswith(".tmp")]
    assert all(Path(out / n).read_text().startswith("frame ") for n in names)


def test_cancel_queued_job_never_runs_it(fake_engine, source_file, tmp_path):
    with fake_engine.connect() as client:
        first = client.submit(settings_for(source_file, tmp_path / "a", "1-40", delay_s=0.02))
        second = client.submit(settings_for(source_file, tmp_path / "b", "1-2"))
        assert client.cancel(second) == "cancelled"
        end, _ = wait_terminal(client, second)
        assert end["event"] == "job_cancelled"
        client.cancel(first)
        wait_terminal(client, first)
    assert not (tmp_path / "b").exists()


def test_source_vanishing_mid_job_fails_with_the_input_error(fake_engine, source_file, tmp_path):
    with fake_engine.connect() as client:
        job = client.submit(settings_for(source_file, tmp_path / "out", "1-300", delay_s=0.01))
        while client.wait_event(10)["event"] != "frame_done":
            pass
        source_file.unlink()
        end, _ = wait_terminal(client, job)
        assert end["event"] == "job_failed" and end["error"]["code"] == "input_error"
        assert "plate.bin" in end["error"]["message"]
        status = client.status(job)
        assert status["state"] == "failed" and status["error"]["code"] == "input_error"


def test_disconnect_mid_job_then_resubscribe_from_another_connection(fake_engine, source_file, tmp_path):
    first = fake_engine.connect()
    job = first.submit(settings_for(source_file, tmp_path / "out", "1-30", delay_s=0.02))
    assert first.wait_event(10)["job"] == job
    first.close()  # the job goes on without its submitter
    with fake_engine.connect() as second:
        assert second.subscribe(job) in ("running", "done")
        replay = second.wait_event(5)
        assert replay["job"] == job and replay["event"] in ("progress", "job_done")
        end, _ = wait_terminal(second, job)
        assert end["event"] == "job_done" and end["result"]["count"] == 30
        assert second.subscribe(job) == "done"  # late subscribers get the terminal event replayed
        assert second.wait_event(5)["event"] == "job_done"
    assert len(list((tmp_path / "out").iterdir())) == 30


def test_three_clients_three_jobs_each_see_only_their_own_events(fake_engine, source_file, tmp_path):
    results: dict[int, tuple[list[str], list[dict]]] = {}

    def client_run(index: int) -> None:
        with fake_engine.connect() as client:
            jobs = [client.submit(settings_for(source_file, tmp_path / f"c{index}j{k}", "1-5", delay_s=0.005))
                    for k in range(3)]
            events, finished = [], set()
            deadline = time.monotonic() + 60
            while len(finished) < 3 and time.monotonic() < deadline:
                event = client.wait_event(1.0)
                if event is not None:
                    events.append(event)
                    if event["event"] in protocol.TERMINAL_EVENTS:
                        finished.add(event["job"])
            results[index] = (jobs, events)

    threads = [threading.Thread(target=client_run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert sorted(results) == [0, 1, 2]
    all_jobs = [j for jobs, _ in results.values() for j in jobs]
    assert len(set(all_jobs)) == 9
    for jobs, events in results.values():
        assert {e["job"] for e in events} == set(jobs)  # nothing from other clients' jobs
        for job in jobs:
            mine = [e for e in events if e["job"] == job]
            assert [e["event"] for e in mine].count("frame_done") == 5
            assert mine[-1]["event"] == "job_done"
    for index in range(3):
        for k in range(3):
            assert len(list((tmp_path / f"c{index}j{k}").iterdir())) == 5


def test_slow_reader_never_blocks_the_worker_and_still_gets_terminal_event(fake_engine, source_file, tmp_path):
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((fake_engine.info.host, fake_engine.info.port))
    reader = protocol.LineReader(slow)
    slow.sendall(protocol.encode(protocol.hello(fake_engine.info.token)))
    assert protocol.decode(reader.readline())["ok"] is True
    # ~3000 progress events of 8 KiB each: far more than the socket buffers hold
    settings = settings_for(source_file, tmp_path / "out", "1-30", pad_bytes=8192, progress_per_frame=100)
    slow.sendall(protocol.encode({"type": "submit", "id": 1, "settings": settings}))
    with fake_engine.connect() as watcher:
        deadline = time.monotonic() + 30
        job = None
        while time.monotonic() < deadline:
            running = [j for j in watcher.jobs() if j["output"] == str(tmp_path / "out")]
            if running and running[0]["state"] == "done":
                job = running[0]["job"]
                break
            time.sleep(0.1)
        assert job is not None, "the worker was blocked by a client that does not read"
        assert watcher.ping()["pong"]
    # now read everything: the reply, some progress, and (never dropped) the terminal event
    slow.settimeout(10)
    kinds = []
    while True:
        line = reader.readline()
        if line is None:
            break
        message = protocol.decode(line)
        kinds.append(message.get("event", "reply"))
        if message.get("event") == "job_done":
            break
    slow.close()
    assert kinds[0] == "reply"
    assert kinds.count("progress") < 3000  # some were dropped ...
    assert kinds[-1] == "job_done"  # ... but not the terminal event


def test_preview_runs_beside_the_queue(fake_engine, source_file, tmp_path):
    with fake_engine.connect() as client:
        long_job = client.submit(settings_for(source_file, tmp_path / "long", "1-1000", delay_s=0.02))
        preview = client.preview(settings_for(source_file, tmp_path / "p"), frame=7)
        assert preview["frame"] == 7 and Path(preview["path"]).read_text().startswith("preview of")
        assert client.status(long_job)["state"] in ("queued", "running")  # did not wait behind the 20 s job
        client.cancel(long_job)
        wait_terminal(client, long_job)


def test_on_event_callback_receives_events_instead_of_the_queue(fake_engine, source_file, tmp_path):
    seen, done = [], threading.Event()
    with fake_engine.connect() as client:
        client.on_event = lambda e: (seen.append(e), e["event"] == "job_done" and done.set())
        job = client.submit(settings_for(source_file, tmp_path / "o", "1-3"))
        assert done.wait(10)
        assert client.poll_events() == []
    assert [e["event"] for e in seen if e["event"] == "frame_done"] == ["frame_done"] * 3
    assert all(e["job"] == job for e in seen)
