"""`models fetch` against loopback servers that stall or drop the connection: a network hiccup is a
retry (exit 75, as docs/FARM.md's table says for a resource that ran short), not "fix the job" (exit 2).
A 404 or a wrong checksum stays 2: fetching again would get the same answer."""

from __future__ import annotations

import functools
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.cli import main
from engine.failures import EXIT_RETRY, EXIT_USER_ERROR

pytestmark = pytest.mark.timeout(60)


class _Handler(BaseHTTPRequestHandler):
    """``server.mode``: 'stall_body' (headers and 64 KiB, then silence), 'no_answer' (accepts, says nothing),
    'reset' (headers and 64 KiB, then a TCP reset), 'missing' (404)."""

    def do_GET(self):
        mode = self.server.mode
        if mode == "missing":
            self.send_error(404)
            return
        if mode == "no_answer":
            self.server.release.wait(20)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(4 << 20))
        self.end_headers()
        self.wfile.write(b"PK\x03\x04" + bytes((64 << 10) - 4))
        self.wfile.flush()
        if mode == "reset":  # SO_LINGER 0: close() sends RST, as a proxy or load balancer dropping it does
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.server.release.wait(20)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.release = threading.Event()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


def _fetch(server, models, monkeypatch, *extra) -> int:
    import engine.models.fetch as fetch

    monkeypatch.setattr(fetch, "fetch_models", functools.partial(fetch.fetch_models, timeout_s=0.5))
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    return main(["models", "fetch", "--models", str(models), "--base-url", url, *extra])


@pytest.mark.parametrize("mode", ["stall_body", "no_answer", "reset"])
def test_a_stalled_or_dropped_download_exits_75_saying_it_may_be_retried(server, tmp_path, monkeypatch, capsys, mode):
    # Before: a server that went quiet (read timeout) or dropped the connection exited 2, "fix the job",
    # so a farm failed the job for good on a network hiccup a retry would get past.
    server.mode = mode
    models = tmp_path / "models"
    assert _fetch(server, models, monkeypatch) == EXIT_RETRY
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "may be retried" in err, err
    assert ("timed out" if mode != "reset" else "interrupted after 65536 of 4194304 bytes") in err, err
    if mode == "reset":  # what arrived is kept: the retry resumes it
        assert (models / "encoder.pt.part").stat().st_size == 64 << 10
    assert not (models / "encoder.pt").exists()


def test_a_missing_file_still_exits_2(server, tmp_path, monkeypatch, capsys):
    server.mode = "missing"
    assert _fetch(server, tmp_path / "models", monkeypatch, "--json") == EXIT_USER_ERROR
    assert "is not available (HTTP 404)" in capsys.readouterr().err
