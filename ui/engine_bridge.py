"""All engine I/O of the panel, off the UI thread.

``EngineBridge`` is what widgets talk to: its methods only emit signals, so they return at once.
Two ``QObject`` workers, each in its own ``QThread`` and with its own client connection, do the
blocking calls:

* the control worker: connect / start the engine, capabilities, submit, cancel, ping;
* the preview worker: ``preview`` (seconds per frame) and loading its PNGs into ``QImage``, so a
  preview never delays a cancel and a cancel never waits for a preview.

Engine events arrive on the client's reader thread through ``client.on_event``; the bridge
re-emits them as a Qt signal, which Qt queues into the UI thread.

The connection is watched: when the engine goes away (crash, ``kill -9``) ``connection_lost`` fires
within ``LOST_CHECK_MS``, and the bridge then looks for an engine again every
``RECONNECT_INTERVAL_MS`` until one is back.

An engine the panel starts runs with ``--idle-timeout``: it outlives the panel while any client's
job is queued or running and exits by itself once no job and no client is left. Closing never
blocks the UI thread: ``shutdown`` cancels this panel's jobs (when asked) and closes what it can,
and leaves the waiting (threads, an engine still starting) to a background thread that emits
``stopped``; see its docstring.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from engine.errors import EngineError, JobCancelled, ProtocolError, UnknownJobError, UnreachableError
from ui.engine_launch import spawn_engine, wait_until_ready
from ui.wording import exception_text

DISCONNECTED = "disconnected"
CONNECTING = "connecting"
CONNECTED = "connected"
FAILED = "error"

TEARDOWN_CAP_S = 15.0
"""The longest the background teardown waits for the worker threads before stopping the engine anyway."""
STOP_TIMEOUT_S = 5.0
"""How long a started engine gets to exit after SIGTERM before it is killed."""
ENGINE_GRACE_S = 60.0
"""An engine the panel starts exits after this long with no job and no client (``--idle-timeout``)."""
LOST_CHECK_MS = 200
"""How often the UI checks whether the engine connection dropped (rows turn "interrupted")."""
RECONNECT_INTERVAL_MS = 1000
"""How often a panel that lost its engine looks for one again."""
CANCEL_ON_CLOSE_S = 3.0
"""How long closing waits for each of this panel's cancels to be answered."""


@dataclass(frozen=True)
class EngineApi:
    """The client functions the bridge calls; tests may pass other ones (the default is the real
    ``engine.service.client``, imported only when first used)."""

    read_connection_file: Callable[..., Any]
    load_connection_file: Callable[..., Any]
    default_connection_path: Callable[[], Any]
    connect: Callable[..., Any]
    stop_engine: Callable[..., Any]
    stderr_tail: Callable[..., str]
    engine_entry: tuple[str, ...]
    """What follows the Python executable to run an engine (``-m engine serve``)."""

    @classmethod
    def default(cls) -> EngineApi:
        from engine.service import client, connection

        return cls(read_connection_file=client.read_connection_file,
                   load_connection_file=connection.load_connection_file,
                   default_connection_path=connection.default_connection_path,
                   connect=client.EngineClient.connect, stop_engine=client.stop_engine,
                   stderr_tail=client.engine_stderr_tail, engine_entry=tuple(client.ENGINE_ENTRY))


