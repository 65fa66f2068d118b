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


def split_args(text: str, os_name: str | None = None) -> list[str]:
    """``text`` split into words as the platform's users type them: POSIX shell quoting, or on Windows
    the same quotes with backslashes kept (they are path separators there: shell rules would turn
    ``--models C:\\VT\\models`` into ``C:VTmodels``)."""
    if (os_name or os.name) != "nt":
        return shlex.split(text)
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""
    return list(lexer)


def launch_args(settings: EngineLaunchSettings, os_name: str | None = None) -> tuple[str, ...]:
    args = tuple(split_args(settings.extra_args, os_name))
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
    words += list(launch_args(settings, os_name))
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


VENV_PYTHON = {"posix": ".venv/bin/python", "nt": ".venv\\Scripts\\python.exe"}
"""Where a venv keeps its interpreter, as the fixes name it to the platform's users."""


def python_fix(os_name: str | None = None) -> str:
    return f"set the engine's Python (its {_venv_python(os_name)}) in the VToonify add-on preferences"


def _venv_python(os_name: str | None) -> str:
    return VENV_PYTHON["nt" if (os_name or os.name) == "nt" else "posix"]


PYTHON_FIX = python_fix("posix")
_VENV_PYTHONS = (("bin", "python"), ("bin", "python3"), ("Scripts", "python.exe"),
                 (".venv", "bin", "python"), (".venv", "Scripts", "python.exe"))
"""Where an interpreter sits inside a venv folder, or inside a checkout holding ``.venv``."""


def python_problem(path: str, os_name: str | None = None) -> tuple[str, str] | None:
    """(problem, fix) when ``path`` cannot be the engine's Python: empty, missing, a folder (the fix
    names the interpreter inside it when there is one), or not executable; None when it can. The fixes
    name the venv's interpreter as this platform lays it out (``Scripts\\python.exe`` on Windows)."""
    if not path:
        return ("cannot auto-start the engine: no engine Python is set",
                f"set Engine Python in the VToonify add-on preferences to the engine's {_venv_python(os_name)}")
    if os.path.isdir(path):
        inside = next((os.path.join(path, *parts) for parts in _VENV_PYTHONS
                       if os.path.isfile(os.path.join(path, *parts))), None)
        return (f"cannot auto-start the engine: Engine Python {path!r} is a folder, not the Python program",
                f"set Engine Python to {inside}" if inside else python_fix(os_name))
    if not os.path.isfile(path):
        return f"cannot auto-start the engine: Python interpreter {path!r} not found", python_fix(os_name)
    if not os.access(path, os.X_OK):  # Windows: every existing file passes (no execute bit there)
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
