"""The engine service: a loopback TCP server speaking docs/PROTOCOL.md in front of a JobQueue.

Threads, not asyncio: one accept loop (the caller of ``serve``); per authenticated connection a reader
thread and a writer thread that drains a bounded outgoing queue; the job queue's
worker threads (one per device) and preview lanes (one per device, bounded, sharing that worker's
ModelCache). Workers never block on a client: events go into each subscriber's queue with
``put_nowait`` semantics; a full queue drops progress events and disconnects the client rather than
lose a terminal event (the client can reconnect and ``subscribe`` to get it replayed). Strangers
(no hello yet) cost no thread: the accept thread reads their hellos (doorman.py).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import errno
import importlib
import itertools
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import engine
from engine.errors import BusyError, ConfigError, EngineError, InternalError, OutputError, ProtocolError
from engine.pipeline.config import RenderConfig
from engine.service.catalog import device_arg
from engine.service.reply_budget import encoded_bytes, fit_capabilities
from engine.stop_signals import STOP_SIGNALS
from engine.user_dirs import user_dir

from . import protocol
from .connection import (
    ConnectionInfo,
    default_connection_path,
    is_stale,
    load_connection_file,
    outside_user_profile,
    pid_alive,
    remove_connection_file,
    write_connection_file,
)
from .doorman import Admitted, Doorman
from .jobs import JobQueue, check_settings, is_inside, pipeline_missing

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
MAX_SESSIONS = 256
"""Most authenticated connections at once (each has a reader and a writer thread); one more gets a
``busy`` reply and is closed."""
JOBS_PAGE_BYTES = 512 * 1024
"""A ``jobs`` reply holds job summaries up to about this many bytes (half the line limit)."""
JOBS_PAGE_MAX = 1000
"""And at most this many jobs."""
ACCEPT_BATCH = 16
"""Connections accepted per turn of the accept loop before the strangers' hellos are read again."""
SEND_TIMEOUT_S = 10.0
"""A client that reads nothing for this long while the engine has data for it is disconnected."""
CLOSE_JOIN_S = 3.0
"""Shutdown waits at most this long in all for connections to flush their last messages."""
DROPPABLE_LIMIT = 256
"""Queued messages above which a client's progress/frame_done events are dropped."""
HARD_LIMIT = 4096
"""Queued messages above which a client is disconnected (its terminal events are never dropped)."""
OUTGOING_BYTES_LIMIT = 8 << 20
"""Bytes queued for one client above which its next request is not read until they are sent: a client
that pipelines requests (a ``jobs`` reply is up to 512 KiB) and reads slowly is slowed to its reading
speed, instead of the engine keeping up to HARD_LIMIT replies (gigabytes) for it."""
DROPPABLE_EVENTS = ("progress", "frame_done")
PARENT_AT_START = os.getppid()
PARENT_GRACE_S = 3.0
"""Once the --parent-pid process is gone, the engine exits after this long with nothing to do."""
LIFETIME_POLL_S = 0.25
"""How often the idle timer and the parent process are checked."""


def default_state_dir() -> Path:
    """Where the job journal and previews live: $VTOONIFY_STATE_DIR, else the per-user state dir."""
    if os.environ.get("VTOONIFY_STATE_DIR"):
        return Path(os.environ["VTOONIFY_STATE_DIR"])
    return user_dir("state")


