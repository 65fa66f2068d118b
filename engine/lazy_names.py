"""Package names resolved on first use (PEP 562), shared by ``engine.models`` and ``engine.io``.

Why: importing a package must not import what its heaviest names need (torch for ``engine.models``,
PyAV and OpenImageIO for ``engine.io``), or a command that needs none of it (``models list``, training,
a GPU machine without media libraries) pays for it or fails.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_names(package: str, homes: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """(``__getattr__``, ``__dir__``) for ``package`` whose names ``homes`` maps to their modules. A name is
    imported on first use and kept in the package (later lookups, and a test's ``monkeypatch.setattr``,
    then see a plain attribute); an unknown one is an AttributeError, which is also how ``from package
    import submodule`` falls through to the submodule."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
