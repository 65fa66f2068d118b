"""The connection file: how clients find a running engine and prove they may talk to it.

JSON ``{"host", "port", "token", "pid", "protocol"}`` written with mode 0600 (the token is the only
secret: anyone who can read the file may drive the engine). STDLIB ONLY — the add-on copies this file.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.user_dirs import user_dir

APP_DIR_NAME = "vtoonify"
FILE_NAME = "engine.json"


@dataclass(frozen=True)
class ConnectionInfo:
    """Where a running engine listens and the token its clients must present."""

    host: str
    port: int
    token: str
    pid: int
    protocol: int = 1
    path: str | None = None
    """The file this came from (not written into the file)."""

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("path")
        return data


def default_connection_path() -> Path:
    """Per-user runtime location: $XDG_RUNTIME_DIR/vtoonify, else the user cache dir (per platform)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / APP_DIR_NAME / FILE_NAME
    return user_dir("cache") / FILE_NAME


LOOPBACK_ADDRESSES = ("127.0.0.1", "localhost", "::1")
"""Hosts a connection file may name; anything else would send the client's jobs off this machine."""


def write_connection_file(info: ConnectionInfo, path: str | os.PathLike | None = None) -> Path:
    """Write atomically with mode 0600 (created 0600, never world-readable even for an instant)."""
    target = Path(path) if path else default_connection_path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=".engine-", suffix=".tmp", dir=str(target.parent))
    try:
        os.chmod(tmp_name, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(info.to_dict(), handle)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return target


def load_connection_file(path: str | os.PathLike | None = None) -> ConnectionInfo | None:
    """Parse the file without checking liveness; None if absent or not a valid connection file."""
    target = Path(path) if path else default_connection_path()
    try:
        # A file another user owns (planted in a shared folder such as /tmp) is not trusted: their engine
        # would receive this user's jobs and paths.
        if not owned_by_this_user(target):
            return None
        data = json.loads(_read_small_file(target))
        info = ConnectionInfo(host=str(data["host"]), port=int(data["port"]), token=str(data["token"]),
                              pid=int(data["pid"]), protocol=int(data.get("protocol", 1)), path=str(target))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    if info.host not in LOOPBACK_ADDRESSES:  # an engine only ever listens on loopback
        return None
    return info


def owned_by_this_user(target: Path) -> bool:
    """Whether the file at ``target`` is this user's to trust. POSIX: its owner is this uid. Windows has
    no uids: the file must lie inside this user's profile folder (``%USERPROFILE%``, which holds
    ``%LOCALAPPDATA%``, the default place), whose ACLs let no other ordinary user write there; a shared
    folder (``C:\\Users\\Public``, a network drive) could hold another user's file. OSError when absent."""
    if hasattr(os, "getuid"):
        return target.stat().st_uid == os.getuid()
    target.stat()
    return outside_user_profile(target) is None


def outside_user_profile(target: str | os.PathLike) -> str | None:
    """Where there are no uids (Windows): the user's folder that ``target`` lies outside of, else None.
    ``%USERPROFILE%`` or ``%LOCALAPPDATA%`` (redirected elsewhere on some networks) both count. Compared
    as Windows compares names (case-insensitive, either slash), after links are resolved."""
    if hasattr(os, "getuid"):
        return None
    import ntpath

    profile = os.environ.get("USERPROFILE") or str(Path.home())
    roots = [profile, os.environ.get("LOCALAPPDATA") or profile]
    name = ntpath.normcase(os.path.realpath(target))
    inside = any(name.startswith(ntpath.normcase(os.path.realpath(root)).rstrip("\\") + "\\") for root in roots)
    return None if inside else profile


MAX_CONNECTION_FILE_BYTES = 64 << 10
"""A connection file is ~150 bytes; more than this is not one (never read whole: a link to a huge file)."""


def _read_small_file(target: Path) -> str:
    """The text of ``target`` if it is a regular file of at most MAX_CONNECTION_FILE_BYTES; OSError otherwise.
    O_NONBLOCK: a FIFO planted at the path would block the open (Blender's UI, the engine's start) forever."""
    fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CONNECTION_FILE_BYTES:
            raise OSError(f"{target} is not a connection file (not a small regular file)")
        return os.read(fd, MAX_CONNECTION_FILE_BYTES + 1).decode("utf-8")
    finally:
        os.close(fd)


def read_connection_file(path: str | os.PathLike | None = None) -> ConnectionInfo | None:
    """The live engine's connection info; None if the file is absent, unreadable, stale, owned by another
    user or naming a host that is not loopback."""
    info = load_connection_file(path)
    if info is None or is_stale(info):
        return None
    return info


def is_stale(info: ConnectionInfo, timeout_s: float = 1.0) -> bool:
    """Stale when the pid is gone or nothing accepts connections on the port."""
    if not pid_alive(info.pid):
        return True
    try:
        with socket.create_connection((info.host, info.port), timeout=timeout_s):
            return False
    except OSError:
        return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie child still counts until reaped). A pid no
    process can have (a forged or damaged connection file's 2**40) is simply not alive."""
    if pid <= 0 or pid > 0xFFFFFFFF:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # Overflow: a pid no process can have (a forged file's 2**40)
        return False
    except PermissionError:
        return True
    return True


_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_ERROR_ACCESS_DENIED = 5
_STILL_ACTIVE = 259


def _windows_pid_alive(pid: int) -> bool:
    """Windows: a process that exited still opens while anyone holds a handle to it (its parent's Popen
    does), so its exit code is asked too; a process of another user that refuses the query exists."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = ctypes.c_void_p
    handle = kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return ctypes.get_last_error() == _ERROR_ACCESS_DENIED
    try:
        code = ctypes.c_ulong(0)
        if not kernel32.GetExitCodeProcess(ctypes.c_void_p(handle), ctypes.byref(code)):
            return True
        return code.value == _STILL_ACTIVE
    finally:
        kernel32.CloseHandle(ctypes.c_void_p(handle))


def remove_connection_file(path: str | os.PathLike | None, token: str | None = None) -> bool:
    """Delete the file if it is still ours (same token), so a newer engine's file is never removed."""
    target = Path(path) if path else default_connection_path()
    if token is not None:
        current = load_connection_file(target)
        if current is None or current.token != token:
            return False
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True
