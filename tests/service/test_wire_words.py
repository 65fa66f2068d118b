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


def _reply(engine, request: dict) -> dict:
    sock, reader = _raw(engine)
    with sock:
        sock.sendall(json.dumps(dict(request, id=5)).encode() + b"\n")
        return json.loads(reader.readline())


@pytest.mark.parametrize("request_, said, fix", [
    ({"type": "cancel", "job": 5}, "field 'job' must be a string, not a JSON number", "send 'job' as a string"),
    ({"type": "preview", "settings": "x", "frame": 1}, "field 'settings' must be an object, not a JSON string",
     "send 'settings' as an object"),
    ({"type": "preview", "settings": {}, "frame": 2.0}, "field 'frame' must be an integer, not a JSON number",
     "send 'frame' as an integer"),
])
def test_request_fields_of_the_wrong_type_are_named_in_json_terms(fake_engine, request_, said, fix):
    error = _reply(fake_engine, request_)["error"]
    assert error["code"] == "protocol" and error["message"].startswith(said) and error["fix"] == fix, error


@pytest.mark.parametrize("settings, said, fix", [
    ({"batch": "4"}, "field 'batch' must be an integer, not a JSON string", "send 'batch' as an integer"),
    ({"mattes": 1}, "field 'mattes' must be true or false, not a JSON number", "send 'mattes' as true or false"),
    ({"scale": [1]}, "field 'scale' must be a number, not a JSON array", "send 'scale' as a number"),
    ({"name": {}}, "field 'name' must be a string, not a JSON object", "send 'name' as a string"),
    ({"padding": 32}, "field 'padding' must be an array of integers, not a JSON number",
     "send 'padding' as an array of integers"),
    ({"padding": [32, [32], 32, 32]}, "field 'padding' must be an array of integers, not an array whose item 1 is "
     "a JSON array", "send 'padding' as an array of integers"),
])
def test_job_settings_of_the_wrong_type_are_named_in_json_terms(fake_engine, tmp_path, settings, said, fix):
    job = {"source": str(tmp_path / "a.mp4"), "output": str(tmp_path / "out"), **settings}
    error = _reply(fake_engine, {"type": "submit", "settings": job})["error"]
    assert error["code"] == "bad_config" and error["message"].startswith(said) and error["fix"] == fix, error


@pytest.mark.parametrize("field", ["scale", "style_id", "padding"])
def test_a_number_of_30_digits_is_refused_naming_the_field_and_a_usable_fix(fake_engine, tmp_path, field):
    """The fixes were 'send 'scale' in range' and 'send style_id as an ordinary number' (no field quoting)."""
    value = [10**30] * 4 if field == "padding" else 10**30
    job = {"source": str(tmp_path / "a.mp4"), "output": str(tmp_path / "out"), field: value}
    error = _reply(fake_engine, {"type": "submit", "settings": job})["error"]
    assert error["code"] == "bad_config" and "(31 digits)" in error["message"], error
    assert error["fix"] == f"send '{field}' as a number of at most 18 digits", error
    assert {"field": field} in error["settings"], error


def test_a_frame_number_of_too_many_digits_gets_an_action_as_its_fix():
    from engine.errors import FrameRangeError
    from engine.pipeline.frames import parse_frame_parts

    with pytest.raises(FrameRangeError) as refused:
        parse_frame_parts("1-99999999999999")
    assert refused.value.fix == "ask for frame numbers within +-1,000,000,000", refused.value.fix
