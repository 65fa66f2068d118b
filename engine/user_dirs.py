"""Per-user folders of this platform, in one place (the engine, the service and the models share them).

STDLIB ONLY: the add-on copies this file beside the connection module.
Linux/BSD follow the XDG base-directory spec (a relative ``XDG_*`` value is ignored, as the spec says);
macOS uses ``~/Library``; Windows ``%LOCALAPPDATA%``, where one root holds every kind, so state gets a
subfolder of its own there (and on macOS, where it shares Application Support with data).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "vtoonify"

_XDG = {"cache": ("XDG_CACHE_HOME", (".cache",)),
        "data": ("XDG_DATA_HOME", (".local", "share")),
        "state": ("XDG_STATE_HOME", (".local", "state"))}
_MACOS = {"cache": ("Caches",), "data": ("Application Support",), "state": ("Application Support",)}
KINDS = tuple(_XDG)


def user_dir(kind: str, environ: Mapping[str, str] | None = None, platform: str | None = None,
             home: str | Path | None = None) -> Path:
    """This app's per-user ``kind`` folder ('cache', 'data' or 'state'); nothing is created.

    ``environ``/``platform``/``home`` default to this process's and exist for tests.
    """
    if kind not in _XDG:
        raise ValueError(f"unknown user folder kind {kind!r}; expected one of {', '.join(KINDS)}")
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home_dir = Path(home) if home is not None else Path.home()
    if platform.startswith("win"):
        local = env.get("LOCALAPPDATA")
        base = (Path(local) if local else home_dir / "AppData" / "Local") / APP
        return base / "state" if kind == "state" else base
    if platform == "darwin":
        base = home_dir.joinpath("Library", *_MACOS[kind], APP)
        return base / "state" if kind == "state" else base
    variable, fallback = _XDG[kind]
    value = env.get(variable)
    root = Path(value) if value and os.path.isabs(value) else home_dir.joinpath(*fallback)
    return root / APP
