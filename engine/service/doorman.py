"""Connections that have not said hello yet ("strangers"), all served by the engine's accept thread.

A stranger costs one socket and at most MAX_HELLO_BYTES of buffer, never a thread. At most ``limit``
wait at once; a newcomer beyond that pushes out the one that has waited longest. A real client says
hello the moment it connects, so it is read long before ``limit`` newer strangers can push it out:
idle or trickling sockets never keep it out. Each stranger gets ``timeout_s`` in all for its hello.
"""

from __future__ import annotations

import collections
import hmac
import selectors
import socket
import time
from dataclasses import dataclass

from engine.errors import AuthError, BusyError, EngineError, ProtocolError

from . import protocol

HELLO_TIMEOUT_S = 10.0
"""An unauthenticated connection gets this long IN ALL (not per recv) to deliver its hello line."""
MAX_PENDING_HELLOS = 64
"""Strangers waiting at once; a newcomer beyond it pushes out the one that has waited longest."""


@dataclass
class Admitted:
    """A connection whose hello was good: the socket (blocking again), the hello, bytes read after it."""

    sock: socket.socket
    hello: dict
    rest: bytes


class _Stranger:
    __slots__ = ("buffer", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = bytearray()


def check_hello(message: dict, token: str) -> EngineError | None:
    """Why this first message does not admit its sender, or None when it does."""
    given = message.get("token")
    version = message.get("protocol")
    if message.get("type") == "hello" and not isinstance(given, str):
        said = ("hello has no 'token'" if given is None else
                f"hello's token must be a string, not a JSON {protocol.json_kind(given)}")
        return AuthError(said, "send the token of the engine's connection file as \"token\" in hello")
    if message.get("type") != "hello":
        return AuthError("the first message must be hello with the engine token",
                         f"send {{\"type\": \"hello\", \"token\": ..., \"protocol\": {protocol.PROTOCOL_VERSION}}}")
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8")):
        return AuthError("wrong engine token", "re-read the connection file; the engine restarted")
    if not isinstance(version, int) or isinstance(version, bool):
        return AuthError(f"hello's protocol must be an integer, not {str(version)[:40]!r}",
                         f"send \"protocol\": {protocol.PROTOCOL_VERSION}")
    if version != protocol.PROTOCOL_VERSION:
        return AuthError(f"protocol {version} is not supported by this engine",
                         f"use protocol {protocol.PROTOCOL_VERSION} (update the add-on or the engine)")
    return None


class Doorman:
    """Reads hellos from every stranger with one selector; the caller's thread does all the work."""

    def __init__(self, token: str, limit: int = MAX_PENDING_HELLOS, timeout_s: float = HELLO_TIMEOUT_S) -> None:
        self.token = token
        self.limit = limit
        self.timeout_s = timeout_s
        self.pushed_out = 0
        self._waiting: collections.OrderedDict[int, _Stranger] = collections.OrderedDict()
        self._selector = selectors.DefaultSelector()

    def __len__(self) -> int:
        return len(self._waiting)

    def watch(self, listener: socket.socket) -> None:
        """Wake ``poll`` when the listening socket has a connection to accept."""
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, data=None)

    def add(self, sock: socket.socket) -> None:
        while len(self._waiting) >= self.limit:
            self.push_out_oldest()
        sock.setblocking(False)
        stranger = _Stranger(sock, time.monotonic() + self.timeout_s)
        self._waiting[id(stranger)] = stranger
        self._selector.register(sock, selectors.EVENT_READ, data=stranger)

    def push_out_oldest(self) -> bool:
        """Drop the stranger that has waited longest (also used to free a file descriptor)."""
        if not self._waiting:
            return False
        _, oldest = self._waiting.popitem(last=False)
        self.pushed_out += 1
        self._refuse(oldest, BusyError(f"more than {self.limit} connections were waiting to authenticate and "
                                       "this one had waited longest", "send hello as soon as you connect"))
        return True

    def poll(self, timeout_s: float) -> tuple[bool, list[Admitted]]:
        """Wait up to ``timeout_s``; returns (the listener has a connection, strangers just admitted)."""
        now = time.monotonic()
        if self._waiting:
            oldest = next(iter(self._waiting.values()))
            timeout_s = max(0.0, min(timeout_s, oldest.deadline - now))
        listener_ready, admitted = False, []
        for key, _ in self._selector.select(timeout_s):
            if key.data is None:
                listener_ready = True
            elif id(key.data) in self._waiting:
                entry = self._read(key.data)
                if entry is not None:
                    admitted.append(entry)
        self._expire(time.monotonic())
        return listener_ready, admitted

    def close(self) -> None:
        for stranger in list(self._waiting.values()):
            self._drop(stranger)
        self._selector.close()

    def _read(self, stranger: _Stranger) -> Admitted | None:
        try:
            chunk = stranger.sock.recv(protocol.MAX_HELLO_BYTES + 1 - len(stranger.buffer))
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            self._drop(stranger)
            return None
        if not chunk:
            self._drop(stranger)
            return None
        stranger.buffer.extend(chunk)
        newline_at = stranger.buffer.find(b"\n")
        if newline_at < 0 and len(stranger.buffer) <= protocol.MAX_HELLO_BYTES:
            return None  # more to come
        if newline_at < 0 or newline_at > protocol.MAX_HELLO_BYTES:
            self._refuse(stranger, ProtocolError(f"hello line exceeds the {protocol.MAX_HELLO_BYTES}-byte limit",
                                                 f"send one JSON object per line, at most "
                                                 f"{protocol.MAX_HELLO_BYTES} bytes"))
            return None
        line, rest = bytes(stranger.buffer[:newline_at]), bytes(stranger.buffer[newline_at + 1:])
        try:
            message = protocol.decode(line)
        except ProtocolError as exc:
            self._refuse(stranger, exc)
            return None
        error = check_hello(message, self.token)
        if error is not None:
            self._refuse(stranger, error, protocol.request_id_of(message))
            return None
        self._forget(stranger)
        stranger.sock.setblocking(True)
        return Admitted(stranger.sock, message, rest)

    def _expire(self, now: float) -> None:
        while self._waiting:
            oldest = next(iter(self._waiting.values()))
            if oldest.deadline > now:
                return
            self._refuse(oldest, AuthError(f"no hello within {self.timeout_s:g} s",
                                           "send hello with the engine token right after connecting"))

    def _refuse(self, stranger: _Stranger, error: EngineError, request_id: int | None = None) -> None:
        """One error line (never blocking: a fresh socket's send buffer holds it), then hang up."""
        reply = protocol.hello_refusal(request_id, error)
        try:
            stranger.sock.send(protocol.encode(reply, lossy=True))
        except OSError:
            pass
        self._drop(stranger)

    def _forget(self, stranger: _Stranger) -> None:
        self._waiting.pop(id(stranger), None)
        try:
            self._selector.unregister(stranger.sock)
        except (KeyError, ValueError):
            pass

    def _drop(self, stranger: _Stranger) -> None:
        self._forget(stranger)
        try:
            stranger.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        stranger.sock.close()
