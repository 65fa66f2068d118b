"""#9 item 8 and the hello part of item 13: strangers on the port never lock a real client out, and
hello needs an integer protocol version. Real engine processes, real loopback sockets."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from engine.service import protocol


def idle_sockets(info, count: int) -> list[socket.socket]:
    return [socket.create_connection((info.host, info.port), timeout=10) for _ in range(count)]


def test_many_idle_sockets_never_lock_a_client_out(fake_engine):
    strangers = idle_sockets(fake_engine.info, 200)  # far more than may wait at once; none says hello
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with fake_engine.connect(timeout_s=5) as client:
            assert client.ping()["pong"] is True
        assert time.monotonic() - started < 3.0  # admitted at once, not after the strangers' 10 s
    finally:
        for sock in strangers:
            sock.close()


def test_a_client_gets_in_while_strangers_keep_arriving(fake_engine):
    stop = threading.Event()
    opened: list[socket.socket] = []

    def flood() -> None:
        while not stop.is_set() and len(opened) < 3000:
            try:
                opened.append(socket.create_connection((fake_engine.info.host, fake_engine.info.port), timeout=5))
            except OSError:
                time.sleep(0.01)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        time.sleep(0.3)
        for _ in range(5):
            with fake_engine.connect(timeout_s=5) as client:
                assert client.ping()["pong"] is True
        assert len(opened) > 100  # the flood was really going on meanwhile
    finally:
        stop.set()
        flooder.join(10)
        for sock in opened:
            sock.close()


@pytest.mark.parametrize("version", [1.0, True, "1", None, [1]])
def test_hello_needs_an_integer_protocol_version(fake_engine, version):
    sock = socket.create_connection((fake_engine.info.host, fake_engine.info.port), timeout=10)
    with sock:
        reader = protocol.LineReader(sock)
        sock.sendall(protocol.encode({"type": "hello", "token": fake_engine.info.token, "protocol": version}))
        reply = protocol.decode(reader.readline())
        assert reply["ok"] is False and reply["error"]["code"] == "auth"
        assert "integer" in reply["error"]["message"]
        assert reader.readline() is None


def test_requests_sent_right_after_hello_are_answered(fake_engine):
    sock = socket.create_connection((fake_engine.info.host, fake_engine.info.port), timeout=10)
    with sock:
        reader = protocol.LineReader(sock)
        sock.sendall(protocol.encode(protocol.hello(fake_engine.info.token)) +
                     protocol.encode({"type": "ping", "id": 7}))  # one segment: read with the hello
        assert protocol.decode(reader.readline())["ok"] is True
        assert protocol.decode(reader.readline())["id"] == 7
