"""Wire format of the engine service: newline-delimited UTF-8 JSON over a loopback TCP socket.

Framing and message shapes only — no sockets policy, no jobs. STDLIB ONLY: the Blender add-on copies
this file verbatim (see docs/PROTOCOL.md), so it imports nothing from ``engine`` but ``errors``, and
that through a relative-import fallback.
"""

from __future__ import annotations

import json
import socket
import time

try:  # inside a package copy (the add-on) the sibling is ``.errors``; in the repo it is engine.errors
    from .errors import ProtocolError
except ImportError:  # pragma: no cover - depends on where the file was copied
    try:
        from engine.errors import ProtocolError
    except ImportError:
        from errors import ProtocolError  # type: ignore[no-redef]

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20
"""Longest accepted line (1 MiB, newline excluded); longer -> error reply, then the server closes."""
MAX_HELLO_BYTES = 4096
"""Longest accepted line before authentication: a hello is ~100 bytes, so strangers buffer little."""

REQUEST_TYPES = (
    "hello", "ping", "capabilities", "submit", "jobs", "status", "cancel", "subscribe",
    "preview", "resume", "shutdown",
)
EVENT_TYPES = ("progress", "frame_done", "warning", "job_done", "job_failed", "job_cancelled")
TERMINAL_EVENTS = ("job_done", "job_failed", "job_cancelled")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


class LineTooLong(ProtocolError):
    """A peer sent more than MAX_LINE_BYTES without a newline."""


def encode(message: dict, lossy: bool = False) -> bytes:
    """One message -> one wire line (compact JSON + b'\\n'); raises ProtocolError, never anything else.

    Lone surrogates (e.g. from undecodable file names) cannot be UTF-8: ``lossy=True`` (the engine's
    outgoing side) replaces them with U+FFFD so a reply or event is always sendable; the default
    refuses them so a client never sends something other than what it was given.
    """
    try:
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:  # NaN/Infinity, non-JSON types, cycles
        raise ProtocolError(f"message cannot be sent as JSON ({str(exc)[:120]})",
                            "send finite numbers, strings, lists and objects only") from None
    try:
        data = text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        if not lossy:
            raise ProtocolError("message contains a lone surrogate, which is not valid UTF-8",
                                "send valid Unicode text (no unpaired \\ud800-\\udfff)") from None
        data = replace_surrogates(text).encode("utf-8") + b"\n"
    if len(data) > MAX_LINE_BYTES + 1:
        raise ProtocolError(f"message of {len(data)} bytes exceeds the 1 MiB line limit",
                            "send smaller settings")
    return data


def replace_surrogates(text: str) -> str:
    """Unpaired surrogates -> U+FFFD (a round trip through UTF-16 pairs the valid ones)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def decode(line: bytes) -> dict:
    """One wire line -> a JSON object; anything else raises ProtocolError with a precise reason."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"line is not UTF-8 ({exc.reason} at byte {exc.start})",
                            "send UTF-8 JSON, one object per line") from None
    if not text.strip():
        raise ProtocolError("empty line", "send one JSON object per line")
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except DuplicateKey as exc:
        raise ProtocolError(f"message repeats the key {exc.key!r} in one object, so its meaning is ambiguous",
                            "send each key at most once per JSON object") from None
    except RecursionError:  # Python's words ("... while decoding a JSON array from a unicode string") are not ours
        raise ProtocolError("message nests arrays or objects too deeply (a request is a few levels deep)",
                            "send one flat JSON object per line") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's own advice (set_int_max_str_digits) is not ours
            raise ProtocolError("message holds an integer of more than 4300 digits",
                                "send numbers of at most 18 digits (ids, frames and settings all fit)") from None
        raise ProtocolError(f"malformed JSON: {str(exc)[:120]}", "send one JSON object per line") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"message is a JSON {json_kind(value)}, not an object",
                            "send a JSON object such as {\"type\": \"ping\", \"id\": 1}")
    if "\\u" in text and not _encodable(value):  # only an escape can smuggle in a lone surrogate
        raise ProtocolError("message contains a lone surrogate (\\ud800-\\udfff escape), which is not "
                            "valid Unicode text", "send valid Unicode text")
    return value


JSON_WANTED = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "an object",
               list: "an array"}
"""What a field of each Python type must be, in JSON's terms (a client wrote JSON, not Python)."""


