"""The client's Windows branches, simulated on Linux (no Windows run proves them; see README "Platforms").

``sys.platform`` is patched to ``win32``, ``os.getuid`` removed and ``ctypes.WinDLL`` replaced by a
stand-in kernel32 that answers as Windows documents (OpenProcess, GetExitCodeProcess, GetLastError).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

from engine.errors import ConfigError
from engine.service import client, connection, server

STILL_ACTIVE = 259


class FakeKernel32:
    """Processes by pid: ``"running"``, an exit code (exited, a handle still open somewhere), or
    ``"denied"`` (another user's, refusing the query); any other pid does not exist."""

    def __init__(self, processes: dict) -> None:
        self.processes = processes
        self.last_error = 0
        self.open_handles: set[int] = set()

        def open_process(access, inherit, pid):
            state = self.processes.get(pid)
            if state is None or state == "denied":
                self.last_error = 5 if state == "denied" else 87  # ACCESS_DENIED / INVALID_PARAMETER
                return 0
            self.open_handles.add(pid + 1000)
            return pid + 1000

        def exit_code(handle, code_ref):
            state = self.processes[_value(handle) - 1000]
            code_ref._obj.value = STILL_ACTIVE if state == "running" else state
            return 1

        def close_handle(handle):
            self.open_handles.discard(_value(handle))
            return 1

        self.OpenProcess = open_process
        self.GetExitCodeProcess = exit_code
        self.CloseHandle = close_handle


def _value(handle) -> int:
    return handle.value if isinstance(handle, ctypes.c_void_p) else handle


@pytest.fixture
def windows(monkeypatch):
    kernel32 = FakeKernel32({})
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ctypes, "WinDLL", lambda name, use_last_error=False: kernel32, raising=False)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: kernel32.last_error, raising=False)
    return kernel32


def test_pid_alive_asks_the_exit_code_and_counts_refusals_as_alive(windows):
    windows.processes.update({4100: "running", 4200: 0, 4300: "denied", 4400: 1})
    assert connection.pid_alive(4100)
    assert not connection.pid_alive(4200)  # exited; its parent's Popen still holds a handle, so it opens
    assert not connection.pid_alive(4400)
    assert connection.pid_alive(4300)  # another user's process refuses the query: it exists
    assert not connection.pid_alive(4500)  # no such process
    assert windows.open_handles == set()  # every handle opened was closed


def test_engine_children_get_their_own_group_and_no_console_on_windows():
    flags = client.engine_process_options("win32")["creationflags"]
    assert flags & 0x00000200 and flags & 0x08000000  # CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW
    assert client.engine_process_options("linux") == {} and client.engine_process_options("darwin") == {}


@pytest.fixture
def no_uids(monkeypatch, tmp_path):
    """No os.getuid (Windows); the user's profile folder is ``<tmp>/Home`` (named in another case)."""
    monkeypatch.delattr(os, "getuid")
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "HOME"))
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    return tmp_path


def _write(path, pid=None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": "127.0.0.1", "port": 1, "token": "t", "pid": pid or os.getpid()}))
    return str(path)


def test_without_uids_a_connection_file_is_trusted_only_inside_the_profile(no_uids):
    mine = _write(no_uids / "HOME" / "AppData" / "Local" / "vtoonify" / "engine.json")
    planted = _write(no_uids / "Public" / "engine.json")
    assert connection.load_connection_file(mine) is not None
    assert connection.load_connection_file(planted) is None  # a shared folder: maybe another user's file
    beside = _write(no_uids / "HOME-other" / "engine.json")  # a sibling whose name starts the same
    assert connection.load_connection_file(beside) is None
    os.environ["USERPROFILE"] = str(no_uids / "home")  # Windows compares names without case
    assert connection.load_connection_file(mine) is not None
    os.environ["LOCALAPPDATA"] = str(no_uids / "Public")  # a redirected local app-data folder counts too
    assert connection.load_connection_file(planted) is not None


def test_without_uids_the_engine_refuses_a_connection_file_clients_would_not_trust(no_uids):
    with pytest.raises(ConfigError) as err:
        server.serve(connection_file=no_uids / "Public" / "engine.json", model_cache=False)
    assert "outside your user folder" in err.value.message and "%LOCALAPPDATA%" in err.value.fix
    assert not (no_uids / "Public").exists()  # refused before anything was made


def test_a_posix_start_gets_no_windows_flags(tmp_path, monkeypatch):
    """The Linux start of a real child is unchanged: Popen gets no creationflags."""
    from engine.errors import UnreachableError

    seen = {}
    real = subprocess.Popen

    def record(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", record)
    with pytest.raises(UnreachableError, match="exited with code 3"):  # only the Popen call matters here
        client.start_engine(
            sys.executable, entry=("-c", "raise SystemExit(3)"), connection_file=str(tmp_path / "c.json"), timeout_s=10
        )
    assert "creationflags" not in seen and seen["stdin"] == subprocess.DEVNULL
