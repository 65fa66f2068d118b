"""The engine's own state folder, attacked between and during runs: links planted at the journal's
name or as the previews folder, other people's folders beside the previews, outputs in system folders.

Rule: the engine never writes or deletes through a link it did not make; a link at one of its own
names is replaced (the file it points at is left alone) or refused with a clear error."""

from __future__ import annotations

import os
import threading

import pytest

from engine.errors import OutputError, UnknownJobError
from engine.service.jobs import JobQueue, check_settings, prune_preview_folders
from engine.service.journal import read_journal


def _runner(config, on_event, cancel, models):
    return {"outputs": [], "pattern": "", "frames": [1, 1], "count": 0, "backend": "stand-in"}


def _preview_runner(config, frame, out_dir, models):
    return {"path": os.path.join(out_dir, "p.png"), "frame": frame}


def _queue(state):
    return JobQueue(lambda *a: None, runner=_runner, preview_runner=_preview_runner, model_cache_factory=None,
                    state_dir=state, default_device="cpu")


def _submit_and_wait(queue, tmp_path):
    job = queue.submit({"source": str(tmp_path / "plate.mp4"), "output": str(tmp_path / "out")})
    for _ in range(200):
        if queue.status(job.id)["state"] == "done":
            return job
        threading.Event().wait(0.02)
    raise AssertionError(queue.status(job.id))


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return victim


def test_a_journal_swapped_for_a_link_between_runs_is_neither_read_nor_written_through(tmp_path):
    # Before: the engine read the link's target as its journal and appended job lines to it.
    state, victim = tmp_path / "state", _victim(tmp_path)
    state.mkdir()
    victim.write_text('{"id": "planted", "state": "queued", "settings": {"source": "/x", "output": "/y"}}\n')
    (state / "jobs.jsonl").symlink_to(victim)
    queue = _queue(state)
    try:
        with pytest.raises(UnknownJobError):
            queue.get("planted")  # the link's target was not read as the journal
        job = _submit_and_wait(queue, tmp_path)
    finally:
        queue.close()
    assert victim.read_text().count("\n") == 1 and "planted" in victim.read_text()
    assert not (state / "jobs.jsonl").is_symlink()
    assert [r["id"] for r in read_journal(state / "jobs.jsonl")] == [job.id]


def test_a_journal_link_planted_while_the_engine_runs_is_replaced_not_followed(tmp_path):
    state, victim = tmp_path / "state", _victim(tmp_path)
    queue = _queue(state)
    try:
        first = _submit_and_wait(queue, tmp_path)
        (state / "jobs.jsonl").unlink()
        (state / "jobs.jsonl").symlink_to(victim)
        second = _submit_and_wait(queue, tmp_path)
    finally:
        queue.close()
    assert victim.read_text() == "precious\n"
    assert not (state / "jobs.jsonl").is_symlink()
    assert {r["id"] for r in read_journal(state / "jobs.jsonl")} == {first.id, second.id}


