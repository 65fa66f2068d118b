"""All engine I/O of the panel, off the UI thread.

``EngineBridge`` is what widgets talk to: its methods only emit signals, so they return at once.
Two ``QObject`` workers, each in its own ``QThread`` and with its own client connection, do the
blocking calls:

* the control worker: connect / start the engine, capabilities, submit, cancel, ping;
* the preview worker: ``preview`` (seconds per frame) and loading its PNGs into ``QImage``, so a
  preview never delays a cancel and a cancel never waits for a preview.

Engine events arrive on the client's reader thread through ``client.on_event``; the bridge
re-emits them as a Qt signal, which Qt queues into the UI thread.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from engine.errors import EngineError, ProtocolError, UnreachableError

DISCONNECTED = "disconnected"
CONNECTING = "connecting"
CONNECTED = "connected"
FAILED = "error"


@dataclass(frozen=True)
class EngineApi:
    """The client functions the bridge calls; tests may pass other ones (the default is the real
    ``engine.service.client``, imported only when first used)."""

    read_connection_file: Callable[..., Any]
    connect: Callable[..., Any]
    start_engine: Callable[..., Any]
    stop_engine: Callable[..., Any]

    @classmethod
    def default(cls) -> EngineApi:
        from engine.service import client

        return cls(read_connection_file=client.read_connection_file,
                   connect=client.EngineClient.connect, start_engine=client.start_engine,
                   stop_engine=client.stop_engine)


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


def _error_parts(exc: BaseException) -> tuple[str, str]:
    """(code, one-line message) for the status area; unexpected errors keep their type name."""
    if isinstance(exc, EngineError):
        return exc.code, exc.user_message
    return "client_error", f"{type(exc).__name__}: {exc}"


class _ControlWorker(QObject):
    """Lives in the control thread; every slot may block on the socket."""

    state_changed = Signal(str, str)          # state, detail
    connection_ready = Signal(object)         # ConnectionInfo (handed to the preview worker)
    capabilities_ready = Signal(dict)
    job_submitted = Signal(int, str)          # panel key, engine job id
    submit_failed = Signal(int, str, str)     # panel key, code, message
    request_failed = Signal(str, str, str)    # what, code, message
    engine_event = Signal(dict)

    def __init__(self, api: EngineApi, connect_timeout_s: float, start_timeout_s: float) -> None:
        super().__init__()
        self._api = api
        self._connect_timeout_s = connect_timeout_s
        self._start_timeout_s = start_timeout_s
        self.client = None
        self.process: subprocess.Popen | None = None

    @Slot(str)
    def connect_file(self, connection_file: str) -> None:
        self.state_changed.emit(CONNECTING, "looking for a running engine")
        try:
            info = self._api.read_connection_file(connection_file or None)
            if info is None:
                self.state_changed.emit(DISCONNECTED, "no running engine found (start one)")
                return
            self._open(info)
        except Exception as exc:
            self._fail("connect", exc)

    @Slot(str, list)
    def start_local(self, connection_file: str, args: list) -> None:
        if self.process is not None and self.process.poll() is None:
            self.connect_file(connection_file)  # ours is still running: join it, never start a second
            return
        self.state_changed.emit(CONNECTING, "starting engine")
        try:
            self._drop_client()
            process, info = self._api.start_engine(sys.executable, args=tuple(args),
                                                   connection_file=connection_file or None,
                                                   env=engine_environment(), timeout_s=self._start_timeout_s)
            self.process = process
            self._open(info)
        except Exception as exc:
            self._fail("start engine", exc)

    def _open(self, info) -> None:
        self._drop_client()
        client = self._api.connect(info, timeout_s=self._connect_timeout_s)
        client.on_event = self.engine_event.emit  # reader thread -> queued into receivers' threads
        self.client = client
        caps = client.capabilities()
        # choices first: once the UI sees "connected" its style controls already match the engine
        self.capabilities_ready.emit(caps if isinstance(caps, dict) else {})
        self.connection_ready.emit(info)
        self.state_changed.emit(CONNECTED, _describe(info))

    @Slot(int, dict)
    def submit(self, key: int, settings: dict) -> None:
        if self.client is None:
            self.submit_failed.emit(key, "not_connected", "not connected to an engine (connect or start one)")
            return
        try:
            job_id = str(self.client.submit(settings))
        except Exception as exc:
            code, message = _error_parts(exc)
            self.submit_failed.emit(key, code, message)
            if _connection_broken(exc):
                self._lost(exc)
            return
        self.job_submitted.emit(key, job_id)  # the engine subscribed this connection on submit

    @Slot(str)
    def subscribe(self, job_id: str) -> None:
        """Re-attach to a job after a reconnect; the engine replays its latest event. A job the
        engine no longer knows (it restarted) is reported as failed so its row does not hang."""
        if self.client is None:
            return
        try:
            self.client.subscribe(job_id)
        except Exception as exc:
            code, message = _error_parts(exc)
            self.engine_event.emit({"event": "job_failed", "job": job_id,
                                    "error": {"code": code, "message": f"lost track of the job: {message}"}})

    @Slot(str)
    def cancel(self, job_id: str) -> None:
        if self.client is None:
            return
        try:
            self.client.cancel(job_id)
        except Exception as exc:
            code, message = _error_parts(exc)
            self.request_failed.emit("cancel", code, message)

    @Slot()
    def ping(self) -> None:
        if self.client is None:
            return
        try:
            self.client.ping()
        except Exception as exc:
            if _connection_broken(exc):
                self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        self._drop_client()
        _, message = _error_parts(exc)
        self.state_changed.emit(DISCONNECTED, f"connection lost: {message}")

    def _fail(self, what: str, exc: BaseException) -> None:
        code, message = _error_parts(exc)
        self.request_failed.emit(what, code, message)
        self.state_changed.emit(FAILED, message)

    def _drop_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a dead socket may fail; nothing to tell
                client.close()

    def close(self) -> None:
        """Called from the UI thread after this worker's thread stopped."""
        self._drop_client()
        process, self.process = self.process, None
        if process is not None:
            self._api.stop_engine(process)


