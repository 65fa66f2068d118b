"""#9, service half: output paths (item 9), bounded settings, listings and journal (item 10), jobs
stuck in a blocking read (item 5), no test hooks in the product (item 14). Each test fails on the
code before the fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from service_helpers import REPO, SERVER_ENTRY, engine_env, wait_terminal

from engine.errors import ConfigError, JobCancelled, OutputError
from engine.pipeline.config import RenderConfig
from engine.service import journal, protocol
from engine.service.jobs import JOURNAL_KEEP, MAX_SETTINGS_BYTES, JobQueue
from engine.service.journal import read_journal


def raw_request(info, message: dict) -> dict:
    """One request on a fresh raw connection (no client-side path fixing)."""
    with socket.create_connection((info.host, info.port), timeout=10) as sock:
        reader = protocol.LineReader(sock)
        sock.sendall(protocol.encode(protocol.hello(info.token)))
        assert protocol.decode(reader.readline())["ok"] is True
        sock.sendall(protocol.encode({"id": 1, **message}))
        return protocol.decode(reader.readline())


def state_dir_of(engine) -> Path:
    return Path(engine.info.path).parent / "state"


# --- item 9: where a job may write -----------------------------------------------------------------


def test_output_inside_the_engine_state_folder_is_refused(fake_engine, source_file, tmp_path):
    state = state_dir_of(fake_engine)
    link = tmp_path / "innocent"
    link.symlink_to(state)
    with fake_engine.connect() as client:
        for output in (state / "previews" / "mine", link / "previews" / "x", state):
            with pytest.raises(OutputError, match="state folder"):
                client.submit({"source": str(source_file), "output": str(output)})
    assert not (state / "previews" / "mine").exists() and not (state / "previews" / "x").exists()


def test_relative_paths_are_refused_on_the_wire_and_resolved_by_the_client(fake_engine, source_file, tmp_path,
                                                                            monkeypatch):
    reply = raw_request(fake_engine.info, {"type": "submit", "settings": {"source": str(source_file),
                                                                           "output": "toon"}})
    assert reply["ok"] is False and reply["error"]["code"] == "bad_config"
    assert "relative" in reply["error"]["message"] and "'toon'" in reply["error"]["message"]
    monkeypatch.chdir(tmp_path)
    with fake_engine.connect() as client:  # the client resolves against ITS folder, never the engine's
        job = client.submit({"source": source_file.name, "output": "toon", "frames": "1-2"})
        assert wait_terminal(client, job)[0]["event"] == "job_done"
    assert sorted(p.name for p in (tmp_path / "toon").iterdir()) == ["plate.0001.txt", "plate.0002.txt"]
    assert not (REPO / "toon").exists()


@pytest.mark.parametrize("settings", [
    {"output": "/tmp/out\x00put"},
    {"source": "/tmp/pl\x00ate.mp4"},
    {"models_dir": "/m\x00"},
    {"output": "/" + "x" * 5000},
])
def test_nul_bytes_and_unusable_paths_are_bad_config_not_internal(fake_engine, source_file, tmp_path, settings):
    full = {"source": str(source_file), "output": str(tmp_path / "o"), **settings}
    for kind, extra in (("submit", {}), ("preview", {"frame": 1})):
        reply = raw_request(fake_engine.info, {"type": kind, "settings": full, **extra})
        assert reply["ok"] is False and reply["error"]["code"] == "bad_config", reply


# --- item 10: bounded settings, paged listings, append-only journal --------------------------------


def test_huge_settings_are_refused_and_listings_page(fake_engine, source_file, tmp_path):
    with fake_engine.connect() as client:
        with pytest.raises(ConfigError, match="KiB limit"):
            client.submit({"source": str(source_file), "output": str(tmp_path / "h"), "note": "n" * 900_000})
        jobs = [client.submit({"source": str(source_file), "output": str(tmp_path / f"o{i}"), "frames": "1",
                               "note": "n" * (MAX_SETTINGS_BYTES - 2000)}) for i in range(40)]
        for job in jobs:
            client.subscribe(job)
        listed = {j["job"] for j in client.jobs()}  # ~1.2 MB of settings: more than one line may hold
        first_page = client.request("jobs")
        assert first_page["next"] is not None and 0 < len(first_page["jobs"]) < first_page["total"]
        assert client.status(jobs[-1])["settings"]["note"].startswith("n")
    assert set(jobs) <= listed


def test_a_huge_job_from_an_old_journal_is_listed_trimmed(tmp_path):
    import json

    huge = {"id": "old", "state": "done", "device": "cpu",
            "settings": {"source": "/s.mp4", "output": "/o", "note": "n" * 3_000_000}}
    (tmp_path / journal.LEGACY_FILE_NAME).write_text(json.dumps({"version": 1, "jobs": [huge]}))
    queue = JobQueue(lambda *_: None, runner=quick_runner, model_cache_factory=None, state_dir=tmp_path)
    try:
        (summary,) = queue.list()
        assert summary["settings"] == {"source": "/s.mp4", "output": "/o", "settings_trimmed": True}
        assert len(protocol.encode({"id": 1, "ok": True, "jobs": [summary], **queue.status("old")})) < 1 << 17
    finally:
        queue.close()
    assert not (tmp_path / journal.LEGACY_FILE_NAME).exists()  # replaced by the append-only journal
    assert [r["id"] for r in read_journal(tmp_path / journal.FILE_NAME)] == ["old"]


def quick_runner(config, on_event, cancel, models) -> dict:
    on_event({"event": "progress", "done": 1, "total": 1})
    return {"outputs": [], "count": 0}


def test_the_journal_is_appended_to_and_compacted_not_rewritten_per_change(tmp_path):
    done = threading.Semaphore(0)

    def publish(job_id, message):
        if message.get("event") == "job_done":
            done.release()

    queue = JobQueue(publish, runner=quick_runner, model_cache_factory=None, state_dir=tmp_path,
                     default_device="cpu")
    first = queue.submit({"source": "/s", "output": "/o"})
    assert done.acquire(timeout=10)
    path = tmp_path / journal.FILE_NAME
    inode, size = path.stat().st_ino, path.stat().st_size
    second = queue.submit({"source": "/s", "output": "/o2"})
    assert done.acquire(timeout=10)
    assert path.stat().st_ino == inode and path.stat().st_size > size  # appended, not replaced
    assert [r["state"] for r in read_journal(path)] == ["done", "done"]
    total = JOURNAL_KEEP + 250
    for _ in range(total - 2):
        queue.submit({"source": "/s", "output": "/o"})
        assert done.acquire(timeout=10)
    lines = path.read_bytes().count(b"\n")
    assert lines <= max(journal.COMPACT_MIN_LINES, journal.COMPACT_FACTOR * JOURNAL_KEEP) + 1
    queue.close()
    reopened = JobQueue(publish, runner=quick_runner, model_cache_factory=None, state_dir=tmp_path)
    kept = reopened.list()
    assert len(kept) == JOURNAL_KEEP and first.id not in {j["job"] for j in kept}
    assert second.id not in {j["job"] for j in kept}
    reopened.close()


# --- item 5: a job stuck in a blocking read -------------------------------------------------------


def fifo_reader(config, on_event, cancel, models) -> dict:
    """Opens its source for reading: on a FIFO nobody writes to, that blocks, whatever ``cancel`` says."""
    with open(config.source, "rb") as handle:
        handle.read()
    on_event({"event": "progress", "done": 1, "total": 1})
    if cancel.is_set():
        raise JobCancelled("cancelled")
    return {"outputs": [], "count": 1}


def release_fifo(path: Path) -> None:
    """Open the FIFO for writing and close it: a reader blocked on it sees end of file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_a_job_stuck_in_a_blocking_read_is_abandoned_on_cancel_and_the_worker_goes_on(tmp_path):
    fifo = tmp_path / "plate.fifo"
    os.mkfifo(fifo)
    events: list[tuple[str, dict]] = []
    ended = threading.Event()

    def publish(job_id, message):
        events.append((job_id, message))
        if message.get("event") in protocol.TERMINAL_EVENTS:
            ended.set()

    queue = JobQueue(publish, runner=fifo_reader, model_cache_factory=None, state_dir=tmp_path / "state",
                     default_device="cpu")
    queue.cancel_grace_s = 0.5
    try:
        stuck = queue.submit({"source": str(fifo), "output": "/o"})
        time.sleep(0.3)
        assert queue.get(stuck.id).state == "running"
        started = time.monotonic()
        queue.cancel(stuck.id)
        assert ended.wait(5), "the cancel never ended the stuck job"
        assert time.monotonic() - started < 3.0
        terminal = [m for j, m in events if j == stuck.id][-1]
        assert terminal["event"] == "job_cancelled" and terminal["abandoned"] is True
        regular = tmp_path / "plate.bin"
        regular.write_bytes(b"x")
        ended.clear()
        after = queue.submit({"source": str(regular), "output": "/o"})
        assert ended.wait(5) and queue.get(after.id).state == "done"  # the device's worker is free
    finally:
        release_fifo(fifo)
        queue.close()
    assert queue.get(stuck.id).state == "cancelled"
    assert not [m for j, m in events if j == stuck.id and m["event"] == "progress"]  # it stayed silent


