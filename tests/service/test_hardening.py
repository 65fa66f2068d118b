"""Review findings, each pinned by a test that fails on the old code: lone surrogates, pre-auth
exhaustion, preview limits, failed resumes, slow readers, unbounded growth.

Most tests run an in-process EngineServer (real loopback sockets, real threads) so limits and
timeouts can be made small; the wire-level ones talk to the shared engine process (``fake_engine``).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from pathlib import Path

import pytest
from service_helpers import wait_terminal

from engine.errors import BusyError, ConfigError, EngineError, JobCancelled, OutputError, ProtocolError
from engine.service import protocol
from engine.service.client import EngineClient, EventQueue
from engine.service.connection import ConnectionInfo
from engine.service.jobs import JobQueue
from engine.service.journal import read_journal
from engine.service.server import EngineServer, encode_for_peer

# --- helpers ------------------------------------------------------------------------------------


def quick_runner(config, on_event, cancel, models) -> dict:
    """Emits ``events`` progress events of ``pad`` bytes each, waits on ``gate`` if asked, no files."""
    pad = "x" * int(config.knobs.get("pad", 0))
    for done in range(int(config.knobs.get("events", 1))):
        if cancel.is_set():
            raise JobCancelled("cancelled")
        on_event({"event": "progress", "done": done + 1, "total": 1, "pad": pad})
    time.sleep(float(config.knobs.get("delay_s", 0.0)))
    if cancel.is_set():
        raise JobCancelled("cancelled")
    return {"outputs": [], "count": 0, "name": config.knobs.get("label", "")}


class InProcessEngine:
    """EngineServer on a background thread with small, test-sized limits."""

    def __init__(self, tmp_path: Path, runner=quick_runner, preview_runner=None) -> None:
        def make_jobs(publish):
            return JobQueue(publish, runner=runner, preview_runner=preview_runner, model_cache_factory=None,
                            state_dir=tmp_path / "state", default_device="cpu")

        self.server = EngineServer("127.0.0.1", 0, jobs_factory=make_jobs, state_dir=tmp_path / "state")
        self.info = ConnectionInfo("127.0.0.1", self.server.port, self.server.token, pid=1)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_s": 0.05}, daemon=True)
        self.thread.start()

    def raw(self) -> tuple[socket.socket, protocol.LineReader]:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        return sock, protocol.LineReader(sock)

    def connect(self) -> EngineClient:
        return EngineClient.connect(self.info)

    def stop(self) -> float:
        """Stops the server; returns how long close() took."""
        self.server.stop_requested.set()
        self.thread.join(5)
        started = time.monotonic()
        self.server.close()
        return time.monotonic() - started


@pytest.fixture
def engine(tmp_path):
    running = InProcessEngine(tmp_path)
    yield running
    running.stop()


def wait_until(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def writer_threads(server: EngineServer) -> int:
    """How many of this server's connections have a writer thread running."""
    with server._lock:
        return sum(1 for session in server._sessions if session._writer.is_alive())


# --- 1. lone surrogates ------------------------------------------------------------------------


def test_decode_rejects_lone_surrogates_but_keeps_valid_pairs():
    with pytest.raises(ProtocolError, match="surrogate"):
        protocol.decode(b'{"type": "ping", "id": 1, "x": "\\ud800"}')
    with pytest.raises(ProtocolError, match="surrogate"):
        protocol.decode(b'{"type": "ping", "id": 1, "\\udfff": 1}')  # in a key too
    assert protocol.decode(b'{"x": "\\ud83d\\ude00"}') == {"x": "\U0001F600"}  # a proper pair is fine


def test_encode_never_raises_unicode_errors():
    with pytest.raises(ProtocolError, match="surrogate"):
        protocol.encode({"type": "submit", "id": 1, "source": "\ud800.mp4"})
    line = protocol.encode({"event": "job_failed", "job": "j", "error": {"message": "bad \udcff name"}}, lossy=True)
    assert protocol.decode(line.rstrip(b"\n"))["error"]["message"] == "bad \ufffd name"
    data = encode_for_peer({"id": 3, "ok": True, "value": {1, 2}})  # not JSON at all: an error reply
    assert json.loads(data)["error"]["code"] == "protocol" and json.loads(data)["id"] == 3