class _PreviewWorker(QObject):
    """Lives in the preview thread with its own connection; only the newest request is rendered."""

    preview_ready = Signal(int, QImage, QImage, int)   # request key, before, after, frame
    preview_failed = Signal(int, str, str)             # request key, code, message

    def __init__(self, api: EngineApi, connect_timeout_s: float) -> None:
        super().__init__()
        self._api = api
        self._connect_timeout_s = connect_timeout_s
        self._info = None
        self.client = None
        self.latest_key = 0  # written by the UI thread; a plain int store is atomic under the GIL

    @Slot(object)
    def set_connection(self, info) -> None:
        self._drop_client()
        self._info = info

    @Slot(int, dict, int)
    def preview(self, key: int, settings: dict, frame: int) -> None:
        if key < self.latest_key:
            return  # a newer request is queued behind this one
        if self._info is None:
            self.preview_failed.emit(key, "not_connected", "not connected to an engine (connect or start one)")
            return
        try:
            if self.client is None:
                self.client = self._api.connect(self._info, timeout_s=self._connect_timeout_s)
            reply = self.client.preview(settings, frame)
            before = QImage(str(reply.get("source_path", "")))
            after = QImage(str(reply.get("path", "")))
            if after.isNull():
                raise EngineError(f"preview image {reply.get('path')!r} could not be read",
                                  "check the engine's temp folder")
            self.preview_ready.emit(key, before, after, int(reply.get("frame", frame)))
        except Exception as exc:
            if _connection_broken(exc):
                self._drop_client()
            code, message = _error_parts(exc)
            self.preview_failed.emit(key, code, message)

    def _drop_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


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

    # requests into the worker threads (queued: the workers live there)
    _connect_requested = Signal(str)
    _start_requested = Signal(str, list)
    _submit_requested = Signal(int, dict)
    _cancel_requested = Signal(str)
    _subscribe_requested = Signal(str)
    _ping_requested = Signal()
    _preview_requested = Signal(int, dict, int)

    def __init__(self, api: EngineApi | None = None, connection_file: str | None = None,
                 engine_args: tuple[str, ...] = (), connect_timeout_s: float = 5.0,
                 start_timeout_s: float = 120.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        api = api or EngineApi.default()
        self.connection_file = connection_file or ""
        self.engine_args = tuple(engine_args)
        self.state = DISCONNECTED
        self._preview_key = 0

        self._control_thread = QThread(self)
        self._control_thread.setObjectName("engine-control")
        self._control = _ControlWorker(api, connect_timeout_s, start_timeout_s)
        self._control.moveToThread(self._control_thread)
        self._preview_thread = QThread(self)
        self._preview_thread.setObjectName("engine-preview")
        self._preview = _PreviewWorker(api, connect_timeout_s)
        self._preview.moveToThread(self._preview_thread)

        self._connect_requested.connect(self._control.connect_file)
        self._start_requested.connect(self._control.start_local)
        self._submit_requested.connect(self._control.submit)
        self._cancel_requested.connect(self._control.cancel)
        self._subscribe_requested.connect(self._control.subscribe)
        self._ping_requested.connect(self._control.ping)
        self._preview_requested.connect(self._preview.preview)
        self._control.connection_ready.connect(self._preview.set_connection)

        self._control.state_changed.connect(self._on_state)
        for name in ("capabilities_ready", "job_submitted", "submit_failed", "request_failed", "engine_event"):
            getattr(self._control, name).connect(getattr(self, name))
        self._preview.preview_ready.connect(self.preview_ready)
        self._preview.preview_failed.connect(self.preview_failed)

        self._control_thread.start()
        self._preview_thread.start()

    @property
    def started_process(self) -> subprocess.Popen | None:
        """The engine process this panel started (None when it joined a running one)."""
        return self._control.process

    def connect_to_engine(self) -> None:
        self._connect_requested.emit(self.connection_file)

    def start_engine(self) -> None:
        self._start_requested.emit(self.connection_file, list(self.engine_args))

    def submit(self, key: int, settings: dict) -> None:
        self._submit_requested.emit(key, dict(settings))

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
        self.state = state
        self.state_changed.emit(state, detail)

    def shutdown(self, wait_ms: int = 30000) -> None:
        """Stop both threads, close the connections and stop the engine if this panel started it.

        The connections are closed first (the client allows that from any thread): a preview or
        request still waiting on the engine then fails at once instead of holding the thread.
        """
        threads = (self._preview_thread, self._control_thread)
        for thread in threads:
            thread.quit()
        self._preview._drop_client()
        self._control._drop_client()
        for thread in threads:
            thread.wait(wait_ms)
        self._control.close()


def _describe(info) -> str:
    host = getattr(info, "host", None)
    port = getattr(info, "port", None)
    pid = getattr(info, "pid", None)
    where = f"{host}:{port}" if host and port else "engine"
    return f"{where} (pid {pid})" if pid else where
