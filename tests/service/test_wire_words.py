"""Malformed lines get a refusal in the client's terms (JSON's, not Python's), over a real engine socket:
``null`` used to be refused as 'a JSON NoneType', ten thousand ``[`` as 'maximum recursion depth exceeded
while decoding a JSON array from a unicode string', and a hello without a token as if it were no hello."""

from __future__ import annotations

import json
import socket

import pytest

from engine.service import protocol


def _raw(engine, hello: bool = True) -> tuple[socket.socket, protocol.LineReader]:
    info = engine.info
    sock = socket.create_connection((info.host, info.port), timeout=10)
    reader = protocol.LineReader(sock)
    if hello:
        sock.sendall(protocol.encode(protocol.hello(info.token)))
        assert json.loads(reader.readline())["ok"] is True
    return sock, reader


@pytest.mark.parametrize("line, kind", [(b"null", "null"), (b"[1, 2]", "array"), (b'"ping"', "string"),
                                        (b"7", "number"), (b"2.5", "number"), (b"true", "true")])
def test_a_line_that_is_no_object_is_named_in_json_terms(fake_engine, line, kind):
    sock, reader = _raw(fake_engine)
    with sock:
        sock.sendall(line + b"\n")
        error = json.loads(reader.readline())["error"]
        sock.sendall(b'{"type": "ping", "id": 2}\n')
        assert json.loads(reader.readline())["pong"] is True  # the connection stays open
    assert error["message"].startswith(f"message is a JSON {kind}, not an object"), error


def test_too_deep_nesting_is_named_as_such(fake_engine):
    sock, reader = _raw(fake_engine)
    with sock:
        sock.sendall(b'{"type": "ping", "id": 1, "x": ' + b"[" * 100_000 + b"\n")
        error = json.loads(reader.readline())["error"]
        sock.sendall(b'{"type": "ping", "id": 2}\n')
        assert json.loads(reader.readline())["pong"] is True
    assert error["message"].startswith("message nests arrays or objects too deeply"), error
    assert "recursion" not in error["message"] and "unicode string" not in error["message"], error


@pytest.mark.parametrize("token, said", [(None, "hello has no 'token'"), (7, "hello's token must be a string")])
def test_a_hello_without_a_string_token_says_so(fake_engine, token, said):
    sock, reader = _raw(fake_engine, hello=False)
    hello = {"type": "hello", "protocol": 1, **({"token": token} if token is not None else {})}
    with sock:
        sock.sendall(json.dumps(hello).encode() + b"\n")
        reply = json.loads(reader.readline())
        assert reader.readline() is None  # then closed
    assert reply["ok"] is False and reply["error"]["code"] == "auth", reply
    assert reply["error"]["message"].startswith(said), reply
    assert "connection file" in reply["error"]["fix"], reply
