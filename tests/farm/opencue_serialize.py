"""Print the CJSL job spec that the real PyOutline builds from farm/opencue/submit_vtoonify.py ARGS, as
``cuerun.launch(..., use_pycuerun=False)`` would send it to the Cuebot (run with PyOutline and pycue's
FileSequence on sys.path, e.g. from an OpenCue checkout). Nothing is submitted."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path


def _with_metaclass(meta, *bases):
    """``future.utils.with_metaclass``: PyOutline still imports Python 2 shims that only this needs."""

    class Temporary(meta):
        def __new__(cls, name, _bases, namespace):
            return meta(name, bases, namespace)

    return type.__new__(Temporary, "temporary_class", (), {})


def main(argv: list[str]) -> None:
    if importlib.util.find_spec("future") is None:
        for name, members in {
            "future": {},
            "future.standard_library": {"install_aliases": lambda: None},
            "future.utils": {"with_metaclass": _with_metaclass},
        }.items():
            sys.modules[name] = types.ModuleType(name)
            sys.modules[name].__dict__.update(members)
        sys.modules["future"].standard_library = sys.modules["future.standard_library"]
    try:
        import opencue  # noqa: F401  pycue's gRPC client: only launching needs it, not building the spec
    except ImportError:
        sys.modules["opencue"] = types.ModuleType("opencue")
    import outline.cuerun

    script_path = Path(__file__).resolve().parents[2] / "farm" / "opencue" / "submit_vtoonify.py"
    spec = importlib.util.spec_from_file_location("submit_vtoonify", script_path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def serialize_instead(job, use_pycuerun=True):
        print(outline.cuerun.OutlineLauncher(job).serialize(use_pycuerun=use_pycuerun))

    script.cuerun.launch = serialize_instead
    script.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
