"""A real engine service process whose pipeline is the fast ``burst_runner`` stand-in, and a real
loopback proxy that holds each new connection back (an engine that is slow to answer)."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent



class DelayingProxy:
    def __init__(self, target: tuple[str, int], delay_s: float) -> None:
        self.target, self.delay_s = target, delay_s
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        time.sleep(self.delay_s)  # the client's hello waits unanswered meanwhile
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pipe, args=(conn, upstream), daemon=True).start()
        _pipe(upstream, conn)

    def close(self) -> None:
        self._stop.set()
        self._server.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture(scope="session")
def engine_api():
    from vtoonify_addon import engine_client

    return engine_client.load()


@pytest.fixture(scope="session")
def burst_engine(engine_api, repo_root, tmp_path_factory):
    """(Popen, ConnectionInfo) of a live engine service; stopped at the end of the session."""
    state = tmp_path_factory.mktemp("burst-svc")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo_root), str(HERE)]))
    proc, info = engine_api.start_engine(sys.executable, args=("--job-runner", "burst_runner:run",
                                                               "--no-model-cache", "--state-dir",
                                                               str(state / "state")),
                                         connection_file=str(state / "conn.json"), env=env, timeout_s=60,
                                         entry=(str(repo_root / "tests" / "service" / "engine_entry.py"),))
    yield proc, info
    sys.modules[engine_api.EngineClient.__module__].stop_engine(proc)


@pytest.fixture()
def delaying_proxy():
    """``delaying_proxy((host, port), delay_s)`` -> a started DelayingProxy, closed after the test."""
    proxies = []

    def make(target: tuple[str, int], delay_s: float) -> DelayingProxy:
        proxies.append(DelayingProxy(target, delay_s))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()