def test_surrogate_submit_and_hello_are_refused_and_the_engine_keeps_serving(fake_engine, source_file, tmp_path):
    info = fake_engine.info
    sock = socket.create_connection((info.host, info.port), timeout=10)
    with sock:
        reader = protocol.LineReader(sock)
        sock.sendall(b'{"type": "hello", "token": "\\ud800", "protocol": 1}\n')
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and reply["error"]["code"] == "protocol"
        assert reader.readline() is None
    sock = socket.create_connection((info.host, info.port), timeout=10)
    with sock:
        reader = protocol.LineReader(sock)
        sock.sendall(protocol.encode(protocol.hello(info.token)))
        assert protocol.decode(reader.readline())["ok"] is True
        sock.sendall(b'{"type": "submit", "id": 99, "settings": {"source": "\\ud800", "output": "o"}}\n')
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and reply["error"]["code"] == "protocol" and "surrogate" in str(reply)
        sock.sendall(b'{"type": "jobs", "id": 100}\n')
        listing = protocol.decode(reader.readline())
        assert listing["id"] == 100 and listing["ok"] is True  # no bad job got in; the listing encodes
    with fake_engine.connect() as client:
        with pytest.raises(ProtocolError):  # the client refuses to send what it cannot encode
            client.submit({"source": "\ud800", "output": str(tmp_path / "o")})
        job = client.submit({"source": str(source_file), "output": str(tmp_path / "ok"), "frames": "1-2"})
        end, _ = wait_terminal(client, job)
        assert end["event"] == "job_done"


def test_a_crash_outside_the_runner_fails_the_job_and_the_worker_goes_on(tmp_path):
    seen: list[tuple[str, dict]] = []
    bad_ids: set[str] = set()

    def publish(job_id: str, message: dict) -> None:
        if job_id in bad_ids and message.get("event") == "job_done":
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        seen.append((job_id, message))

    queue = JobQueue(publish, runner=quick_runner, model_cache_factory=None, state_dir=tmp_path, default_device="cpu")
    first = queue.submit({"source": "s", "output": "a", "delay_s": 0.2})
    bad_ids.add(first.id)
    second = queue.submit({"source": "s", "output": "b"})
    assert wait_until(lambda: any(j == second.id and m["event"] == "job_done" for j, m in seen))
    assert queue.get(first.id).state == "failed" and queue.get(first.id).error["code"] == "internal"
    assert [m["event"] for j, m in seen if j == first.id][-1] == "job_failed"
    queue.close()


# --- 2. pre-auth exhaustion ----------------------------------------------------------------------


def test_hello_deadline_is_absolute_not_per_byte(engine):
    engine.server.doorman.timeout_s = 1.0
    sock, reader = engine.raw()
    started = time.monotonic()
    with sock:
        while time.monotonic() - started < 4.0:
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                break
            try:
                sock.sendall(b" ")  # a byte every 0.2 s kept a per-recv timeout alive for ever
            except OSError:
                break
        hung_up_after = time.monotonic() - started
        reply = protocol.decode(reader.readline())
        assert reply["error"]["code"] == "auth" and "no hello within 1 s" in reply["error"]["message"]
        assert reader.readline() is None
    assert 0.9 <= hung_up_after < 2.0


def test_pre_auth_lines_are_limited_to_4_kib(engine):
    sock, reader = engine.raw()
    with sock:
        sock.sendall(b'{"type": "hello", "token": "' + b"a" * 5000)  # no newline yet
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and "4096-byte limit" in reply["error"]["message"]
        assert reader.readline() is None
    with engine.connect() as client:  # after hello the 1 MiB limit applies
        assert client.request("ping", padding="p" * 100_000)["pong"] is True


