"""Command lines that messages tell a user to run, written so they paste into the user's shell as they are.

``vtoonify models fetch`` only works where the ``vtoonify`` console script of this engine is on PATH (an
activated venv); an artist whose engine Blender or the panel started has no such shell. So every
suggested command starts with ``vtoonify`` only when PATH finds this interpreter's own console script,
and otherwise with this interpreter's full path and ``-m engine``, quoted for the shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig

SCRIPT = "vtoonify"


def engine_command(*args: str) -> str:
    """``vtoonify ARGS`` or ``<this python> -m engine ARGS``, every word quoted for this OS's shell."""
    return join_words([*engine_prefix(), *(str(a) for a in args)])


def engine_prefix() -> list[str]:
    """The words that run this engine from any shell and folder: ``[vtoonify]`` when PATH finds this
    interpreter's console script, else ``[sys.executable, -m, engine]``."""
    found = shutil.which(SCRIPT)
    if found and _is_this_interpreters_script(found):
        return [SCRIPT]
    return [sys.executable or "python", "-m", "engine"]


def join_words(words: list[str]) -> str:
    """One shell line from ``words`` (POSIX quoting; cmd.exe rules on Windows)."""
    if os.name == "nt":
        return subprocess.list2cmdline(words)
    return " ".join(shlex.quote(w) for w in words)


def _is_this_interpreters_script(path: str) -> bool:
    """True when ``path`` lies in a scripts folder of this interpreter (its venv's bin, the user's scripts
    folder): a ``vtoonify`` of another venv or install would run another engine."""
    folders = {os.path.dirname(sys.executable or "")}
    for scheme in (None, f"{os.name}_user"):
        try:
            folders.add(sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts"))
        except KeyError:  # no such scheme here
            continue
    here = os.path.dirname(os.path.abspath(path))
    for folder in folders:
        try:
            if folder and os.path.samefile(here, folder):
                return True
        except OSError:
            continue
    return False
