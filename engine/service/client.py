"""Engine client: talks docs/PROTOCOL.md to a running engine (used by the add-on, the panel, tests).

STDLIB ONLY and relative-import safe: the Blender add-on copies protocol.py, client.py, connection.py
and errors.py verbatim into its package. A background reader thread routes replies to the waiting
call by ``id`` and events to a queue (``poll_events`` for Blender's modal timer, ``wait_event`` for
headless use) or to ``on_event`` when set (called on the reader thread; nothing is queued then).
"""

from __future__ import annotations

import collections
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

try:  # inside a package copy (the add-on) the siblings are relative
    from . import connection, protocol
    from .errors import AuthError, EngineError, ProtocolError, UnreachableError, error_from_dict, problem_and_fix
except ImportError:  # pragma: no cover - depends on where the file was copied
    from engine.errors import AuthError, EngineError, ProtocolError, UnreachableError, error_from_dict, problem_and_fix
    from engine.service import connection, protocol

ConnectionInfo = connection.ConnectionInfo
read_connection_file = connection.read_connection_file

DEFAULT_TIMEOUT_S = 30.0
PREVIEW_TIMEOUT_S = 300.0
ENGINE_ENTRY = ("-m", "engine", "serve")


MAX_QUEUED_EVENTS = 2000
"""Events kept for poll_events/wait_event; beyond it progress events are dropped, terminal ones never."""
DROPPABLE_EVENTS = ("progress", "frame_done")


class EventQueue:
    """Bounded event buffer for a client whose UI polls slowly: a stalled Blender timer must not grow
    memory without bound, yet a job's end (job_done/job_failed/job_cancelled) is never lost."""

    def __init__(self, limit: int = MAX_QUEUED_EVENTS) -> None:
        self._items: collections.deque[dict] = collections.deque()
        self._cond = threading.Condition()
        self._limit = limit
        self.dropped = 0

    def put(self, event: dict) -> None:
        with self._cond:
            if len(self._items) >= self._limit:
                if event.get("event") in DROPPABLE_EVENTS:
                    self.dropped += 1
                    return
                self._drop_oldest_droppable()  # make room; a terminal event is kept even if none is found
            self._items.append(event)
            self._cond.notify()

    def _drop_oldest_droppable(self) -> bool:
        for index, queued in enumerate(self._items):
            if queued.get("event") in DROPPABLE_EVENTS:
                del self._items[index]
                self.dropped += 1
                return True
        return False

    def get(self, timeout_s: float | None = None) -> dict | None:
        """The oldest event; None if none arrives within timeout_s (0 = do not wait)."""
        with self._cond:
            if not self._items and timeout_s:
                self._cond.wait_for(lambda: bool(self._items), timeout_s)
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)


PATH_SETTINGS = ("source", "output", "models_dir", "exstyle_image")


def absolute_paths(settings: dict) -> dict:
    """``settings`` with relative path fields made absolute against this process's working folder, and a
    leading ``~`` expanded to the home folder as a shell would (else ``~/renders`` became a folder named
    ``~`` in the working folder)."""
    if not isinstance(settings, dict):
        return settings
    fixed = dict(settings)
    for key in PATH_SETTINGS:
        value = fixed.get(key)
        if isinstance(value, str) and value and "\x00" not in value:
            value = os.path.expanduser(value)
            fixed[key] = value if os.path.isabs(value) else os.path.abspath(value)
    return fixed


class _PendingReply:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.message: dict | None = None