def test_unauthenticated_connections_cost_no_thread_and_the_oldest_is_pushed_out(engine):
    engine.server.doorman.limit = 3
    threads_before = threading.active_count()
    idle = [engine.raw() for _ in range(3)]
    assert wait_until(lambda: len(engine.server.doorman) == 3)
    assert threading.active_count() == threads_before and not engine.server._sessions  # no thread each
    newcomer, _ = engine.raw()  # a fourth stranger pushes out the one that waited longest
    reply = protocol.decode(idle[0][1].readline())
    assert reply["ok"] is False and reply["error"]["code"] == "busy" and "waited longest" in reply["error"]["message"]
    assert idle[0][1].readline() is None
    with engine.connect() as client:  # a real client is admitted however many strangers wait
        assert client.ping()["pong"] is True
        assert writer_threads(engine.server) == 1
    for s, _ in [*idle[1:], (newcomer, None)]:
        s.close()


# --- 3. previews -------------------------------------------------------------------------------


def test_previews_stay_under_the_state_dir_with_unique_names(fake_engine, source_file, tmp_path):
    previews = Path(fake_engine.info.path).parent / "state" / "previews"
    settings = {"source": str(source_file), "output": str(tmp_path / "o")}
    with fake_engine.connect() as client:
        first = client.preview(settings, frame=3)
        second = client.preview(settings, frame=3)
        with pytest.raises(OutputError, match="previews are written under"):
            client.request("preview", settings=settings, frame=3, out_dir=str(tmp_path / "elsewhere"))
        with pytest.raises(OutputError):
            client.request("preview", settings=settings, frame=3, out_dir=str(previews / ".." / ".." / "x"))
    assert first["path"] != second["path"]
    for reply in (first, second):
        assert previews.resolve() in Path(reply["path"]).resolve().parents
        assert Path(reply["path"]).read_text().startswith("preview of")
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "o").exists()


def test_preview_lane_is_bounded_and_answers_busy(tmp_path):
    gate = threading.Event()
    results: list = []

    def slow_preview(config, frame, out_dir, models):
        gate.wait(10)
        return {"path": str(Path(out_dir) / "p.png"), "frame": frame}

    queue = JobQueue(lambda *_: None, runner=quick_runner, preview_runner=slow_preview, model_cache_factory=None,
                     state_dir=tmp_path, default_device="cpu")
    settings = {"source": "s", "output": "o"}

    def done(result, error):
        results.append((result, error))

    queue.preview(settings, 1, tmp_path / "previews", done)  # taken by the lane thread
    assert wait_until(lambda: queue._preview_lanes["cpu"].fifo.qsize() == 0)
    for frame in range(2, 6):
        queue.preview(settings, frame, tmp_path / "previews", done)
    with pytest.raises(BusyError, match="already waiting"):
        queue.preview(settings, 9, tmp_path / "previews", done)
    gate.set()
    assert wait_until(lambda: len(results) == 5)
    assert sorted(r["frame"] for r, e in results) == [1, 2, 3, 4, 5]
    assert len({Path(r["path"]).parent for r, _ in results}) == 5  # one folder per request
    queue.close()


def test_model_cache_memo_is_a_bounded_lru():
    pytest.importorskip("torch")
    from engine.pipeline.modelcache import BoundedMemo

    memo = BoundedMemo(max_entries=3)
    for key in "abc":
        memo[key] = key.upper()
    assert memo["a"] == "A"  # 'a' is now the newest
    memo["d"] = "D"
    assert "b" not in memo and all(k in memo for k in "acd") and len(memo) == 3
    assert memo.get("zzz") is None


# --- 7. resume ---------------------------------------------------------------------------------


