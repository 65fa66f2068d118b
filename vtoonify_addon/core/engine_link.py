"""Find or start the engine and connect to it (no bpy: the client API is passed in).

Order: the connection file (preferences, else the engine's default place) -> connect; if that
fails and auto-start is on -> ``<Engine Python> -m engine serve`` -> connect. With auto-start off, the
error names the command that starts the engine by hand (:func:`serve_command`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineLaunchSettings:
    """The add-on preferences that say where the engine is and how to start it."""

    python_exe: str = ""
    """Interpreter of the engine's venv (e.g. ``.../.venv/bin/python``)."""
    extra_args: str = ""
    """Extra ``engine serve`` arguments, shell-quoted (e.g. ``--device cpu``)."""
    engine_root: str = ""
    """Folder holding the ``engine`` package when it is not installed (added to PYTHONPATH)."""
    connection_file: str = ""
    """Connection file to read/write; empty = the engine's default location."""
    auto_start: bool = True
    models_dir: str = ""
    connect_timeout_s: float = 5.0
    start_timeout_s: float = 60.0
    idle_timeout_s: float = 900.0
    """An engine the add-on starts exits after this long with nothing to do (and a few seconds after
    Blender is gone, crash or not: it watches Blender's pid), so none is left behind or adopted later."""


def launch_args(settings: EngineLaunchSettings) -> tuple[str, ...]:
    args = tuple(shlex.split(settings.extra_args))
    if settings.models_dir:
        args += ("--models", settings.models_dir)
    return args


def serve_command(settings: EngineLaunchSettings, os_name: str | None = None) -> str:
    """The shell line that starts the engine these preferences describe, so the add-on finds it: the Engine
    Python (a bare ``python`` is Blender's or none at all), from the Engine Folder when one is set (``-m``
    finds ``engine`` in the current folder), writing the connection file the add-on reads, with its
    models folder and extra arguments. POSIX quoting, or cmd.exe's on Windows."""
    windows = (os_name or os.name) == "nt"
    python = settings.python_exe or ("<engine venv>\\Scripts\\python.exe" if windows else "<engine venv>/bin/python")
    words = [python, "-m", "engine", "serve"]
    if settings.connection_file:
        words += ["--connection-file", settings.connection_file]
    words += list(launch_args(settings))
    line = subprocess.list2cmdline(words) if windows else " ".join(shlex.quote(w) for w in words)
    if settings.engine_root:
        root = subprocess.list2cmdline([settings.engine_root]) if windows else shlex.quote(settings.engine_root)
        line = f"cd {'/d ' if windows else ''}{root} && {line}"
    return line


def launch_env(settings: EngineLaunchSettings, base: dict | None = None) -> dict:
    """Environment for the engine process: PYTHONPATH gains ``engine_root`` when set."""
    env = dict(os.environ if base is None else base)
    if settings.engine_root:
        parts = [settings.engine_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


PYTHON_FIX = "set the engine's Python (its .venv/bin/python) in the VToonify add-on preferences"
_VENV_PYTHONS = (("bin", "python"), ("bin", "python3"), ("Scripts", "python.exe"),
                 (".venv", "bin", "python"), (".venv", "Scripts", "python.exe"))
"""Where an interpreter sits inside a venv folder, or inside a checkout holding ``.venv``."""


def python_problem(path: str) -> tuple[str, str] | None:
    """(problem, fix) when ``path`` cannot be the engine's Python: empty, missing, a folder (the fix
    names the interpreter inside it when there is one), or not executable; None when it can."""
    if not path:
        return ("cannot auto-start the engine: no engine Python is set",
                "set Engine Python in the VToonify add-on preferences to the engine's .venv/bin/python")
    if os.path.isdir(path):
        inside = next((os.path.join(path, *parts) for parts in _VENV_PYTHONS
                       if os.path.isfile(os.path.join(path, *parts))), None)
        return (f"cannot auto-start the engine: Engine Python {path!r} is a folder, not the Python program",
                f"set Engine Python to {inside}" if inside else PYTHON_FIX)
    if not os.path.isfile(path):
        return f"cannot auto-start the engine: Python interpreter {path!r} not found", PYTHON_FIX
    if not os.access(path, os.X_OK):
        return (f"cannot auto-start the engine: Engine Python {path!r} is not executable",
                "pick the venv's python program itself (its bin/python), or make the file executable "
                "(chmod +x)")
    return None


def engine_root_problem(path: str) -> tuple[str, str] | None:
    """(problem, fix) when the Engine Folder is set but holds no ``engine`` package; None when it is
    empty (the engine is installed in its venv) or right."""
    if not path:
        return None
    fix = ("set Engine Folder to the VToonify Studio folder (the one with engine/ inside), or clear it "
           "when the engine is installed in its venv")
    if not os.path.isdir(path):
        return f"cannot auto-start the engine: Engine Folder {path!r} does not exist", fix
    if not os.path.isfile(os.path.join(path, "engine", "__init__.py")):
        return f"cannot auto-start the engine: Engine Folder {path!r} holds no engine package", fix
    return None


def connect(settings: EngineLaunchSettings, api, on_start=None):
    """A connected ``EngineClient``; raises ``api.EngineError`` with a message and a fix.

    ``on_start(popen, info)`` is told about a process this call started (the caller owns it and
    must stop it: see ``engine_owner.StartedEngines``).
    """
    connection_file = settings.connection_file or None
    info = api.read_connection_file(connection_file)
    first_error = None
    if info is not None:
        try:
            return api.EngineClient.connect(info, timeout_s=settings.connect_timeout_s)
        except api.EngineError as err:
            first_error = err
    if not settings.auto_start:
        if first_error is not None:
            raise first_error
        # unreachable (not a plain error): the panel's engine line then says so too (engines.note_failure)
        where = (" (its connection file names an engine that has exited or does not answer)"
                 if connection_file and os.path.isfile(connection_file) else
                 " (no connection file" + (f" at {connection_file}" if connection_file else "") + ")")
        raise api.UnreachableError(
            "the VToonify engine is not running" + where,
            f"start it with `{serve_command(settings)}`, or turn on Auto-start in the add-on preferences")
    problem = python_problem(settings.python_exe) or engine_root_problem(settings.engine_root)
    if problem is not None:
        raise api.EngineError(*problem)
    proc, info = api.start_engine(settings.python_exe, args=launch_args(settings),
                                  connection_file=connection_file, env=launch_env(settings),
                                  timeout_s=settings.start_timeout_s, idle_timeout=settings.idle_timeout_s,
                                  parent_pid=os.getpid())
    if on_start is not None:
        on_start(proc, info)
    return api.EngineClient.connect(info, timeout_s=settings.connect_timeout_s)


def preview_frame(connector, settings: dict, number: int) -> dict:
    """Connect (``connector()``, may auto-start), render one source frame, disconnect.

    Slow (an engine start, then up to the client's 300 s preview timeout): the UI runs it on a
    ``BackgroundCall`` worker, never on Blender's main thread.
    """
    client = connector()
    try:
        return client.preview(settings, number)
    finally:
        client.close()