def loopback_host(host: str) -> str:
    """Only loopback is allowed: the token is the only guard, so the port must not be reachable."""
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(f"refusing to listen on {host!r}: the engine binds 127.0.0.1 only",
                          "use --host 127.0.0.1 (reach remote machines through an SSH tunnel)")
    return LOOPBACK_HOSTS[host]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie (killed, not yet reaped) counts as gone, and so does our
    own parent once we have been re-parented (its pid may already belong to another process)."""
    if pid == PARENT_AT_START and os.getppid() != pid:
        return False
    if not pid_alive(pid):
        return False
    if not sys.platform.startswith("linux"):
        return True  # no /proc (macOS, Windows): pid_alive has the last word
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


class Lifetime:
    """When the engine should exit by itself: ``idle_timeout_s`` of nothing to do (0 = never), and
    once the ``parent_pid`` process is gone, PARENT_GRACE_S of nothing to do. "Nothing to do" = no
    authenticated connection, no queued or running job, no preview in flight."""

    def __init__(self, idle_timeout_s: float = 0.0, parent_pid: int | None = None) -> None:
        if idle_timeout_s < 0:
            raise ConfigError(f"idle timeout {idle_timeout_s:g} s is negative", "pass 0 (never) or more seconds")
        if idle_timeout_s != idle_timeout_s:  # NaN (argparse's float accepts "nan") compared false: never exit
            raise ConfigError("idle timeout nan is not a number of seconds", "pass 0 (never) or more seconds")
        if parent_pid is not None and parent_pid <= 0:
            raise ConfigError(f"parent pid {parent_pid} is not a process id", "pass the pid of the process to follow")
        self.idle_timeout_s = float(idle_timeout_s)
        self.parent_pid = parent_pid
        self.parent_gone = False
        self._idle_since: float | None = None
        self._next_check = 0.0

    @property
    def active(self) -> bool:
        return self.idle_timeout_s > 0 or self.parent_pid is not None

    def limit_s(self) -> float | None:
        """Seconds of idleness after which to exit now; None = never."""
        limits = [self.idle_timeout_s] if self.idle_timeout_s > 0 else []
        if self.parent_gone:
            limits.append(PARENT_GRACE_S)
        return min(limits) if limits else None

    def due(self, now: float) -> bool:
        """Rate-limits the checks to one per LIFETIME_POLL_S."""
        if not self.active or now < self._next_check:
            return False
        self._next_check = now + LIFETIME_POLL_S
        return True

    def check_parent(self) -> bool:
        """True the first time the parent is seen gone."""
        if self.parent_pid is None or self.parent_gone or process_alive(self.parent_pid):
            return False
        self.parent_gone = True
        return True

    def should_exit(self, idle: bool, now: float) -> bool:
        if not idle:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = now
        limit = self.limit_s()
        return limit is not None and now - self._idle_since >= limit


def listen(host: str, port: int) -> socket.socket:
    """The listening socket; a busy or forbidden port is a ConfigError (one line, exit 2), not a traceback."""
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port} ({reason})",
                          "pass another --port, or --port 0 for any free port") from None


class OutgoingQueue:
    """Bounded per-client send queue that never blocks its producers."""

    def __init__(self, droppable_limit: int = DROPPABLE_LIMIT, hard_limit: int = HARD_LIMIT) -> None:
        self._items: collections.deque[bytes | None] = collections.deque()
        self._cond = threading.Condition()
        self._droppable_limit = droppable_limit
        self._hard_limit = hard_limit
        self._closed = False
        self.dropped = 0
        self.bytes = 0
        """Bytes queued and not yet taken by the writer."""

    def put(self, data: bytes, droppable: bool) -> bool:
        """False when the client is hopelessly behind (caller disconnects it)."""
        with self._cond:
            if droppable and len(self._items) >= self._droppable_limit:
                self.dropped += 1
                return True
            if len(self._items) >= self._hard_limit:
                return False
            self._items.append(data)
            self.bytes += len(data)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.append(None)
            self._cond.notify_all()

    def get(self) -> bytes | None:
        with self._cond:
            while not self._items:
                self._cond.wait()
            data = self._items.popleft()
            if data is not None:
                self.bytes -= len(data)
                self._cond.notify_all()  # a reader may wait for room (wait_for_room)
            return data

    def wait_for_room(self, limit: int, timeout_s: float) -> bool:
        """Wait until at most ``limit`` bytes are queued or the queue is closed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or self.bytes <= limit, timeout_s)