def test_a_failed_resume_keeps_the_job_and_a_done_job_is_not_resumed(tmp_path):
    queue = JobQueue(lambda *_: None, runner=quick_runner, model_cache_factory=None, state_dir=tmp_path,
                     default_device="cpu")
    gate_job = queue.submit({"source": "s", "output": "slow", "delay_s": 0.3})
    waiting = queue.submit({"source": "s", "output": "w"})
    queue.cancel(waiting.id)
    done = queue.submit({"source": "s", "output": "d"})
    queue.cancel(gate_job.id)
    assert wait_until(lambda: queue.get(done.id).state == "done")
    with pytest.raises(ConfigError, match="already done"):
        queue.resume(done.id)
    queue.max_active_jobs = 0
    with pytest.raises(BusyError):
        queue.resume(waiting.id)
    assert queue.get(waiting.id).state == "cancelled"  # still there, unchanged
    assert waiting.id in {j["id"] for j in read_journal(tmp_path / "jobs.jsonl")}
    queue.max_active_jobs = 10
    assert queue.resume(waiting.id).settings["resume"] is True
    queue.close()


# --- 8. slow readers and shutdown ----------------------------------------------------------------


def test_a_client_that_stops_reading_is_dropped_and_shutdown_stays_fast(tmp_path):
    running = InProcessEngine(tmp_path)
    running.server.send_timeout_s = 0.5
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", running.server.port))
    reader = protocol.LineReader(stalled)
    stalled.sendall(protocol.encode(protocol.hello(running.info.token)))
    assert protocol.decode(reader.readline())["ok"] is True
    # thousands of 64 KiB events: far more than socket buffers hold; the client reads none of them
    stalled.sendall(protocol.encode({"type": "submit", "id": 1, "settings": {
        "source": "/s", "output": "/o", "events": 3000, "pad": 65536}}))
    try:
        assert wait_until(lambda: not running.server._sessions, timeout_s=15), "stalled client never dropped"
        with running.connect() as other:
            assert other.ping()["pong"] is True
    finally:
        took = running.stop()
        stalled.close()
    assert took < 5.0


def test_a_client_pipelining_requests_it_reads_slowly_is_slowed_not_buffered_for(tmp_path):
    """Each ``jobs`` reply may be 512 KiB: a client that sent requests faster than it read the replies
    made the engine queue them all (about 20 MB/s, up to HARD_LIMIT = 4096 replies, gigabytes)."""
    running = InProcessEngine(tmp_path)
    running.server.outgoing_bytes_limit = 1 << 20
    try:
        with running.connect() as client:
            for i in range(8):  # every jobs reply lists these: about 8 x 20 KB
                job = client.submit({"source": "/s", "output": f"/o{i}", "filler": "x" * 20_000})
                assert client.status(job)
        sock, reader = running.raw()
        sock.sendall(protocol.encode(protocol.hello(running.info.token)))
        assert protocol.decode(reader.readline())["ok"] is True
        sock.sendall(b"".join(protocol.encode({"type": "jobs", "id": i}) for i in range(1, 201)))  # ~32 MB of replies
        time.sleep(2.0)  # reads nothing meanwhile (all 200 requests are in the engine's socket buffer)
        with running.server._lock:
            (session,) = [s for s in running.server._sessions if s.client_id != 1]
        reply_size = len(json.dumps(running.server.jobs.list()))
        queued = sum(len(item) for item in list(session.outgoing._items) if item)
        assert queued <= (1 << 20) + 2 * reply_size, f"{queued} bytes queued for a client that reads nothing"
        ids = [protocol.decode(reader.readline())["id"] for _ in range(200)]  # then every reply, in order
        assert ids == list(range(1, 201))
        sock.close()
    finally:
        running.stop()


# --- 9. growth limits --------------------------------------------------------------------------


def test_finished_jobs_are_pruned_in_memory_and_active_jobs_are_capped(tmp_path, monkeypatch):
    from engine.service import jobs as jobs_module

    monkeypatch.setattr(jobs_module, "JOURNAL_KEEP", 3)
    queue = JobQueue(lambda *_: None, runner=quick_runner, model_cache_factory=None, state_dir=tmp_path,
                     default_device="cpu")
    first = [queue.submit({"source": "s", "output": f"o{i}"}) for i in range(6)]
    # through list(): a job that finished before a later submit may already be pruned (get() would raise)
    assert wait_until(lambda: all(j["state"] == "done" for j in queue.list()))
    latest = queue.submit({"source": "s", "output": "last", "delay_s": 1})
    assert len(queue.list()) == 4  # 3 finished + the new one
    assert {j["job"] for j in queue.list()} == {*(j.id for j in first[3:]), latest.id}
    queue.max_active_jobs = 2
    queue.submit({"source": "s", "output": "second"})
    with pytest.raises(BusyError, match="limit 2"):
        queue.submit({"source": "s", "output": "third"})
    queue.close()