def engine_environment() -> dict:
    """The panel's environment with the ``engine`` package it imports put first on PYTHONPATH, so
    ``python -m engine serve`` finds the same engine when the panel runs from a checkout."""
    import engine

    env = dict(os.environ)
    package_root = str(Path(engine.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def _connection_broken(exc: BaseException) -> bool:
    """True when the socket is gone (reconnect), False for an error the engine sent back."""
    return isinstance(exc, (UnreachableError, ProtocolError)) or not isinstance(exc, EngineError)


def _error_parts(exc: BaseException, fix_line: bool = False) -> tuple[str, str]:
    """(code, message); unexpected errors keep their type name. ``fix_line``: the engine's fix on a
    line of its own (status area, rows); else one line (the connection indicator)."""
    if isinstance(exc, EngineError):
        return exc.code, exception_text(exc) if fix_line else exc.user_message
    return "client_error", f"{type(exc).__name__}: {exc}"


def _terminate(process: subprocess.Popen) -> None:
    """SIGTERM (the engine's clean shutdown) without waiting: safe on the UI thread."""
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.terminate()


class _ControlWorker(QObject):
    """Lives in the control thread; every slot may block on the socket.

    ``stop_now`` runs on the UI thread while a slot may be blocked here, so ``client`` and
    ``process`` are swapped under ``_lock`` and each side re-checks ``closing`` after its swap:
    whichever comes second closes the client / terminates the engine, so neither is ever left behind.
    """

    state_changed = Signal(str, str)          # state, detail
    connection_ready = Signal(object)         # ConnectionInfo (handed to the preview worker)
    capabilities_ready = Signal(dict)
    job_submitted = Signal(int, str)          # panel key, engine job id
    submit_failed = Signal(int, str, str)     # panel key, code, message
    request_failed = Signal(str, str, str)    # what, code, message
    engine_event = Signal(dict)
    jobs_listed = Signal(list)                # the engine's ``jobs`` reply: every job it knows
    resume_unknown = Signal(int, str)         # panel key, job id the (new) engine does not know

    def __init__(self, api: EngineApi, connect_timeout_s: float, start_timeout_s: float, stop_timeout_s: float,
                 closing: threading.Event) -> None:
        super().__init__()
        self.busy = threading.Event()  # a connect or start is in progress (the reconnect timer waits)
        self.ready_process = False     # the engine this panel started came up (it then outlives the panel)
        self._api = api
        self._connect_timeout_s = connect_timeout_s
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._closing = closing
        self._lock = threading.Lock()
        self.client = None
        self.process: subprocess.Popen | None = None

    @Slot(str, bool)
    def connect_file(self, connection_file: str, quiet: bool = False) -> None:
        """Join the engine the connection file names. ``quiet`` (the reconnect timer): no state
        changes or errors while none is there, only the news that one is back."""
        if self._closing.is_set() or (quiet and self.client is not None):
            self.busy.clear()
            return
        self.busy.set()
        try:
            if not quiet:
                self.state_changed.emit(CONNECTING, "looking for a running engine")
            info = self._api.read_connection_file(connection_file or None)
            if info is None:
                if not quiet:
                    self.state_changed.emit(DISCONNECTED, "no running engine found (start one)")
                return
            self._open(info)
        except Exception as exc:
            if quiet:
                self._drop_client()
            else:
                self._fail("connect", exc)
        finally:
            self.busy.clear()

    @Slot(str, list)
    def start_local(self, connection_file: str, args: list) -> None:
        if self._closing.is_set():
            return
        if self.process is not None and self.process.poll() is None:
            self.connect_file(connection_file)  # ours is still running: join it, never start a second
            return
        if self._api.read_connection_file(connection_file or None) is not None:
            # a live engine owns the file (e.g. the one the last panel started, still in its idle
            # grace): a second would refuse to start ("an engine is already running"), so join it
            self.connect_file(connection_file)
            return
        self.busy.set()
        try:
            self._start_local(connection_file, args)
        finally:
            self.busy.clear()

    def _start_local(self, connection_file: str, args: list) -> None:
        self.state_changed.emit(CONNECTING, "starting engine")
        process = None
        try:
            self._drop_client()
            process, path = spawn_engine(self._api, sys.executable, tuple(args), connection_file or None,
                                         engine_environment())
            self._adopt(process)
            info = wait_until_ready(self._api, process, path, self._start_timeout_s, self._closing)
        except Exception as exc:
            if process is not None:  # died, timed out or cancelled: never leave a half-started engine
                self._api.stop_engine(process, timeout_s=self._stop_timeout_s)
            self._fail("start engine", exc)
            return
        try:
            self._open(info)
            self.ready_process = True
        except Exception as exc:
            self._fail("start engine", exc)

    def _adopt(self, process: subprocess.Popen) -> None:
        """Publish the new child at once, so a close from now on can stop it."""
        with self._lock:
            self.process = process
        if self._closing.is_set():
            _terminate(process)
            raise JobCancelled("engine start cancelled: the panel is closing")

    def _open(self, info) -> None:
        self._drop_client()
        client = self._api.connect(info, timeout_s=self._connect_timeout_s)
        client.on_event = self.engine_event.emit  # reader thread -> queued into receivers' threads
        with self._lock:
            self.client = client
        if self._closing.is_set():
            self._drop_client()
            raise JobCancelled("connection dropped: the panel is closing")
        caps = client.capabilities()
        # choices first: once the UI sees "connected" its style controls already match the engine
        self.capabilities_ready.emit(caps if isinstance(caps, dict) else {})
        self.connection_ready.emit(info)
        self.state_changed.emit(CONNECTED, _describe(info))
        self.list_jobs()

    @Slot()
    def list_jobs(self) -> None:
        """Every job the engine knows (any client, the journal): the queue follows the engine."""
        client = self.client
        if client is None or self._closing.is_set():
            return
        try:
            jobs = client.jobs()
        except Exception as exc:
            if _connection_broken(exc):
                self._lost(exc)
            return
        self.jobs_listed.emit(list(jobs) if isinstance(jobs, list) else [])

    @Slot(int, str)
    def resume(self, key: int, job_id: str) -> None:
        """Continue a stopped job on the engine under its id; frames already written are kept."""
        if self._closing.is_set():
            return
        client = self.client
        if client is None:
            self.submit_failed.emit(key, "not_connected", "not connected to an engine (connect or start one)")
            return
        try:
            new_id = str(client.resume(job_id))
        except UnknownJobError:
            self.resume_unknown.emit(key, job_id)  # a new engine without this job: the panel resubmits
            return
        except Exception as exc:
            code, message = _error_parts(exc, fix_line=True)
            self.submit_failed.emit(key, code, message)
            if _connection_broken(exc):
                self._lost(exc)
            return
        self.job_submitted.emit(key, new_id)

    @Slot()
    def check_lost(self) -> None:
        """The reader thread saw the socket close (engine killed or gone): say so at once."""
        client = self.client
        if client is not None and client.closed and not self._closing.is_set():
            self._lost(UnreachableError(client.close_reason or "the engine closed the connection", ""))

    @Slot(int, dict)
    def submit(self, key: int, settings: dict) -> None:
        if self._closing.is_set():
            return
        if self.client is None:
            self.submit_failed.emit(key, "not_connected", "not connected to an engine (connect or start one)")
            return
        try:
            job_id = str(self.client.submit(settings))
        except Exception as exc:
            code, message = _error_parts(exc, fix_line=True)
            self.submit_failed.emit(key, code, message)
            if _connection_broken(exc):
                self._lost(exc)
            return
        self.job_submitted.emit(key, job_id)  # the engine subscribed this connection on submit

    @Slot(str)
    def subscribe(self, job_id: str) -> None:
        """Re-attach to a job after a reconnect; the engine replays its latest event. A job the
        engine no longer knows (it restarted) is reported as failed so its row does not hang."""
        client = self.client
        if client is None or self._closing.is_set():
            return
        try:
            client.subscribe(job_id)
        except Exception as exc:
            code, message = _error_parts(exc)
            self.engine_event.emit({"event": "job_failed", "job": job_id,
                                    "error": {"code": code, "message": f"lost track of the job: {message}"}})

    @Slot(str)
    def cancel(self, job_id: str) -> None:
        client = self.client
        if client is None or self._closing.is_set():
            return
        try:
            client.cancel(job_id)
        except Exception as exc:
            code, message = _error_parts(exc, fix_line=True)
            self.request_failed.emit("cancel", code, message)

    @Slot()
    def ping(self) -> None:
        """Liveness check that also refreshes the queue (jobs other clients sent meanwhile)."""
        self.list_jobs()

    def _lost(self, exc: BaseException) -> None:
        self._drop_client()
        if self._closing.is_set():
            return
        _, message = _error_parts(exc)
        self.state_changed.emit(DISCONNECTED, f"connection lost: {message}")

    def _fail(self, what: str, exc: BaseException) -> None:
        if self._closing.is_set() or isinstance(exc, JobCancelled):
            return  # a close is no failure; nothing would show it anyway
        code, message = _error_parts(exc, fix_line=True)
        self.request_failed.emit(what, code, message)
        self.state_changed.emit(FAILED, _error_parts(exc)[1])

    def _drop_client(self) -> None:
        with self._lock:
            client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a dead socket may fail; nothing to tell
                client.close()

    def stop_now(self, keep_client: bool = False) -> None:
        """UI thread, on close; never blocks: a waiting request fails at once (its socket is
        closed, unless ``keep_client``: the teardown still sends cancels on it), a start in progress
        gives up within one poll, and an engine this panel is still starting gets SIGTERM now. An
        engine it started that is up keeps running for other clients' jobs; it exits by itself once
        no job and no client is left (``--idle-timeout``)."""
        self._closing.set()
        if not keep_client:
            self._drop_client()
        with self._lock:
            process = self.process
        if process is not None and not self.ready_process:
            _terminate(process)

    def cancel_jobs(self, job_ids: list[str], timeout_s: float) -> None:
        """Teardown thread: cancel this panel's jobs on the engine (each waits at most ``timeout_s``)."""
        client = self.client
        for job_id in job_ids:
            if client is None or client.closed:
                break
            with contextlib.suppress(Exception):  # a job that ended meanwhile is no failure
                client.request("cancel", timeout_s=timeout_s, job=job_id)

    def stop_started_engine(self) -> None:
        """Teardown thread: an engine this panel was still starting is stopped (killed if it will not)."""
        self._drop_client()
        with self._lock:
            process = self.process
        if process is not None and not self.ready_process:
            self._api.stop_engine(process, timeout_s=self._stop_timeout_s)


class _PreviewWorker(QObject):
    """Lives in the preview thread with its own connection; only the newest request is rendered.

    Like the control worker, ``client`` is swapped under ``_lock`` so ``stop_now`` (UI thread)
    can close a connection a preview is waiting on.
    """

    preview_ready = Signal(int, QImage, QImage, int)   # request key, before, after, frame
    preview_failed = Signal(int, str, str)             # request key, code, message

    def __init__(self, api: EngineApi, connect_timeout_s: float, closing: threading.Event) -> None:
        super().__init__()
        self._api = api
        self._connect_timeout_s = connect_timeout_s
        self._closing = closing
        self._lock = threading.Lock()
        self._info = None
        self.client = None
        self.latest_key = 0  # written by the UI thread; a plain int store is atomic under the GIL

    @Slot(object)
    def set_connection(self, info) -> None:
        self._drop_client()
        self._info = info

    @Slot(int, dict, int)
    def preview(self, key: int, settings: dict, frame: int) -> None:
        if key < self.latest_key or self._closing.is_set():
            return  # a newer request is queued behind this one, or the panel is closing
        if self._info is None:
            self.preview_failed.emit(key, "not_connected", "not connected to an engine (connect or start one)")
            return
        try:
            client = self.client
            if client is None:
                client = self._api.connect(self._info, timeout_s=self._connect_timeout_s)
                with self._lock:
                    self.client = client
                if self._closing.is_set():
                    self._drop_client()
                    return
            reply = client.preview(settings, frame)
            before = QImage(str(reply.get("source_path", "")))
            after = QImage(str(reply.get("path", "")))
            if after.isNull():
                raise EngineError(f"preview image {reply.get('path')!r} could not be read",
                                  "check the engine's temp folder")
            self.preview_ready.emit(key, before, after, int(reply.get("frame", frame)))
        except Exception as exc:
            if _connection_broken(exc):
                self._drop_client()
            if self._closing.is_set():
                return
            code, message = _error_parts(exc, fix_line=True)
            self.preview_failed.emit(key, code, message)

    def _drop_client(self) -> None:
        with self._lock:
            client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def stop_now(self) -> None:
        """UI thread, on close: a preview waiting on the engine fails at once."""
        self._closing.set()
        self._drop_client()


class EngineBridge(QObject):
    """The panel's engine connection. Methods return immediately; results come back as signals."""

    state_changed = Signal(str, str)
    capabilities_ready = Signal(dict)
    job_submitted = Signal(int, str)
    submit_failed = Signal(int, str, str)
    request_failed = Signal(str, str, str)
    engine_event = Signal(dict)
    preview_ready = Signal(int, QImage, QImage, int)
    preview_failed = Signal(int, str, str)
    jobs_listed = Signal(list)
    resume_unknown = Signal(int, str)
    connection_lost = Signal(str)  # the engine went away while connected (crash, kill, shutdown)
    stopped = Signal()  # the teardown finished: threads done, an engine still starting has exited

    # requests into the worker threads (queued: the workers live there)
    _connect_requested = Signal(str, bool)
    _start_requested = Signal(str, list)
    _submit_requested = Signal(int, dict)
    _resume_requested = Signal(int, str)
    _cancel_requested = Signal(str)
    _subscribe_requested = Signal(str)
    _ping_requested = Signal()
    _check_lost_requested = Signal()
    _preview_requested = Signal(int, dict, int)

    def __init__(self, api: EngineApi | None = None, connection_file: str | None = None,
                 engine_args: tuple[str, ...] = (), connect_timeout_s: float = 5.0,
                 start_timeout_s: float = 120.0, stop_timeout_s: float = STOP_TIMEOUT_S,
                 engine_grace_s: float = ENGINE_GRACE_S, reconnect_interval_ms: int = RECONNECT_INTERVAL_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        api = api or EngineApi.default()
        self.connection_file = connection_file or ""
        self.engine_args = tuple(engine_args)
        self.engine_grace_s = float(engine_grace_s)
        self.state = DISCONNECTED
        self._preview_key = 0
        self._was_connected = False

        self._closing = threading.Event()   # set once by shutdown; every worker slot checks it
        self._stopped = threading.Event()   # set when the teardown has finished
        self._teardown: threading.Thread | None = None

        self._control_thread = QThread(self)
        self._control_thread.setObjectName("engine-control")
        self._control = _ControlWorker(api, connect_timeout_s, start_timeout_s, stop_timeout_s, self._closing)
        self._control.moveToThread(self._control_thread)
        self._preview_thread = QThread(self)
        self._preview_thread.setObjectName("engine-preview")
        self._preview = _PreviewWorker(api, connect_timeout_s, self._closing)
        self._preview.moveToThread(self._preview_thread)

        self._connect_requested.connect(self._control.connect_file)
        self._start_requested.connect(self._control.start_local)
        self._submit_requested.connect(self._control.submit)
        self._resume_requested.connect(self._control.resume)
        self._cancel_requested.connect(self._control.cancel)
        self._subscribe_requested.connect(self._control.subscribe)
        self._ping_requested.connect(self._control.ping)
        self._check_lost_requested.connect(self._control.check_lost)
        self._preview_requested.connect(self._preview.preview)
        self._control.connection_ready.connect(self._preview.set_connection)

        self._control.state_changed.connect(self._on_state)
        for name in ("capabilities_ready", "job_submitted", "submit_failed", "request_failed", "engine_event",
                     "jobs_listed", "resume_unknown"):
            getattr(self._control, name).connect(getattr(self, name))
        self._preview.preview_ready.connect(self.preview_ready)
        self._preview.preview_failed.connect(self.preview_failed)

        self._control_thread.start()
        self._preview_thread.start()

        # engine loss shows within LOST_CHECK_MS; while none is connected, look for one again
        self._lost_timer = QTimer(self)
        self._lost_timer.setInterval(LOST_CHECK_MS)
        self._lost_timer.timeout.connect(self._check_lost)
        self._lost_timer.start()
        self._reconnect_timer = QTimer(self)
        self._reconnect_timer.setInterval(max(50, int(reconnect_interval_ms)))
        self._reconnect_timer.timeout.connect(self._reconnect)
        if reconnect_interval_ms > 0:
            self._reconnect_timer.start()

    def _check_lost(self) -> None:
        client = self._control.client
        if self.state == CONNECTED and client is not None and client.closed:
            self._check_lost_requested.emit()

    def _reconnect(self) -> None:
        """Quietly join an engine that is (back) up; only after this panel wanted one."""
        if self._was_connected and self.state in (DISCONNECTED, FAILED) and not self._control.busy.is_set() \
                and not self._closing.is_set():
            self._control.busy.set()  # cleared by the worker when the attempt ends
            self._connect_requested.emit(self.connection_file, True)

    @property
    def started_process(self) -> subprocess.Popen | None:
        """The engine process this panel started (None when it joined a running one)."""
        return self._control.process

    def connect_to_engine(self) -> None:
        self._was_connected = True  # from now on a lost engine is looked for again
        self._connect_requested.emit(self.connection_file, False)

    def start_engine(self) -> None:
        """Start a local engine that outlives this panel while any client's job is queued or
        running, and exits after ``engine_grace_s`` with no job and no client left."""
        self._was_connected = True
        args = list(self.engine_args)
        if self.engine_grace_s > 0 and "--idle-timeout" not in args:
            args += ["--idle-timeout", f"{self.engine_grace_s:g}"]
        self._start_requested.emit(self.connection_file, args)

    def submit(self, key: int, settings: dict) -> None:
        self._submit_requested.emit(key, dict(settings))

    def resume(self, key: int, job_id: str) -> None:
        self._resume_requested.emit(key, job_id)

    def list_jobs(self) -> None:
        if self.state == CONNECTED:
            self._ping_requested.emit()

    def cancel(self, job_id: str) -> None:
        self._cancel_requested.emit(job_id)

    def subscribe(self, job_id: str) -> None:
        self._subscribe_requested.emit(job_id)

    def ping(self) -> None:
        if self.state == CONNECTED:
            self._ping_requested.emit()

    def request_preview(self, settings: dict, frame: int) -> int:
        """Ask for one stylized frame; returns the request key that ``preview_ready`` will carry."""
        self._preview_key += 1
        key = self._preview_key
        self._preview.latest_key = key
        self._preview_requested.emit(key, dict(settings), int(frame))
        return key

    @Slot(str, str)
    def _on_state(self, state: str, detail: str) -> None:
        if self._closing.is_set():
            return
        was = self.state
        self.state = state
        self.state_changed.emit(state, detail)
        if was == CONNECTED and state == DISCONNECTED:  # a reconnect the artist asked for passes CONNECTING
            self.connection_lost.emit(detail)

    @property
    def is_stopped(self) -> bool:
        return self._stopped.is_set()

    def wait_stopped(self, timeout_s: float) -> bool:
        """Block until the teardown has finished (for callers that exit without an event loop)."""
        return self._stopped.wait(timeout_s)

    def shutdown(self, cap_s: float = TEARDOWN_CAP_S, cancel_jobs: list[str] | tuple[str, ...] = ()) -> None:
        """Begin the teardown and return at once: the UI thread never waits on engine I/O.

        Now (UI thread, no waiting): every worker is told to stop, open connections are closed so
        a waiting request fails at once (the control connection stays open for ``cancel_jobs``), a
        start in progress is cancelled, and an engine this panel is still starting gets SIGTERM.
        Then a plain thread cancels ``cancel_jobs`` (this panel's jobs; other clients' jobs go on),
        waits for the worker threads (at most ``cap_s``), waits for an engine still starting to
        exit (kills it after ``stop_timeout_s``) and emits ``stopped``. An engine that came up
        stays for other clients and exits by itself when idle. The thread is not a daemon, so even a script
        that exits right after closing the window leaves no engine behind. The bridge moves under
        the application object (one small object per closed window, kept until the application
        ends) so that deleting the window cannot destroy threads that are still running.
        Calling it again does nothing.
        """
        if self._teardown is not None:
            return
        self._closing.set()
        self._lost_timer.stop()
        self._reconnect_timer.stop()
        self._preview.stop_now()
        self._control.stop_now(keep_client=bool(cancel_jobs))
        for thread in (self._preview_thread, self._control_thread):
            thread.quit()
        app = QCoreApplication.instance()
        if app is not None and self.thread() is app.thread():
            self.setParent(app)
        self._teardown = threading.Thread(target=self._finish_teardown, args=(cap_s, list(cancel_jobs)),
                                          name="engine-bridge-teardown")
        self._teardown.start()

    def _finish_teardown(self, cap_s: float, cancel_jobs: list[str]) -> None:
        deadline = time.monotonic() + cap_s
        try:
            if cancel_jobs:
                self._control.cancel_jobs(cancel_jobs, timeout_s=CANCEL_ON_CLOSE_S)
            for thread in (self._preview_thread, self._control_thread):
                thread.wait(max(0, int((deadline - time.monotonic()) * 1000)))
            self._control.stop_started_engine()  # also when a thread overran the cap: never orphan it
        finally:
            self._stopped.set()
            self.stopped.emit()


def _describe(info) -> str:
    host = getattr(info, "host", None)
    port = getattr(info, "port", None)
    pid = getattr(info, "pid", None)
    where = f"{host}:{port}" if host and port else "engine"
    return f"{where} (pid {pid})" if pid else where
