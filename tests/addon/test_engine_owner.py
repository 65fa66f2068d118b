"""Engines the add-on auto-starts are kept and stopped (shutdown request, then SIGTERM/kill)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vtoonify_addon.core.engine_link import EngineLaunchSettings, connect
from vtoonify_addon.core.engine_owner import StartedEngines

pytestmark = pytest.mark.timeout(120)


def test_auto_started_engine_is_tracked_and_shut_down_cleanly(engine_api, repo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    conn = tmp_path / "auto.json"
    owner = StartedEngines()
    settings = EngineLaunchSettings(python_exe=sys.executable, engine_root=str(repo_root), extra_args="--device cpu",
                                    connection_file=str(conn), auto_start=True, start_timeout_s=90)
    client = connect(settings, engine_api, on_start=owner.add)
    try:
        assert client.ping()["ok"]
    finally:
        client.close()
    (proc,) = owner.running()
    assert engine_api.read_connection_file(str(conn)).pid == proc.pid
    # a second connect finds the running engine through its file and starts nothing
    connect(settings, engine_api, on_start=owner.add).close()
    assert owner.running() == [proc]
    assert owner.stop_all(engine_api) == [0]  # the shutdown request, not a signal, ended it
    assert proc.poll() == 0 and not conn.exists()
    assert owner.running() == [] and owner.stop_all(engine_api) == []


def test_engine_that_ignores_shutdown_is_terminated(engine_api):
    owner = StartedEngines()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner.add(proc, None)  # no connection info: straight to SIGTERM
    codes = owner.stop_all(engine_api, timeout_s=5)
    assert proc.poll() is not None and codes == [proc.returncode] and codes[0] != 0
    if os.name == "posix":
        assert codes[0] == -15


def test_exit_code_tells_an_engine_that_ended_by_itself():
    owner = StartedEngines()
    quick = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner.add(quick, None)
    owner.add(slow, None)
    quick.wait(30)
    try:
        assert owner.exit_code(quick.pid) == 3
        assert owner.exit_code(slow.pid) is None  # still running
        assert owner.exit_code(0) is None and owner.exit_code(-1) is None  # not one it started
    finally:
        slow.kill()
        slow.wait(10)
