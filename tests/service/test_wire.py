"""Framing, message shapes and the connection file, without an engine process."""

from __future__ import annotations

import ast
import json
import os
import socket
import threading
from pathlib import Path

import pytest

from engine.errors import AuthError, ProtocolError, UnknownJobError, UnreachableError, error_from_dict
from engine.service import connection, protocol
from engine.service.connection import ConnectionInfo
from engine.service.server import OutgoingQueue

SERVICE_DIR = Path(protocol.__file__).parent


def test_encode_decode_round_trip_is_one_line():
    message = {"type": "submit", "id": 7, "settings": {"source": "shot.####.exr", "name": "naïve\nname"}}
    line = protocol.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert protocol.decode(line[:-1]) == message


@pytest.mark.parametrize("line, reason", [
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{\"type\": ", "malformed JSON"),
    (b"[1, 2]", "not an object"),
    (b"   ", "empty line"),
    (b"[" * 100_000, "nests arrays or objects too deeply"),
    (b'{"type": "submit", "id": 1, "settings": {"degree": NaN}}', "NaN is not valid JSON"),
    (b'{"id": 1' + b"9" * 5000 + b"}", "an integer of more than 4300 digits"),
])
def test_decode_rejects_with_a_precise_reason(line, reason):
    with pytest.raises(ProtocolError) as err:
        protocol.decode(line)
    assert reason in err.value.message and err.value.code == "protocol"
    assert "set_int_max_str_digits" not in err.value.message  # before: Python's advice, no use to a client


def test_encode_refuses_non_finite_numbers():
    with pytest.raises(ProtocolError, match="cannot be sent as JSON"):
        protocol.encode({"event": "progress", "job": "j", "fps": float("inf")})


def test_line_reader_splits_lines_and_enforces_the_limit():
    a, b = socket.socketpair()
    with a, b:
        reader = protocol.LineReader(b, max_bytes=64)
        a.sendall(b'{"a":1}\n{"b"')
        assert reader.readline() == b'{"a":1}'
        a.sendall(b':2}\n')
        assert reader.readline() == b'{"b":2}'
        a.sendall(b"x" * 65 + b"\n")
        with pytest.raises(protocol.LineTooLong):
            reader.readline()
        sender = threading.Thread(target=lambda: a.sendall(b"y" * 1000))
        sender.start()
        with pytest.raises(protocol.LineTooLong):  # no newline at all: stops reading past the limit
            reader.readline()
        sender.join()


def test_require_field_checks_json_types():
    assert protocol.require_field({"job": "a1"}, "job", str) == "a1"
    with pytest.raises(ProtocolError, match="needs field 'job'"):
        protocol.require_field({"type": "status"}, "job", str)
    with pytest.raises(ProtocolError, match="must be an integer, not a JSON true"):
        protocol.require_field({"frame": True}, "frame", int)
    assert protocol.request_id_of({"id": True}) is None and protocol.request_id_of({"id": 3}) == 3


def test_error_codes_rebuild_typed_errors():
    for cls in (UnreachableError, AuthError, ProtocolError, UnknownJobError):
        rebuilt = error_from_dict(cls("boom", "do this").to_dict())
        assert type(rebuilt) is cls and rebuilt.user_message == "boom (do this)" and rebuilt.fix == "do this"


def test_client_side_modules_are_stdlib_only():
    """The add-on copies these files verbatim: they may import only the stdlib and their siblings."""
    allowed_local = {"errors", "protocol", "connection", "client", "engine.errors", "engine.service",
                     "engine.service.client", "engine.service.connection",
                     "engine.user_dirs"}  # copied beside them too; stdlib-only itself (tests/test_user_dirs.py)
    for name in ("protocol.py", "client.py", "connection.py", "launcher.py"):
        tree = ast.parse((SERVICE_DIR / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert module in allowed_local or top in _stdlib_names(), f"{name} imports {module}"


def _stdlib_names() -> set[str]:
    import sys

    return set(sys.stdlib_module_names) | {"__future__"}


def test_connection_file_is_0600_and_round_trips(tmp_path):
    info = ConnectionInfo("127.0.0.1", 5555, "secret-token", os.getpid())
    path = connection.write_connection_file(info, tmp_path / "sub" / "engine.json")
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"host": "127.0.0.1", "port": 5555, "token": "secret-token",
                                            "pid": os.getpid(), "protocol": 1}
    assert connection.load_connection_file(path) == ConnectionInfo(**info.to_dict(), path=str(path))
    assert not [p for p in path.parent.iterdir() if p.name != "engine.json"]  # no temp files left


def test_stale_when_pid_is_gone_or_port_refuses(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        alive = ConnectionInfo("127.0.0.1", port, "t", os.getpid())
        path = connection.write_connection_file(alive, tmp_path / "engine.json")
        assert connection.read_connection_file(path) is not None
        assert connection.is_stale(ConnectionInfo("127.0.0.1", port, "t", 2**22 + 4321))
    assert connection.is_stale(alive)  # listener closed: the port refuses
    assert connection.read_connection_file(path) is None
    (tmp_path / "garbage.json").write_text("{not json")
    assert connection.read_connection_file(tmp_path / "garbage.json") is None
    assert connection.read_connection_file(tmp_path / "absent.json") is None


def test_remove_only_deletes_our_own_file(tmp_path):
    path = connection.write_connection_file(ConnectionInfo("127.0.0.1", 1, "mine", 1), tmp_path / "e.json")
    assert connection.remove_connection_file(path, token="someone-else") is False and path.exists()
    assert connection.remove_connection_file(path, token="mine") is True and not path.exists()


def test_default_path_uses_the_runtime_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert connection.default_connection_path() == tmp_path / "vtoonify" / "engine.json"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert connection.default_connection_path() == tmp_path / "cache" / "vtoonify" / "engine.json"


def test_outgoing_queue_drops_progress_first_and_reports_hopeless_clients():
    q = OutgoingQueue(droppable_limit=3, hard_limit=5)
    assert all(q.put(b"p", droppable=True) for _ in range(10))
    assert q.dropped == 7
    assert q.put(b"terminal", droppable=False) and q.put(b"reply", droppable=False)
    assert q.put(b"p", droppable=True) and q.dropped == 8  # still dropped: over the soft limit
    assert q.put(b"x", droppable=False) is False  # over the hard limit: disconnect the client
    assert [q.get() for _ in range(5)] == [b"p", b"p", b"p", b"terminal", b"reply"]