def test_an_engine_job_reading_a_fifo_can_be_cancelled(fake_engine, tmp_path):
    fifo = tmp_path / "plate.fifo"
    os.mkfifo(fifo)
    try:
        with fake_engine.connect() as client:
            job = client.submit({"source": str(fifo), "output": str(tmp_path / "o"), "frames": "1-3"})
            time.sleep(0.3)
            client.cancel(job)
            terminal, _ = wait_terminal(client, job, timeout_s=30)
            assert terminal["event"] == "job_cancelled"
            other = tmp_path / "plate.bin"
            other.write_bytes(b"x")
            second = client.submit({"source": str(other), "output": str(tmp_path / "o2"), "frames": "1"})
            assert wait_terminal(client, second)[0]["event"] == "job_done"
    finally:
        release_fifo(fifo)


def fifo_preview(config, frame, out_dir, models) -> dict:
    with open(config.source, "rb") as handle:
        handle.read()
    return {"path": str(Path(out_dir) / "p.png"), "frame": frame}


def test_a_preview_stuck_in_a_blocking_read_is_given_up_and_the_lane_goes_on(tmp_path):
    fifo, regular = tmp_path / "plate.fifo", tmp_path / "plate.bin"
    os.mkfifo(fifo)
    regular.write_bytes(b"x")
    replies: list[tuple[dict | None, BaseException | None]] = []
    answered = threading.Semaphore(0)

    def done(result, error):
        replies.append((result, error))
        answered.release()

    queue = JobQueue(lambda *_: None, runner=quick_runner, preview_runner=fifo_preview, model_cache_factory=None,
                     state_dir=tmp_path / "state", default_device="cpu")
    queue.preview_timeout_s = 0.5
    try:
        queue.preview({"source": str(fifo), "output": "/o"}, 3, tmp_path / "state" / "previews", done)
        assert answered.acquire(timeout=5)
        assert "did not finish within 0.5 s" in str(replies[0][1]) and replies[0][1].code == "transient"
        queue.preview({"source": str(regular), "output": "/o"}, 4, tmp_path / "state" / "previews", done)
        assert answered.acquire(timeout=5) and replies[1][0]["frame"] == 4
        assert not queue.busy()
    finally:
        release_fifo(fifo)
        queue.close()


