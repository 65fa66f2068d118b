"""An engine the add-on starts dies with the process that started it, even after a kill -9 (a crash)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False


def test_engine_started_by_a_crashed_host_exits(repo_root, tmp_path):
    host = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(repo_root)!r})
        from vtoonify_addon import engine_client
        from vtoonify_addon.core.engine_link import EngineLaunchSettings, connect
        settings = EngineLaunchSettings(python_exe=sys.executable, engine_root={str(repo_root)!r},
                                        connection_file={str(tmp_path / "engine.json")!r},
                                        extra_args="--device cpu", start_timeout_s=120)
        client = connect(settings, engine_client.load(), on_start=lambda proc, info: print(proc.pid, flush=True))
        print("connected", flush=True)
        time.sleep(600)
    """)
    env = dict(os.environ, VTOONIFY_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-c", host], stdout=subprocess.PIPE, text=True, env=env)
    try:
        engine_pid = int(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "connected"
        assert _alive(engine_pid)
        os.kill(proc.pid, signal.SIGKILL)  # Blender crashing: no atexit, no shutdown request
        proc.wait(10)
        deadline = time.monotonic() + 30
        while _alive(engine_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(engine_pid), "the engine outlived the crashed process that started it"
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            os.kill(engine_pid, signal.SIGKILL)
        except (OSError, UnboundLocalError):
            pass
