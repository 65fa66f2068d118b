"""Property-based fuzzing of a live engine: every hostile line gets an error reply or a hang-up,
and afterwards a well-formed client is still served (one engine process for all examples)."""

from __future__ import annotations

import json
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_helpers import wait_terminal

from engine.errors import ProtocolError
from engine.service import protocol

# st.text() leaves out surrogates; a lone "\ud800" once killed the device worker, so mix them in
LONE_SURROGATE = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
SURROGATE_TEXT = st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), LONE_SURROGATE, st.text(max_size=5))
TEXT = st.one_of(st.text(max_size=20), st.text(st.characters(codec=None, categories=None), max_size=20),
                 SURROGATE_TEXT)
KEYS = st.one_of(st.text(max_size=8), SURROGATE_TEXT)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=5)
NOT_STR = JSON_VALUES.filter(lambda v: not isinstance(v, str))
NOT_INT = JSON_VALUES.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
NOT_DICT = JSON_VALUES.filter(lambda v: not isinstance(v, dict))
IDS = st.integers(min_value=-(2**63), max_value=2**63)


def _line(obj) -> bytes:
    return json.dumps(obj).encode()


HOSTILE_LINES = st.one_of(
    # binary garbage (one line: no newline inside)
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")),
    # valid JSON that is not an object
    JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(_line),
    # objects without an integer id (whatever else they hold)
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "id"), JSON_VALUES, max_size=5).map(_line),
    st.builds(lambda t, i: _line({"type": t, "id": i}), st.sampled_from(protocol.REQUEST_TYPES),
              st.one_of(st.booleans(), st.text(max_size=5), st.floats(allow_nan=False), st.none())),
    # unknown request types
    st.builds(lambda t, i: _line({"type": t, "id": i}),
              st.one_of(st.text(max_size=30).filter(lambda t: t not in protocol.REQUEST_TYPES), NOT_STR), IDS),
    # known requests with wrong or missing fields
    st.builds(lambda t, job, i: _line({"type": t, "id": i, "job": job}),
              st.sampled_from(["status", "cancel", "subscribe", "resume"]), st.one_of(NOT_STR, st.text(max_size=30)),
              IDS),
    st.builds(lambda t, i: _line({"type": t, "id": i}), st.sampled_from(["status", "cancel", "subscribe",
                                                                         "resume", "preview"]), IDS),
    st.builds(lambda s, i: _line({"type": "submit", "id": i, "settings": s}), NOT_DICT, IDS),
    st.builds(lambda s, i: _line({"type": "submit", "id": i, "settings": s}),
              st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("source", "output")), JSON_VALUES,
                              max_size=4), IDS),
    st.builds(lambda s, f, i: _line({"type": "preview", "id": i, "settings": s, "frame": f}),
              st.one_of(NOT_DICT, st.just({})), NOT_INT, IDS),
    st.builds(lambda i: _line({"type": "hello", "id": i, "token": "x", "protocol": 1}), IDS),
    # well-formed requests whose strings hold a lone surrogate (JSON \udXXX escapes)
    st.builds(lambda src, i: _line({"type": "submit", "id": i, "settings": {"source": src, "output": "o"}}),
              SURROGATE_TEXT, IDS),
    st.builds(lambda t, job, i: _line({"type": t, "id": i, "job": job}),
              st.sampled_from(["status", "cancel", "subscribe", "resume"]), SURROGATE_TEXT, IDS),
    # pathological shapes: deep nesting, invalid UTF-8 inside JSON, over-long lines
    st.integers(min_value=1000, max_value=30_000).map(lambda n: b"[" * n),
    st.just(b'{"type": "ping", "id": 1, "x": "\xff\xfe"}'),
    st.sampled_from([b'{"type": "ping", "id": 2, "x": NaN}', b'{"type": "submit", "id": 3, "settings": Infinity}',
                     b'{"type": "ping", "id": 4' + b"0" * 5000 + b"}"]),
    st.sampled_from([b"{" + b" " * (protocol.MAX_LINE_BYTES + 10) + b"}", b"x" * (protocol.MAX_LINE_BYTES + 1)]),
)