class ClientSession:
    """One authenticated connection (the Doorman admitted it): a reader and a writer thread."""

    def __init__(self, server: EngineServer, admitted: Admitted, client_id: int) -> None:
        self.server = server
        self.sock = admitted.sock
        self.client_id = client_id
        self.outgoing = OutgoingQueue()
        self.closed = threading.Event()
        self.authenticated = threading.Event()
        self._reader_input = protocol.LineReader(self.sock, max_bytes=protocol.MAX_LINE_BYTES)
        self._reader_input.push(admitted.rest)
        request_id = protocol.request_id_of(admitted.hello)
        self._hello_reply = {"ok": True, "protocol": protocol.PROTOCOL_VERSION, "engine_version": engine.__version__,
                             "client_id": client_id, **({"id": request_id} if request_id is not None else {})}
        self._writer = threading.Thread(target=self._write_loop, name=f"engine-writer-{client_id}", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name=f"engine-reader-{client_id}", daemon=True)

    def start(self) -> None:
        self.sock.settimeout(self.server.send_timeout_s)  # bounds the writer's sendall; recv timeouts are retried
        self.authenticated.set()
        self._writer.start()
        self.send(self._hello_reply)
        self._reader.start()

    def send(self, message: dict, droppable: bool = False) -> None:
        """Queue one message; never raises (a worker thread may be the caller)."""
        if self.closed.is_set() or not self.authenticated.is_set():
            return
        data = encode_for_peer(message)
        if data is None:
            return
        if not self.outgoing.put(data, droppable):
            self.close()  # too far behind: better to drop the client than a terminal event

    def close(self) -> None:
        """Idempotent; wakes both threads (shutdown unblocks a recv/send in progress)."""
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.outgoing.close()
        if not self._writer.is_alive():
            self._close_socket()
        self.server.forget(self)

    def close_after_flush(self) -> None:
        """Send what is queued, then close (used after line-length errors and at shutdown)."""
        if self._writer.is_alive():
            self.outgoing.close()
        else:
            self.close()

    def join(self, timeout_s: float) -> None:
        if self._writer.is_alive():
            self._writer.join(timeout_s)

    def _close_socket(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _write_loop(self) -> None:
        """A client that stops reading makes sendall time out: it is dropped, the engine goes on."""
        try:
            while True:
                data = self.outgoing.get()
                if data is None:
                    break
                self.sock.sendall(data)
        except OSError:  # includes TimeoutError after SEND_TIMEOUT_S
            pass
        finally:
            self.close()
            self._close_socket()

    def _read_loop(self) -> None:
        """One request per line until end of stream; any way out ends the session after what is
        already queued for this client has been sent (the writer closes the socket)."""
        reader = self._reader_input
        try:
            while not self.closed.is_set():
                if not self.outgoing.wait_for_room(self.server.outgoing_bytes_limit, 1.0):
                    continue  # replies pile up unsent: read no request until the client takes them
                try:
                    line = reader.readline()
                except TimeoutError:
                    continue  # an idle client is fine; the partial line stays buffered
                except protocol.LineTooLong as exc:
                    self.send(protocol.reply_exception(None, exc))
                    return
                if line is None:
                    return
                self.server.handle_line(self, line)
        except OSError:
            pass
        except Exception as exc:  # a bug must end this session only, never leak the socket
            self.send(protocol.reply_exception(None, InternalError(f"internal error: {type(exc).__name__}")))
        finally:
            self.close_after_flush()


def encode_for_peer(message: dict) -> bytes | None:
    """A message the engine sends -> wire bytes; an unsendable one becomes an error reply, and if even
    that fails, None (the caller drops it). Never raises: it runs on worker and preview threads."""
    try:
        return protocol.encode(message, lossy=True)
    except EngineError as exc:
        try:
            return protocol.encode(protocol.reply_exception(protocol.request_id_of(message), exc), lossy=True)
        except Exception:
            return None
    except Exception:
        return None


class EngineServer:
    """Listening socket + sessions + subscriptions; requests are dispatched to the JobQueue."""

    job_stop_s = 10.0
    """At close, how long running jobs get to stop before they are journalled interrupted (``serve``:
    JOB_STOP_S)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                 jobs_factory: Callable[[Callable[[str, dict], None]], JobQueue] | None = None,
                 state_dir: str | os.PathLike | None = None, lifetime: Lifetime | None = None) -> None:
        self.host = loopback_host(host)
        self.lifetime = lifetime or Lifetime()
        self.token = token or secrets.token_urlsafe(32)
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.previews_dir = self.state_dir / "previews"
        self.stop_requested = threading.Event()
        self._lock = threading.RLock()
        self._sessions: set[ClientSession] = set()
        self.max_sessions = MAX_SESSIONS
        self._subscribers: dict[str, set[ClientSession]] = {}
        self._ids = itertools.count(1)
        self.doorman = Doorman(self.token)
        self.send_timeout_s = SEND_TIMEOUT_S
        self.outgoing_bytes_limit = OUTGOING_BYTES_LIMIT
        self._listener = listen(self.host, port)
        self.port = self._listener.getsockname()[1]
        make_jobs = jobs_factory or (lambda publish: JobQueue(publish, state_dir=self.state_dir))
        try:
            self.jobs = make_jobs(self.publish)
        except BaseException:  # e.g. a state folder it cannot write: the port is not left open behind it
            self._listener.close()
            raise
        self._handlers = {
            "ping": self._ping, "capabilities": self._capabilities, "submit": self._submit,
            "jobs": self._jobs, "status": self._status, "cancel": self._cancel,
            "subscribe": self._subscribe, "preview": self._preview, "resume": self._resume,
            "shutdown": self._shutdown, "hello": self._hello_again,
        }

    # --- lifecycle ---------------------------------------------------------------------------

    def serve_forever(self, poll_s: float = 0.2) -> None:
        """Accept clients until stop_requested is set (by shutdown, SIGTERM or SIGINT). This one thread
        also reads every stranger's hello (Doorman), so waiting strangers cost no thread."""
        poll_s = min(poll_s, LIFETIME_POLL_S) if self.lifetime.active else poll_s
        self.doorman.watch(self._listener)
        while not self.stop_requested.is_set():
            self.check_lifetime()
            listener_ready, admitted = self.doorman.poll(poll_s)
            for entry in admitted:
                self._admit(entry)
            if listener_ready:
                self._accept_some(poll_s)

    def _accept_some(self, poll_s: float) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if self.stop_requested.is_set():
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self.doorman.push_out_oldest():  # free a descriptor for a real client
                        time.sleep(poll_s)
                    return
                raise
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            self.doorman.add(sock)

    def _admit(self, entry: Admitted) -> None:
        with self._lock:
            full = sum(1 for s in self._sessions if not s.closed.is_set()) >= self.max_sessions
        if full:  # two threads per client: a client stuck in a reconnect loop must not exhaust them
            refusal = protocol.hello_refusal(protocol.request_id_of(entry.hello), BusyError(
                f"{self.max_sessions} clients are connected to this engine already",
                "close connections you no longer use, then connect again"))
            try:
                entry.sock.settimeout(1.0)
                entry.sock.sendall(encode_for_peer(refusal) or b"")
            except OSError:
                pass
            entry.sock.close()
            return
        session = ClientSession(self, entry, next(self._ids))
        with self._lock:
            self._sessions.add(session)
        session.start()

    def check_lifetime(self, now: float | None = None) -> None:
        """Idle timeout and parent watch (see Lifetime); sets stop_requested when it is time to go."""
        now = time.monotonic() if now is None else now
        if not self.lifetime.due(now):
            return
        if self.lifetime.check_parent():
            print(f"engine: parent process {self.lifetime.parent_pid} is gone; cancelling its jobs and "
                  f"exiting once idle", file=sys.stderr, flush=True)
        if self.lifetime.parent_gone:  # jobs whose submitter has disconnected have no one to report to
            self.jobs.cancel_orphans(self.live_client_ids())
        idle = not self.live_client_ids() and not self.jobs.busy()
        if self.lifetime.should_exit(idle, now):
            print(f"engine: idle for {self.lifetime.limit_s():g} s; exiting", file=sys.stderr, flush=True)
            self.stop_requested.set()

    def live_client_ids(self) -> set[int]:
        """Authenticated connections that are still open (strangers do not keep the engine alive)."""
        with self._lock:
            return {s.client_id for s in self._sessions if s.authenticated.is_set() and not s.closed.is_set()}

    def close(self) -> None:
        """Stop listening, stop jobs (running ones become 'interrupted'), flush replies, disconnect.

        Every connection flushes in parallel under one shared deadline, so a client that stopped
        reading cannot stretch shutdown past CLOSE_JOIN_S (its socket is then shut down)."""
        self._listener.close()
        self.doorman.close()
        self.jobs.close(self.job_stop_s)
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close_after_flush()
        deadline = time.monotonic() + CLOSE_JOIN_S
        for session in sessions:
            session.join(max(0.0, deadline - time.monotonic()))
        for session in sessions:
            session.close()

    def forget(self, session: ClientSession) -> None:
        with self._lock:
            self._sessions.discard(session)
            for job_id, subscribers in list(self._subscribers.items()):
                subscribers.discard(session)
                if not subscribers:
                    del self._subscribers[job_id]

    # --- events ------------------------------------------------------------------------------

    def publish(self, job_id: str, message: dict) -> None:
        """Called from worker threads: never blocks (queues are bounded and non-blocking)."""
        droppable = message.get("event") in DROPPABLE_EVENTS
        with self._lock:
            if message.get("event") in protocol.TERMINAL_EVENTS:  # the job is over: forget its fan-out
                subscribers = list(self._subscribers.pop(job_id, ()))
            else:
                subscribers = list(self._subscribers.get(job_id, ()))
        for session in subscribers:
            session.send(message, droppable=droppable)

    def subscribe(self, job_id: str, session: ClientSession) -> None:
        with self._lock:
            self._subscribers.setdefault(job_id, set()).add(session)

    # --- requests ------------------------------------------------------------------------------

    def handle_line(self, session: ClientSession, line: bytes) -> None:
        request_id = None
        try:
            message = protocol.decode(line)
            request_id = protocol.request_id_of(message)
            if request_id is None:
                raise ProtocolError("request has no integer 'id'", "give every request an integer id")
            kind = message.get("type")
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise ProtocolError(f"unknown request type {str(kind)[:60]!r}",
                                    f"use one of {', '.join(protocol.REQUEST_TYPES[1:])}")
            handler(session, request_id, message)
        except EngineError as exc:
            session.send(protocol.reply_exception(request_id, exc))
        except Exception as exc:
            session.send(protocol.reply_exception(request_id, InternalError.of(exc)))

    def _hello_again(self, session, request_id, message) -> None:
        raise ProtocolError("already authenticated", "send hello only once per connection")

    def _ping(self, session, request_id, message) -> None:
        session.send(protocol.reply_ok(request_id, pong=True, time_s=time.time()))

    def _capabilities(self, session, request_id, message) -> None:
        try:
            caps = importlib.import_module("engine.pipeline.capabilities").capabilities(self.jobs.models_dir)
        except ImportError as exc:
            caps = {"backends": [], "devices": [], "models": {}, "pipeline_error": str(exc)}
        caps = dict(caps, protocol=protocol.PROTOCOL_VERSION, engine_version=engine.__version__,
                    model_cache=self.jobs.model_stats())
        envelope = encoded_bytes(protocol.reply_ok(request_id, capabilities={}))
        caps = fit_capabilities(caps, protocol.MAX_LINE_BYTES - envelope)  # many long style lists: cut, and said
        session.send(protocol.reply_ok(request_id, capabilities=caps))

    def _submit(self, session, request_id, message) -> None:
        settings = message.get("settings")
        if settings is None:
            settings = {k: v for k, v in message.items() if k not in ("type", "id")}
        elif not isinstance(settings, dict):
            raise ProtocolError("field 'settings' must be an object", "send the render options as an object")
        check_settings(settings, self.state_dir)
        job = self.jobs.submit(settings, on_created=lambda job: self.subscribe(job.id, session),
                               owner=session.client_id)
        ignored = [key[:100] for key in RenderConfig.unknown_keys(settings)][:50]
        session.send(protocol.reply_ok(request_id, job=job.id, state=job.state,
                                       **({"ignored": ignored} if ignored else {})))

    def _jobs(self, session, request_id, message) -> None:
        """One page of job summaries: from ``offset`` (default 0), at most ``limit`` jobs and at most
        JOBS_PAGE_BYTES of JSON; ``next`` is the offset of the next page (None on the last one)."""
        offset = message.get("offset", 0)
        limit = message.get("limit", JOBS_PAGE_MAX)
        for name, value in (("offset", offset), ("limit", limit)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ProtocolError(f"field {name!r} must be a non-negative integer", f"send {name!r} as an int")
        summaries = self.jobs.list()
        page, size, index = [], 0, offset
        while index < len(summaries) and len(page) < max(1, min(limit, JOBS_PAGE_MAX)):
            entry_size = len(protocol.encode(summaries[index], lossy=True))
            if page and size + entry_size > JOBS_PAGE_BYTES:
                break
            page.append(summaries[index])
            size += entry_size
            index += 1
        session.send(protocol.reply_ok(request_id, jobs=page, total=len(summaries),
                                       next=index if index < len(summaries) else None))

    def _status(self, session, request_id, message) -> None:
        job_id = protocol.require_field(message, "job", str)
        session.send(protocol.reply_ok(request_id, **self.jobs.status(job_id)))

    def _cancel(self, session, request_id, message) -> None:
        job_id = protocol.require_field(message, "job", str)
        state = self.jobs.cancel(job_id)
        session.send(protocol.reply_ok(request_id, job=job_id, state=state))

    def _subscribe(self, session, request_id, message) -> None:
        """Re-attach to a job; the latest progress or terminal event is replayed after the reply."""
        job_id = protocol.require_field(message, "job", str)
        job = self.jobs.get(job_id)
        if job.state in ("queued", "running"):  # a finished job sends nothing more but its replay
            self.subscribe(job_id, session)
        session.send(protocol.reply_ok(request_id, job=job_id, state=job.state))
        if job.last_event is not None:
            session.send(job.last_event)

    def _resume(self, session, request_id, message) -> None:
        job_id = protocol.require_field(message, "job", str)
        check_settings(self.jobs.get(job_id).settings, self.state_dir)  # a journal of an older engine
        job = self.jobs.resume(job_id, on_created=lambda job: self.subscribe(job.id, session),
                               owner=session.client_id)
        session.send(protocol.reply_ok(request_id, job=job.id, state=job.state))

    def _preview(self, session, request_id, message) -> None:
        """Previews go to the device's bounded preview lane (not the job queue, so they answer while a
        long render runs) and are written under <state dir>/previews only, one new folder each."""
        settings = protocol.require_field(message, "settings", dict)
        frame = protocol.require_field(message, "frame", int)
        check_settings(settings, self.state_dir)
        out_root = self.previews_dir
        out_dir = message.get("out_dir")
        if out_dir is not None:
            if not isinstance(out_dir, str):
                raise ProtocolError("field 'out_dir' must be str", "send a folder path or leave it out")
            if not is_inside(out_dir, out_root):
                raise OutputError(f"previews are written under {out_root} only, not {out_dir[:200]!r}",
                                  "leave out_dir out; the reply names the files")
            out_root = Path(out_dir)

        def done(result: dict | None, error: BaseException | None) -> None:
            if error is None:
                session.send(protocol.reply_ok(request_id, **result))
            elif isinstance(error, EngineError):
                session.send(protocol.reply_exception(request_id, error))
            elif isinstance(error, ImportError):
                session.send(protocol.reply_exception(request_id, pipeline_missing("preview", error)))
            else:
                session.send(protocol.reply_exception(request_id, InternalError.of(error)))

        self.jobs.preview(settings, frame, out_root, done)

    def _shutdown(self, session, request_id, message) -> None:
        session.send(protocol.reply_ok(request_id, stopping=True))
        self.stop_requested.set()


def serve(host: str = "127.0.0.1", port: int = 0, connection_file: str | os.PathLike | None = None,
          models_dir: str | None = None, device: str = "auto",
          ready_callback: Callable[[ConnectionInfo], None] | None = None, *,
          state_dir: str | os.PathLike | None = None, runner=None, preview_runner=None,
          model_cache: bool = True, idle_timeout_s: float = 0.0, parent_pid: int | None = None) -> int:
    """Run the engine service until shutdown / SIGTERM / SIGINT; returns the exit code (0 = clean).

    Raises ConfigError for a non-loopback host or when a live engine already owns the connection file.
    ``runner``/``preview_runner`` replace the pipeline (see jobs.JobRunner); None = the real pipeline.
    ``model_cache=False`` gives runners ``models=None`` (no torch import: for torch-free runners).
    ``idle_timeout_s`` / ``parent_pid``: exit by itself when idle / when that process is gone (Lifetime).
    """
    host = loopback_host(host)
    lifetime = Lifetime(idle_timeout_s, parent_pid)
    conn_path = Path(connection_file) if connection_file else default_connection_path()
    outside = outside_user_profile(conn_path)
    if outside is not None:  # Windows: clients would not trust it (no uid to check; see owned_by_this_user)
        raise ConfigError(f"the connection file {conn_path} lies outside your user folder {outside}: on Windows "
                          "clients trust only a connection file there, since other users may write to shared "
                          "folders", "pass a --connection-file inside your user folder (e.g. under %LOCALAPPDATA%), "
                                     "or leave it out for the default place")
    claim = claim_connection_file(conn_path)
    try:
        return _serve_claimed(host, port, conn_path, models_dir, device, ready_callback, lifetime,
                              state_dir=state_dir, runner=runner, preview_runner=preview_runner,
                              model_cache=model_cache)
    finally:
        release_connection_file(claim)


def _serve_claimed(host, port, conn_path: Path, models_dir, device, ready_callback, lifetime: Lifetime, *,
                   state_dir, runner, preview_runner, model_cache) -> int:
    """``serve`` once this process holds the connection file's lock."""
    existing = load_connection_file(conn_path)
    if existing is not None and existing.pid != os.getpid() and not is_stale(existing):
        raise ConfigError(f"an engine is already running (pid {existing.pid}, port {existing.port}) "
                          f"and owns {conn_path}", "connect to it, shut it down, or pass --connection-file")
    state = Path(state_dir) if state_dir else default_state_dir()

    def make_jobs(publish):
        kwargs = {"runner": runner, "preview_runner": preview_runner}
        if not model_cache:
            kwargs["model_cache_factory"] = None
        return JobQueue(publish, state_dir=state, default_device=device, models_dir=models_dir, **kwargs)

    server = EngineServer(host, port, jobs_factory=make_jobs, state_dir=state, lifetime=lifetime)
    server.job_stop_s = JOB_STOP_S
    info = ConnectionInfo(host=server.host, port=server.port, token=server.token, pid=os.getpid(),
                          protocol=protocol.PROTOCOL_VERSION, path=str(conn_path))
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, lambda *_: server.stop_requested.set())
    try:
        try:
            write_connection_file(info, conn_path)
        except OSError as exc:
            from engine.failures import as_transient

            transient = as_transient(exc)  # a full disk: retry later (exit 75), not "fix your options"
            if transient is not None:
                raise transient from None
            raise ConfigError(f"cannot write the connection file {conn_path} ({exc.strerror or exc})",
                              "pass a writable --connection-file, or fix the folder's permissions") from None
        if ready_callback is not None:
            ready_callback(info)
        server.serve_forever()
    finally:
        remove_connection_file(conn_path, token=server.token)
        server.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def claim_connection_file(conn_path: Path) -> tuple[int, Path] | None:
    """Hold an exclusive lock on ``<connection file>.lock`` for the engine's life, so that "no live
    engine owns the file" and writing ours are one step: engines started in the same instant (the
    add-on and the panel each starting one) both passed the check, and the one whose file was
    overwritten ran on where no client could find it. Another engine holding it is a ConfigError.
    None (the check alone, as before) where the lock file cannot be made or locked: an unwritable
    folder is reported by the connection file's write, a file system without locks has no claim."""
    lock_path = conn_path.with_name(conn_path.name + ".lock")
    try:
        conn_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    for _ in range(8):
        try:  # never through a link: a link planted at the name is not followed, only not locked
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError:
            return None
        held = _lock_exclusive(fd)
        if held is None:
            os.close(fd)
            return None
        if not held:
            os.close(fd)
            existing = load_connection_file(conn_path)
            owner = f"pid {existing.pid}, port {existing.port}" if existing else "it is still starting"
            raise ConfigError(f"an engine is already running ({owner}) and owns {conn_path}",
                              "connect to it, shut it down, or pass --connection-file")
        try:  # an engine that was exiting may have removed the file we opened: lock the new one
            if os.path.samestat(os.fstat(fd), os.lstat(lock_path)):
                return fd, lock_path
        except OSError:
            pass
        os.close(fd)
    return None


def _lock_exclusive(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: this file system cannot lock."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def release_connection_file(claim: tuple[int, Path] | None) -> None:
    """Remove the lock file (while still holding it, so no engine can lock the removed one), then unlock."""
    if claim is None:
        return
    fd, lock_path = claim
    try:
        if os.path.samestat(os.fstat(fd), os.lstat(lock_path)):
            os.unlink(lock_path)
    except OSError:
        pass  # Windows cannot remove an open file; the next engine locks it as it is
    os.close(fd)


def add_lifetime_options(parser: argparse.ArgumentParser) -> None:
    """--idle-timeout / --parent-pid (shared by ``engine serve`` and ``python -m engine.service.server``)."""
    parser.add_argument("--idle-timeout", type=float, default=0.0, metavar="SECONDS",
                        help="exit once no client is connected and no job is queued or running for this "
                             "long (default 0 = never)")
    parser.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                        help="when this process is gone, cancel the jobs of closed connections and exit "
                             f"once idle for {PARENT_GRACE_S:g} s")


JOB_STOP_S = 1.0
"""At shutdown, how long a running job gets to stop at its own check before it is journalled
``interrupted`` and left: a step may compute for many seconds without one (a model load, a frame on
one thread); the process then ends through ``end_process``."""


def end_process(code: int) -> int:
    """``code`` to return, or the process ends here with it: when a job thread is still running after
    shutdown, no new file write may start (``write_gate``; those under way finish), and the process
    exits without interpreter teardown, which under a thread inside torch aborted it (SIGABRT, -6)."""
    if not any(t.is_alive() and t.name.startswith("engine-job-") for t in threading.enumerate()):
        return code
    from engine.io import write_gate

    write_gate.close(5.0)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None, **serve_options) -> int:
    """``python -m engine.service.server`` (the options of ``python -m engine serve`` plus --state-dir).

    ``serve_options`` go to ``serve`` as they are (Python callers only, e.g. a test entry point that
    passes its own ``runner``); the command line offers no way to load code."""
    parser = argparse.ArgumentParser(prog="python -m engine.service.server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (default)")
    parser.add_argument("--connection-file", default=None, help="default: the user runtime dir")
    parser.add_argument("--models", default=None, help="models folder")
    parser.add_argument("--device", type=device_arg, default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--state-dir", default=None, help="job journal + previews (default: user state dir)")
    add_lifetime_options(parser)
    args = parser.parse_args(argv)
    try:
        return end_process(serve(args.host, args.port, args.connection_file, args.models, args.device,
                                 state_dir=args.state_dir, idle_timeout_s=args.idle_timeout,
                                 parent_pid=args.parent_pid, **serve_options))
    except EngineError as exc:
        from engine.failures import exit_code_for

        print(f"error: {exc.user_message}", file=sys.stderr)
        return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())