# --- item 14: no test hooks in the product ---------------------------------------------------------


@pytest.mark.parametrize("entry", [("-m", "engine.service.server"), ("-m", "engine", "serve")])
def test_product_entry_points_cannot_load_code(tmp_path, entry):
    proc = subprocess.run([sys.executable, *entry, "--connection-file", str(tmp_path / "c.json"),
                           "--job-runner", "os:system"], env=engine_env(tmp_path / "s"), cwd=str(REPO),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unrecognized arguments: --job-runner" in proc.stderr
    assert not (tmp_path / "c.json").exists()


def test_render_config_carries_no_extra_settings(fake_engine, source_file, tmp_path):
    config = RenderConfig.from_dict({"source": "/a", "output": "/b", "delay_s": 5})
    assert not hasattr(config, "extra") and "delay_s" not in config.to_dict()
    assert RenderConfig.unknown_keys({"source": "/a", "output": "/b", "delay_s": 5}) == ["delay_s"]
    assert SERVER_ENTRY[0].startswith(str(REPO / "tests"))  # the stand-in runner lives in test code only


def test_windows_device_names_are_refused_on_the_wire_before_anything_is_made(fake_engine, source_file, tmp_path):
    reply = raw_request(fake_engine.info, {"type": "submit", "settings": {
        "source": str(source_file), "output": str(tmp_path / "shows" / "CON")}})
    assert reply["ok"] is False and reply["error"]["code"] == "output_error"
    assert "'CON'" in reply["error"]["message"]
    assert reply["error"]["fix"] == "name the folder otherwise, e.g. 'CON_renders'"
    reply = raw_request(fake_engine.info, {"type": "submit", "settings": {
        "source": str(source_file), "output": str(tmp_path / "toon"), "name": "nul"}})
    assert reply["ok"] is False and reply["error"]["code"] == "bad_config" and "'nul'" in reply["error"]["message"]
    assert not (tmp_path / "shows").exists() and not (tmp_path / "toon").exists()


def test_an_unknown_job_id_of_a_megabyte_is_not_echoed_back(fake_engine):
    # Before: "no job 'aaaa...'" quoted the whole id, so a 1 MB id came back as a 1 MB reply line (and an id
    # of escaped characters could make the reply pass the 1 MiB line limit).
    reply = raw_request(fake_engine.info, {"type": "status", "job": "a" * 1_000_000})
    assert reply["ok"] is False and reply["error"]["code"] == "unknown_job"
    assert reply["error"]["message"] == ("no job '" + "a" * 40 + "' (1000000 characters) "
                                         "(list jobs with the 'jobs' request)")


def test_a_home_relative_path_is_expanded_by_the_client_not_made_into_a_folder_named_tilde(fake_engine, source_file,
                                                                                            tmp_path, monkeypatch):
    # Before: EngineClient.submit made "~/toon" absolute as "<working folder>/~/toon", so the engine made a
    # folder literally named "~" there (which a later `rm -rf ~` in that folder would make fatal).
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    with fake_engine.connect() as client:
        job = client.submit({"source": str(source_file), "output": "~/toon", "frames": "1-2"})
        assert wait_terminal(client, job)[0]["event"] == "job_done"
    assert sorted(p.name for p in (home / "toon").iterdir()) == ["plate.0001.txt", "plate.0002.txt"]
    assert list(work.iterdir()) == []


def test_a_folder_name_windows_cannot_hold_is_refused_on_the_wire(fake_engine, source_file, tmp_path):
    reply = raw_request(fake_engine.info, {"type": "submit", "settings": {
        "source": str(source_file), "output": str(tmp_path / "shows" / "take:2" / "v001")}})
    assert reply["ok"] is False and reply["error"]["code"] == "output_error"
    assert "'take:2' holds ':'" in reply["error"]["message"]
    assert reply["error"]["fix"] == "name the folder otherwise, e.g. 'take_2'"
    assert not (tmp_path / "shows").exists()


def _stranger_on_a_port(answer):
    """A listening socket that is not the engine: it reads the hello, then ``answer(conn)``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            try:
                answer(conn)
            except OSError:
                pass
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def _trickle(conn):
    for _ in range(40):  # a byte every 0.1 s, never a newline: 4 s in all
        conn.sendall(b"x")
        time.sleep(0.1)


@pytest.mark.parametrize("answer, expected", [
    (lambda c: c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
     r"answered hello with something other than the engine's protocol \(malformed JSON"),
    (lambda c: c.sendall(b"[1, 2]\n"), r"something other than the engine's protocol \(message is a JSON array"),
    (_trickle, r"did not answer hello \(no whole answer within 1 s\)"),
], ids=["http", "json-list", "trickle"])
def test_a_connection_file_pointing_at_another_program_is_unreachable_within_the_timeout(answer, expected):
    # Before: an HTTP server on a stale file's port raised a bare ProtocolError ("malformed JSON") naming no
    # port, and a peer trickling bytes held connect (Blender's UI) for as long as it trickled.
    from engine.errors import UnreachableError
    from engine.service.client import EngineClient
    from engine.service.connection import ConnectionInfo

    port = _stranger_on_a_port(answer)
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=expected) as info:
        EngineClient.connect(ConnectionInfo(host="127.0.0.1", port=port, token="t", pid=os.getpid()), timeout_s=1)
    assert time.monotonic() - started < 2.5
    assert f"127.0.0.1:{port}" in info.value.message
    assert "start the engine again" in info.value.fix or "restart it" in info.value.fix


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_or_a_huge_file_at_the_connection_path_reads_as_no_engine_at_once(tmp_path):
    # Before: read_text() opened the FIFO and waited for a writer forever (Blender's connect, `engine serve`).
    from engine.service.connection import read_connection_file

    fifo = tmp_path / "engine.json"
    os.mkfifo(fifo)
    found = []
    reader = threading.Thread(target=lambda: found.append(read_connection_file(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the stuck open so the test process can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert found == [None]
    huge = tmp_path / "huge.json"
    huge.write_text('{"host": "127.0.0.1", "port": 1, "token": "t", "pid": 1, "pad": "'
                    + "x" * (1 << 20) + '"}')  # a connection file is ~150 bytes
    assert read_connection_file(huge) is None