class EngineClient:
    """One authenticated connection to the engine; requests are thread-safe."""

    def __init__(self, sock: socket.socket, reader: protocol.LineReader, hello_reply: dict,
                 info: ConnectionInfo | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.info = info
        self.hello = hello_reply
        self.client_id = hello_reply.get("client_id")
        self.engine_version = hello_reply.get("engine_version")
        self.timeout_s = timeout_s
        self.on_event: Callable[[dict], None] | None = None
        self._sock = sock
        self._reader = reader
        self._send_lock = threading.Lock()
        self._pending: dict[int, _PendingReply] = {}
        self._pending_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._events = EventQueue()
        self._closed = threading.Event()
        self.close_reason: str | None = None
        self._thread = threading.Thread(target=self._read_loop, name="engine-client-reader", daemon=True)
        self._thread.start()

    # --- connecting ------------------------------------------------------------------------

    @classmethod
    def connect(cls, info: ConnectionInfo | None, timeout_s: float = 5.0) -> EngineClient:
        """Open the socket and say hello; UnreachableError / AuthError say what went wrong and what to do."""
        if info is None:  # stdlib only (copied into the add-on): the engine's Python is not known here
            raise UnreachableError("no running engine found (no live connection file)",
                                   "start it with `<engine python> -m engine serve` or from the add-on preferences")
        hello = protocol.encode(protocol.hello(info.token))  # a token that cannot be sent is the caller's ProtocolError
        try:
            sock = socket.create_connection((info.host, info.port), timeout=timeout_s)
        except OSError as exc:
            raise UnreachableError(f"cannot reach the engine at {info.host}:{info.port} ({exc})",
                                   "start the engine again; the connection file may be stale") from None
        reader = protocol.LineReader(sock)
        try:
            sock.sendall(hello)
            # one deadline for the whole answer: a peer that trickles bytes cannot hold the caller (Blender's UI)
            line = reader.readline(deadline=time.monotonic() + timeout_s)
            reply = protocol.decode(line) if line is not None else None
        except ProtocolError as exc:  # an HTTP server, a huge or non-JSON line: not a VToonify engine
            sock.close()
            raise UnreachableError(
                f"{info.host}:{info.port} answered hello with something other than the engine's protocol "
                f"({exc.message[:120]})", "another program listens on that port (the connection file is stale): "
                "start the engine again") from None
        except OSError as exc:
            sock.close()
            reason = f"no whole answer within {timeout_s:g} s" if isinstance(exc, TimeoutError) else exc
            raise UnreachableError(f"the engine at {info.host}:{info.port} did not answer hello ({reason})",
                                   "check that the engine is healthy, or restart it") from None
        if reply is None:
            sock.close()
            raise UnreachableError("the engine closed the connection during hello", "restart the engine")
        if not reply.get("ok"):
            sock.close()
            error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            problem, fix = problem_and_fix(error)  # the engine's own fix when it sends one
            raise AuthError(problem or "the engine refused the connection",
                            fix or "re-read the connection file (the engine may have restarted)")
        sock.settimeout(None)
        return cls(sock, reader, reply, info)

    # --- requests ------------------------------------------------------------------------------

    def request(self, kind: str, timeout_s: float | None = None, **fields) -> dict:
        """Send one request and wait for its reply; an error reply raises its typed EngineError."""
        if self._closed.is_set():
            raise UnreachableError(f"the connection to the engine is closed ({self.close_reason})",
                                   "reconnect with EngineClient.connect")
        request_id = next(self._ids)
        pending = _PendingReply()
        with self._pending_lock:
            self._pending[request_id] = pending
        data = protocol.encode({"type": kind, "id": request_id, **fields})
        try:
            with self._send_lock:
                self._sock.sendall(data)
        except OSError as exc:
            with self._pending_lock:
                self._pending.pop(request_id, None)
            self._mark_closed(f"send failed: {exc}")
            raise UnreachableError(f"lost the connection to the engine ({exc})", "reconnect") from None
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        if not pending.done.wait(wait_s):
            with self._pending_lock:
                self._pending.pop(request_id, None)
            raise UnreachableError(f"the engine did not answer {kind!r} within {wait_s:g} s",
                                   "the engine may be overloaded or hung; try again or restart it")
        reply = pending.message
        if reply is None:
            raise UnreachableError(f"the engine closed the connection ({self.close_reason})", "reconnect")
        if not reply.get("ok"):
            raise error_from_dict(reply.get("error") or {})
        return reply

    def ping(self) -> dict:
        return self.request("ping")

    def capabilities(self) -> dict:
        return self.request("capabilities")["capabilities"]

    def submit(self, settings: dict) -> str:
        """Relative ``source``/``output``/``models_dir`` are resolved against THIS process's working
        folder (the engine refuses relative paths: its own working folder means nothing to you)."""
        return self.request("submit", settings=absolute_paths(settings))["job"]

    def status(self, job: str) -> dict:
        reply = self.request("status", job=job)
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    def jobs(self) -> list:
        """Every job's summary, all pages (the engine pages long listings, see PROTOCOL.md)."""
        jobs, offset = [], 0
        while offset is not None:
            reply = self.request("jobs", offset=offset)
            jobs.extend(reply["jobs"])
            offset = reply.get("next")
        return jobs

    def cancel(self, job: str) -> str:
        return self.request("cancel", job=job)["state"]

    def subscribe(self, job: str) -> str:
        return self.request("subscribe", job=job)["state"]

    def resume(self, job: str) -> str:
        return self.request("resume", job=job)["job"]

    def preview(self, settings: dict, frame: int, timeout_s: float = PREVIEW_TIMEOUT_S) -> dict:
        reply = self.request("preview", timeout_s=timeout_s, settings=absolute_paths(settings), frame=frame)
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    def shutdown(self) -> None:
        self.request("shutdown")

    # --- events --------------------------------------------------------------------------------

    def poll_events(self, max_n: int = 100) -> list[dict]:
        """Non-blocking: up to max_n queued events (Blender's modal timer calls this)."""
        events = []
        while len(events) < max_n:
            event = self._events.get(0)
            if event is None:
                break
            events.append(event)
        return events

    def wait_event(self, timeout_s: float) -> dict | None:
        """Blocking: the next event, or None after timeout_s."""
        return self._events.get(max(timeout_s, 1e-6))

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._mark_closed("closed by the client")
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reader thread ------------------------------------------------------------------------

    def _read_loop(self) -> None:
        reason = "the engine closed the connection"
        try:
            while True:
                line = self._reader.readline()
                if line is None:
                    break
                message = protocol.decode(line)
                if "event" in message:
                    self._deliver_event(message)
                    continue
                request_id = message.get("id")
                with self._pending_lock:
                    pending = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
                if pending is not None:
                    pending.message = message
                    pending.done.set()
                elif not message.get("ok", True):  # an error not tied to a request (e.g. line too long)
                    self._deliver_event({"event": "error", "error": message.get("error")})
        except (OSError, EngineError) as exc:
            reason = str(exc)
        self._mark_closed(reason)

    def _deliver_event(self, message: dict) -> None:
        callback = self.on_event
        if callback is None:
            self._events.put(message)
            return
        try:
            callback(message)
        except Exception:
            pass

    def _mark_closed(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.close_reason = reason
        self._closed.set()
        with self._pending_lock:
            pending, self._pending = list(self._pending.values()), {}
        for item in pending:
            item.done.set()


def start_engine(python_exe: str, args: list[str] | tuple[str, ...] = (), connection_file: str | None = None,
                 env: dict | None = None, timeout_s: float = 60, *,
                 entry: tuple[str, ...] = ENGINE_ENTRY, cwd: str | None = None,
                 idle_timeout: float | None = None, parent_pid: int | None = None
                 ) -> tuple[subprocess.Popen, ConnectionInfo]:
    """Start ``python -m engine serve`` as a child; wait for its connection file and a good hello.

    ``entry`` replaces ``-m engine serve`` (e.g. ``("-m", "engine.service.server")``). The child's
    stderr goes to an unlinked temp file (never a pipe: a chatty engine must not block on it); when it
    dies or does not come up in time, the error carries the last lines of that stderr.
    ``idle_timeout`` (seconds) and ``parent_pid`` (e.g. ``os.getpid()``) make the engine exit by itself
    when nobody needs it any more, even if this process is killed (``--idle-timeout``/``--parent-pid``).
    """
    path = connection_file or str(connection.default_connection_path())
    lifetime = []
    if idle_timeout:
        lifetime += ["--idle-timeout", f"{float(idle_timeout):g}"]
    if parent_pid is not None:
        lifetime += ["--parent-pid", str(int(parent_pid))]
    command = [python_exe, *entry, "--connection-file", path, *lifetime, *args]
    stderr_log = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr_log, env=env, cwd=cwd, **engine_process_options())
    except OSError as exc:
        stderr_log.close()
        raise UnreachableError(f"cannot start the engine with {python_exe} ({exc})",
                               "check the Python executable in the preferences") from None
    proc.stderr_log = stderr_log  # type: ignore[attr-defined]  # kept open for the engine's lifetime
    deadline = time.monotonic() + timeout_s
    last_error = "no connection file yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UnreachableError(f"the engine exited with code {proc.returncode} while starting:\n"
                                   f"{engine_stderr_tail(proc)}", "fix the error above and start it again")
        info = connection.load_connection_file(path)
        if info is not None and info.pid == proc.pid:
            try:
                EngineClient.connect(info, timeout_s=max(1.0, deadline - time.monotonic())).close()
                return proc, info
            except EngineError as exc:
                last_error = exc.user_message
        time.sleep(0.05)
    stop_engine(proc)
    raise UnreachableError(f"the engine did not come up within {timeout_s:g} s ({last_error}):\n"
                           f"{engine_stderr_tail(proc)}", "see the engine output above; try a longer timeout")


