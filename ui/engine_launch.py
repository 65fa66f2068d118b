"""Start an engine child that the panel can stop at any moment, even before it answers.

``client.start_engine`` hands its ``Popen`` back only once the engine says hello, which can take
minutes while models load; a panel closed meanwhile could neither stop that child nor stop waiting
for it. Here the launch is split in two so the caller holds the ``Popen`` from the instant it exists:
``spawn_engine`` (returns at once) and ``wait_until_ready`` (polls, and gives up within one poll
once ``cancelled`` is set). The protocol facts (entry point, connection file, hello) are the
client's; this module only changes who owns the waiting.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from engine.errors import EngineError, JobCancelled, UnreachableError
from engine.service.client import engine_process_options

POLL_S = 0.05


def spawn_engine(api: Any, python_exe: str, args: tuple[str, ...], connection_file: str | None,
                 env: dict | None) -> tuple[subprocess.Popen, str]:
    """Start ``python -m engine serve`` as a child; returns (process, connection file path) at once.

    stderr goes to an unlinked temp file kept on the process as ``stderr_log`` (the attribute the
    client's ``engine_stderr_tail`` reads), never a pipe: a chatty engine must not block on it.
    """
    path = connection_file or str(api.default_connection_path())
    command = [python_exe, *api.engine_entry, "--connection-file", path, *args]
    stderr_log = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr_log, env=env, **engine_process_options())
    except OSError as exc:
        stderr_log.close()
        raise UnreachableError(f"cannot start the engine with {python_exe} ({exc})",
                               "check the panel's Python installation") from None
    process.stderr_log = stderr_log  # type: ignore[attr-defined]  # kept open for the engine's lifetime
    return process, path


def wait_until_ready(api: Any, process: subprocess.Popen, connection_file: str, timeout_s: float,
                     cancelled: threading.Event):
    """Wait for the child's own connection file and a good hello; returns its ConnectionInfo.

    Raises JobCancelled as soon as ``cancelled`` is set (the caller stops the child), and
    UnreachableError with the engine's stderr when it dies or is not up within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last_error = "no connection file yet"
    while not cancelled.is_set():
        if process.poll() is not None:
            raise UnreachableError(f"the engine exited with code {process.returncode} while starting:\n"
                                   f"{api.stderr_tail(process)}", "fix the error above and start it again")
        info = api.load_connection_file(Path(connection_file))
        if info is not None and info.pid == process.pid:
            try:
                api.connect(info, timeout_s=max(1.0, min(5.0, deadline - time.monotonic()))).close()
                return info
            except EngineError as exc:
                last_error = exc.user_message
        if time.monotonic() >= deadline:
            raise UnreachableError(f"the engine did not come up within {timeout_s:g} s ({last_error}):\n"
                                   f"{api.stderr_tail(process)}", "see the engine output above; try again")
        cancelled.wait(POLL_S)
    raise JobCancelled("engine start cancelled: the panel is closing")