def test_a_fifo_at_the_journal_name_does_not_block_start_up(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    os.mkfifo(state / "jobs.jsonl")
    done = threading.Event()

    def start():
        _queue(state).close()
        done.set()

    threading.Thread(target=start, daemon=True).start()
    assert done.wait(10), "opening the journal blocked on a FIFO"


def test_previews_folder_replaced_by_a_link_is_refused_and_prunes_nothing(tmp_path):
    # Before: each preview pruned the link's target to its 63 newest folders (someone's shots).
    state, shots = tmp_path / "state", tmp_path / "shots"
    for i in range(70):
        (shots / f"{1700000000 + i}-sh{i:03d}").mkdir(parents=True)
    state.mkdir()
    (state / "previews").symlink_to(shots)
    queue = _queue(state)
    outcome = {}
    finished = threading.Event()
    try:
        queue.preview({"source": str(tmp_path / "p.mp4"), "output": str(tmp_path / "o")}, 1, state / "previews",
                      lambda result, error: (outcome.update(result=result, error=error), finished.set()))
        assert finished.wait(10)
    finally:
        queue.close()
    assert isinstance(outcome["error"], OutputError) and "is a link" in outcome["error"].message
    assert len(list(shots.iterdir())) == 70


@pytest.mark.parametrize("in_the_way", ["previews", "previews/mine"])
def test_a_file_where_the_preview_folder_goes_is_an_output_error_not_an_internal_one(tmp_path, in_the_way):
    """A file at the previews folder (or at the out_dir asked for) was 'internal error: FileExistsError'."""
    from service_helpers import start_test_engine

    engine = start_test_engine(tmp_path / "engine")
    state = tmp_path / "engine" / "state"
    blocker = state / in_the_way
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("someone's notes")
    try:
        with engine.connect() as client:
            with pytest.raises(OutputError) as err:
                client.request("preview", settings={"source": str(tmp_path / "p.mp4"), "output": str(tmp_path / "o")},
                               frame=1, out_dir=str(state / "previews" / "mine"))
            assert "cannot make a preview folder" in err.value.message and err.value.fix
            assert client.ping()["pong"] is True
    finally:
        engine.stop()
    assert blocker.read_text() == "someone's notes"


def test_pruning_deletes_only_the_engines_own_preview_folders(tmp_path):
    root = tmp_path / "previews"
    mine = [root / f"{1700000000 + i}-abc_{i}" for i in range(5)]
    for i, folder in enumerate(mine):
        folder.mkdir(parents=True)
        os.utime(folder, (1700000000 + i, 1700000000 + i))
    (root / "notes").mkdir()
    (root / "1700000099-link").symlink_to(tmp_path)
    prune_preview_folders(root, 2)
    assert sorted(p.name for p in root.iterdir()) == sorted(["notes", "1700000099-link", mine[3].name, mine[4].name])


@pytest.mark.parametrize("output", ["/", "/etc", "/etc/vtoonify", "/usr/share/x", "/proc/1", "/dev/pts/x",
                                    "/sys/kernel"])
def test_outputs_in_system_folders_are_refused_on_submit(output):
    with pytest.raises(OutputError, match="system folder"):
        check_settings({"source": "/plate.mp4", "output": output}, None)


def test_an_output_link_into_a_system_folder_is_refused(tmp_path):
    (tmp_path / "innocent").symlink_to("/etc")
    with pytest.raises(OutputError, match="system folder /etc"):
        check_settings({"source": "/plate.mp4", "output": str(tmp_path / "innocent" / "renders")}, None)


def test_a_connection_file_of_another_user_or_a_remote_host_is_not_trusted(tmp_path):
    # Before: a file planted in a shared folder sent this user's jobs (paths, settings) to its engine.
    from engine.service.connection import ConnectionInfo, load_connection_file, write_connection_file

    info = ConnectionInfo(host="127.0.0.1", port=40117, token="t" * 43, pid=os.getpid(), protocol=1)
    mine = write_connection_file(info, tmp_path / "mine.json")
    assert load_connection_file(mine).port == 40117
    remote = write_connection_file(ConnectionInfo(**{**info.__dict__, "host": "203.0.113.7"}),
                                   tmp_path / "remote.json")
    assert load_connection_file(remote) is None
    if os.getuid() != 0:
        pytest.skip("giving a file to another user needs root")
    planted = write_connection_file(info, tmp_path / "planted.json")
    os.chown(planted, 4242, 4242)
    assert load_connection_file(planted) is None


def test_authenticated_connections_are_capped_and_a_freed_slot_is_reused(tmp_path):
    # Before: every authenticated connection got two threads, without limit (a reconnect loop that
    # never closes exhausted the engine's threads).
    from test_hardening import InProcessEngine

    from engine.errors import AuthError

    engine = InProcessEngine(tmp_path)
    engine.server.max_sessions = 3
    clients = [engine.connect() for _ in range(3)]
    try:
        with pytest.raises(AuthError, match="3 clients are connected to this engine already"):
            engine.connect()
        assert all(c.ping()["pong"] for c in clients)  # the connected ones are untouched
        clients.pop().close()
        deadline = threading.Event()
        for _ in range(100):
            if len([s for s in engine.server._sessions if not s.closed.is_set()]) < 3:
                break
            deadline.wait(0.02)
        clients.append(engine.connect())
        assert clients[-1].ping()["pong"] is True
    finally:
        for client in clients:
            client.close()
        engine.stop()


def test_a_busy_refusal_of_a_hello_carries_its_id_only_when_the_hello_had_one(tmp_path):
    """docs/PROTOCOL.md: a reply to a hello echoes its ``id`` if it had one; the busy refusal sent
    ``"id": null`` to a hello without one (the doorman's refusals leave it out)."""
    from test_hardening import InProcessEngine

    from engine.service import protocol

    engine = InProcessEngine(tmp_path)
    engine.server.max_sessions = 1
    client = engine.connect()
    try:
        for hello, expected in (({}, None), ({"id": 7}, 7)):
            sock, reader = engine.raw()
            with sock:
                sock.sendall(protocol.encode({"type": "hello", "token": engine.info.token, "protocol": 1, **hello}))
                reply = protocol.decode(reader.readline())
            assert reply["ok"] is False and reply["error"]["code"] == "busy", reply
            assert ("id" in reply) is (expected is not None) and reply.get("id") == expected, reply
    finally:
        client.close()
        engine.stop()


def test_a_state_folder_that_cannot_be_made_is_a_clear_error_not_an_internal_one(tmp_path, monkeypatch, capsys):
    """`engine serve` with a HOME it may not write (a farm service account, a read-only home): before, it
    died with 'internal error: PermissionError: ... .local' (exit 1). A file where the folder goes fails the
    same way for root, whom permissions do not stop."""
    from engine.cli import main
    from engine.errors import EXIT_USER_ERROR

    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "home" / "state"))
    code = main(["serve", "--connection-file", str(tmp_path / "conn" / "engine.json"), "--idle-timeout", "1"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    assert f"the engine's state folder {tmp_path / 'home' / 'state'} cannot be written" in err
    assert "VTOONIFY_STATE_DIR" in err and "internal error" not in err
    assert not (tmp_path / "conn" / "engine.json").exists()
