"""The engine client for the add-on: the copied modules in a built add-on, the repo's in a checkout.

``scripts/build_addon.py`` copies ``engine/service/{protocol,client,connection,launcher,catalog}.py``,
``engine/errors.py`` and ``engine/user_dirs.py`` here in the staged zip (imports rewritten to this package);
it never writes them into the source tree, where the repo's own ``engine`` package is used, so there is one
client.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import SimpleNamespace

_API_NAMES = ("read_connection_file", "EngineClient", "start_engine", "stop_engine", "ConnectionInfo",
              "default_connection_path", "pid_alive")
_COPIED_MODULES = ("errors", "user_dirs", "protocol", "connection", "client", "launcher", "catalog")


def _from_copies() -> dict | None:
    here = os.path.dirname(__file__)
    if not os.path.isfile(os.path.join(here, "client.py")):
        return None
    names: dict = {}
    for mod in _COPIED_MODULES:
        if os.path.isfile(os.path.join(here, f"{mod}.py")):
            names[mod] = importlib.import_module(f"{__name__}.{mod}")
    return names


def _from_source_tree() -> dict:
    if importlib.util.find_spec("engine") is None:
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
        if os.path.isdir(os.path.join(repo, "engine", "service")) and repo not in sys.path:
            sys.path.append(repo)
    names = {"errors": importlib.import_module("engine.errors")}
    for mod in _COPIED_MODULES[1:]:
        try:
            names[mod] = importlib.import_module(f"engine.service.{mod}")
        except ImportError:
            pass
    return names


def load() -> SimpleNamespace:
    """Namespace with the client API and the typed errors (EngineError, JobCancelled, ...)."""
    modules = _from_copies() or _from_source_tree()
    api = {}
    for mod in modules.values():
        for name in _API_NAMES:
            if hasattr(mod, name) and name not in api:
                api[name] = getattr(mod, name)
    errors = modules["errors"]
    api.update({name: getattr(errors, name) for name in dir(errors)
                if name.endswith("Error") or name in ("JobCancelled", "error_from_dict")})
    for name in _API_NAMES:
        api.setdefault(name, None)
    return SimpleNamespace(**api)


def shared_catalog():
    """The engine's shared catalog (style families, render defaults, image-sequence names): the copy in
    a built add-on, else the repo's ``engine.service.catalog``, so no list is kept twice."""
    if os.path.isfile(os.path.join(os.path.dirname(__file__), "catalog.py")):
        return importlib.import_module(f"{__name__}.catalog")
    _from_source_tree()  # puts the repository on sys.path when the engine is not installed
    return importlib.import_module("engine.service.catalog")