class Connection:
    """An authenticated raw socket that reconnects after the engine hangs up on it."""

    def __init__(self, info) -> None:
        self.info = info
        self.sock = None
        self.reader = None
        self.sent = 0
        self.hangups = 0

    def open(self) -> None:
        self.sock = socket.create_connection((self.info.host, self.info.port), timeout=10)
        self.reader = protocol.LineReader(self.sock)
        self.sock.sendall(protocol.encode(protocol.hello(self.info.token)))
        assert protocol.decode(self.reader.readline())["ok"] is True

    def exchange(self, line: bytes) -> dict | None:
        """Send one line, return the one reply, or None when the engine closed the connection."""
        if self.sock is None:
            self.open()
        self.sent += 1
        try:
            self.sock.sendall(line + b"\n")
            reply_line = self.reader.readline()
        except (ConnectionResetError, BrokenPipeError):
            reply_line = None
        if reply_line is None:
            self.close()
            self.hangups += 1
            return None
        return protocol.decode(reply_line)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def _assert_error_reply(reply: dict, line: bytes) -> None:
    assert reply["ok"] is False, (line[:200], reply)
    assert set(reply["error"]) == {"code", "message", "fix"} and reply["error"]["message"]
    assert isinstance(reply["error"]["fix"], str)
    try:
        sent = protocol.decode(line)
    except ProtocolError:
        sent = None  # the engine cannot know the id of a line it could not parse
    if isinstance(sent, dict) and isinstance(sent.get("id"), int) and not isinstance(sent.get("id"), bool):
        assert reply["id"] == sent["id"]
    else:
        assert reply.get("id") is None


def test_hostile_messages_after_hello_are_answered_and_the_engine_survives(fake_engine, source_file, tmp_path):
    conn = Connection(fake_engine.info)
    replies = {"error": 0, "hangup": 0}

    @settings(max_examples=1000, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(line=HOSTILE_LINES)
    def check(line: bytes) -> None:
        reply = conn.exchange(line)
        if reply is None:
            replies["hangup"] += 1
            return
        _assert_error_reply(reply, line)
        replies["error"] += 1

    check()
    conn.close()
    assert conn.sent >= 1000 and replies["error"] > 900
    assert replies["hangup"] <= conn.sent - replies["error"]
    # and a well-formed client is still served, jobs included
    with fake_engine.connect() as client:
        assert client.ping()["pong"] is True
        job = client.submit({"source": str(source_file), "output": str(tmp_path / "o"), "frames": "1-3"})
        end, _ = wait_terminal(client, job)
        assert end["event"] == "job_done" and len(list((tmp_path / "o").iterdir())) == 3


def test_hostile_first_messages_are_refused_and_disconnected(fake_engine):
    info = fake_engine.info
    hostile_hello = st.one_of(
        HOSTILE_LINES,
        st.builds(lambda tok, p: _line({"type": "hello", "token": tok, "protocol": p}),
                  st.one_of(st.text(max_size=60), SURROGATE_TEXT, NOT_STR), st.one_of(IDS, NOT_INT)),
    )

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(line=hostile_hello)
    def check(line: bytes) -> None:
        with socket.create_connection((info.host, info.port), timeout=10) as sock:
            reader = protocol.LineReader(sock)
            try:
                sock.sendall(line + b"\n")
                reply_line = reader.readline()
            except (ConnectionResetError, BrokenPipeError):
                return
            if reply_line is not None:
                reply = protocol.decode(reply_line)
                assert reply["ok"] is False and reply["error"]["code"] in ("auth", "protocol")
                try:
                    assert reader.readline() is None  # then the engine hangs up
                except ConnectionResetError:
                    pass

    check()
    with fake_engine.connect() as client:
        assert client.ping()["pong"] is True