def test_client_event_queue_is_bounded_and_keeps_terminal_events():
    events = EventQueue(limit=5)
    for n in range(10):
        events.put({"event": "progress", "job": "j", "done": n})
    assert len(events) == 5 and events.dropped == 5
    events.put({"event": "job_done", "job": "j"})
    assert len(events) == 5  # the oldest progress made room
    got = [events.get(0) for _ in range(5)]
    assert got[-1]["event"] == "job_done" and [e["done"] for e in got[:-1]] == [1, 2, 3, 4]
    assert events.get(0.01) is None


def test_engine_errors_for_busy_are_typed_on_the_wire(engine):
    with engine.connect() as client:
        engine.server.jobs.max_active_jobs = 0
        with pytest.raises(EngineError) as err:
            client.submit({"source": "s", "output": "o"})
        assert "limit 0" in err.value.message


def test_finished_jobs_leave_no_subscriptions_behind(engine):
    with engine.connect() as client:
        jobs = [client.submit({"source": "s", "output": f"o{i}"}) for i in range(5)]
        for job in jobs:
            assert wait_terminal(client, job)[0]["event"] == "job_done"
        assert client.subscribe(jobs[0]) == "done"
        assert client.wait_event(5)["event"] == "job_done"  # the replay still comes
        assert engine.server._subscribers == {}


def test_a_journal_from_before_the_fix_with_a_lone_surrogate_still_lists(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    bad = {"id": "oldbad", "settings": {"source": "\ud800.mp4", "output": "o"}, "device": "cpu", "state": "running"}
    (state / "jobs.json").write_text(json.dumps({"version": 1, "jobs": [bad]}))  # ASCII escapes, as written
    running = InProcessEngine(tmp_path)
    try:
        with running.connect() as client:
            listed = client.jobs()
            assert [(j["job"], j["state"], j["source"]) for j in listed] == [("oldbad", "interrupted", "\ufffd.mp4")]
            assert client.ping()["pong"] is True
    finally:
        running.stop()


# --- 10. duplicate keys --------------------------------------------------------------------------


def test_duplicate_keys_are_refused_so_a_ping_cannot_read_as_shutdown(engine):
    with pytest.raises(ProtocolError, match="repeats the key 'x'"):
        protocol.decode(b'{"type": "ping", "id": 1, "s": {"x": 1, "x": 2}}')  # nested objects too
    sock, reader = engine.raw()
    with sock:
        sock.sendall(protocol.encode(protocol.hello(engine.info.token)))
        assert protocol.decode(reader.readline())["ok"] is True
        sock.sendall(b'{"type": "ping", "id": 5, "type": "shutdown"}\n')  # was read as shutdown (last wins)
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and reply["id"] is None
        assert reply["error"]["code"] == "protocol" and "repeats the key 'type'" in reply["error"]["message"]
        assert reply["error"]["fix"] == "send each key at most once per JSON object"
        sock.sendall(b'{"type": "ping", "id": 6}\n')  # the connection stays open, the engine keeps serving
        assert protocol.decode(reader.readline())["pong"] is True
    assert not engine.server.stop_requested.is_set()
    sock, reader = engine.raw()
    with sock:  # a hello with two tokens is refused before authentication, and the connection closed
        sock.sendall(b'{"type": "hello", "protocol": 1, "token": "x", "token": "%s"}\n' % engine.info.token.encode())
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and reply["error"]["code"] == "protocol" and "'token'" in reply["error"]["message"]
        assert reader.readline() is None
