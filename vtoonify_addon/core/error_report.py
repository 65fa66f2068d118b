"""An error as Blender shows it: what went wrong, then what to do on a line of its own (no bpy).

The engine's errors carry their fix apart from the problem (the protocol's ``fix``; the rebuilt
``EngineError`` has ``.message`` and ``.fix``), as do the add-on's own ``StripError``s. The operator
report and the panel's status show ``problem`` and, below it, ``Fix: …``.
"""

from __future__ import annotations

FIX_PREFIX = "Fix: "


def problem_and_fix(err: BaseException) -> tuple[str, str]:
    """(problem, fix) of a typed error (``message`` / ``fix``), or (its text, '') of any other."""
    message = getattr(err, "message", None)
    if isinstance(message, str) and message:
        fix = getattr(err, "fix", "")
        return message, fix if isinstance(fix, str) else ""
    return str(err) or type(err).__name__, ""


def report_text(err: BaseException) -> str:
    """The operator report / status text: the problem, then ``Fix: …`` on its own line."""
    problem, fix = problem_and_fix(err)
    return f"{problem}\n{FIX_PREFIX}{fix}" if fix.strip() else problem


def split_status(text: str) -> tuple[str, str]:
    """A status set from ``report_text`` back into (problem, fix line); fix line '' when none."""
    problem, sep, fix = str(text or "").partition(f"\n{FIX_PREFIX}")
    return problem, f"{FIX_PREFIX}{fix}" if sep else ""