_CREATE_NEW_PROCESS_GROUP = 0x00000200
_CREATE_NO_WINDOW = 0x08000000


def engine_process_options(platform: str | None = None) -> dict:
    """Extra ``Popen`` options for an engine child on this platform. Windows: its own process group (a
    Ctrl-C or Ctrl-Break in the console Blender or the panel was started from is not delivered to it: it
    stops by the ``shutdown`` request, ``--parent-pid`` or ``stop_engine``) and no console window of its
    own popping up beside Blender. POSIX: none, so a terminal's Ctrl-C or hang-up stops it cleanly with
    its parent (``engine.stop_signals``)."""
    if (platform or sys.platform) != "win32":
        return {}
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", _CREATE_NEW_PROCESS_GROUP)
    return {"creationflags": flags | getattr(subprocess, "CREATE_NO_WINDOW", _CREATE_NO_WINDOW)}


def engine_stderr_tail(proc: subprocess.Popen, max_chars: int = 4000) -> str:
    """The last characters the engine wrote to stderr (start_engine keeps them in a temp file)."""
    log = getattr(proc, "stderr_log", None)
    if log is None:
        return ""
    try:
        log.flush()
        size = log.seek(0, os.SEEK_END)
        log.seek(max(0, size - max_chars))
        return log.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def stop_engine(proc: subprocess.Popen, timeout_s: float = 10.0) -> int:
    """Terminate, then kill if it does not exit in time; returns the code. POSIX: SIGTERM, which the engine
    answers with a clean shutdown. Windows has no SIGTERM: ``terminate`` is already TerminateProcess, a
    kill, so callers send the ``shutdown`` request first (``EngineProcess.stop``, the add-on's
    ``engine_owner``); the engine's connection file, left behind, then reads as stale (its pid is gone)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    return proc.returncode