def json_kind(value) -> str:
    """What a decoded value is in JSON's terms (a client wrote JSON, not Python: ``null``, not ``NoneType``)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return {list: "array", str: "string", int: "number", float: "number"}.get(type(value), "object")


def _encodable(value) -> bool:
    """Whether every string in a decoded message (keys included) can be written back as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


class DuplicateKey(ValueError):
    """A JSON object names one key twice: Python keeps the last, others the first, so refuse both."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key[:60]


def _unique_keys(pairs: list) -> dict:
    """json ``object_pairs_hook``: ``{"type": "ping", "type": "shutdown"}`` must not read as shutdown."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class LineReader:
    """Reads newline-framed lines from a socket with a hard length limit (never buffers > max_bytes).

    ``readline()`` returns the line without its newline, ``None`` at end of stream, and raises
    LineTooLong once the pending bytes pass ``max_bytes`` without a newline. ``max_bytes`` may be
    raised later (the server reads the hello with a 4 KiB limit, then allows 1 MiB). A socket timeout
    (TimeoutError) leaves the partial line buffered, so the caller may simply call again.
    """

    def __init__(self, sock: socket.socket, max_bytes: int = MAX_LINE_BYTES) -> None:
        self._sock = sock
        self.max_bytes = max_bytes
        self._buffer = bytearray()

    def push(self, data: bytes) -> None:
        """Bytes already read from the socket by someone else (e.g. sent right after the hello)."""
        self._buffer.extend(data)

    def readline(self, deadline: float | None = None) -> bytes | None:
        """``deadline`` (time.monotonic()): the whole line must arrive by then, else TimeoutError —
        an absolute limit, so a byte every few seconds cannot keep a connection open."""
        while True:
            newline_at = self._buffer.find(b"\n")
            if newline_at >= 0:
                line = bytes(self._buffer[:newline_at])
                del self._buffer[: newline_at + 1]
                if len(line) > self.max_bytes:
                    raise LineTooLong(f"line of {len(line)} bytes exceeds the {self.max_bytes}-byte limit",
                                      f"send one JSON object per line, at most {self.max_bytes} bytes")
                return line
            if len(self._buffer) > self.max_bytes:
                size = len(self._buffer)
                self._buffer.clear()
                raise LineTooLong(f"line of more than {size} bytes exceeds the {self.max_bytes}-byte limit",
                                  f"send one JSON object per line, at most {self.max_bytes} bytes")
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("line deadline passed")
                self._sock.settimeout(remaining)
            # never much more than max_bytes buffered: 4 KiB reads while a small (pre-auth) limit applies
            chunk = self._sock.recv(min(65536, max(4096, self.max_bytes + 1 - len(self._buffer))))
            if not chunk:
                return None
            self._buffer.extend(chunk)


# --- message builders (both sides use these, so the shapes live in one place) ----------------


def hello(token: str) -> dict:
    return {"type": "hello", "token": token, "protocol": PROTOCOL_VERSION}


def reply_ok(request_id: int | None, **fields) -> dict:
    return {"id": request_id, "ok": True, **fields}


def reply_error(request_id: int | None, code: str, message: str, fix: str = "") -> dict:
    """``message`` is the whole line (problem, then `` (<fix>)``); ``fix`` repeats the action alone."""
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message, "fix": fix}}


def reply_exception(request_id: int | None, exc) -> dict:
    """The error reply for a typed ``EngineError``."""
    return {"id": request_id, "ok": False, "error": exc.to_dict()}


def hello_refusal(request_id: int | None, exc) -> dict:
    """The error reply to a hello: like every reply to a hello, it echoes the hello's ``id`` only when the
    hello had one (docs/PROTOCOL.md), where any later request's reply always has an ``id``."""
    reply = reply_exception(request_id, exc)
    return reply if request_id is not None else {k: v for k, v in reply.items() if k != "id"}


def event(kind: str, job_id: str, **fields) -> dict:
    return {"event": kind, "job": job_id, **fields}


def request_id_of(message: dict) -> int | None:
    """The request's id if it is a proper int (bools are not ids), else None."""
    value = message.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def require_field(message: dict, name: str, kind: type | tuple[type, ...]) -> object:
    """Fetch a required request field of the given JSON type, or raise ProtocolError naming it."""
    if name not in message:
        raise ProtocolError(f"request {message.get('type')!r} needs field {name!r}", f"add {name!r}")
    value = message[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        wanted = " or ".join(JSON_WANTED.get(k, k.__name__) for k in kinds)
        raise ProtocolError(f"field {name!r} must be {wanted}, not a JSON {json_kind(value)}",
                            f"send {name!r} as {wanted}")
    return value
