"""An error as Blender shows it: what went wrong, then what to do on a line of its own (no bpy).

The engine's errors carry their fix apart from the problem (the protocol's ``fix``; the rebuilt
``EngineError`` has ``.message`` and ``.fix``), as do the add-on's own ``StripError``s. The operator
report and the panel's status show ``problem`` and, below it, ``Fix: …``.
"""

from __future__ import annotations

import json
import re

FIX_PREFIX = "Fix: "

CONTROLS = {
    "source": "the strip's source file",
    "output": "Output Folder (add-on preferences)",
    "frames": "the strip's frame range (trim the strip)",
    "start_number": "the strip's frame range (trim the strip)",
    "name": "the strip's name",
    "format": "Format (add-on preferences)",
    "output_space": "Output Space",
    "faces": "Faces",
    "max_faces": "At Most (Faces)",
    "follow_faces": "Crops Follow the Faces",
    "mattes": "Mattes",
    "matte_files": "Mattes",
    "cryptomatte": "Cryptomatte",
    "backend": "Backend",
    "style": "Style",
    "style_id": "Style ID",
    "degree": "Degree",
    "color_transfer": "Colour Transfer",
    "models_dir": "Models Folder (add-on preferences)",
    "orientation": "the clip's orientation (the add-on reads clips as this Blender's sequencer shows them)",
    "device": "the engine's device (Engine Arguments in add-on preferences)",
}
"""The job settings an engine error may name (its ``settings``), as the add-on's controls show them. The
engine names them as protocol fields (``'frames'``, ``'cryptomatte': true``); an artist never typed one."""


def problem_and_fix(err: BaseException) -> tuple[str, str]:
    """(problem, fix) of a typed error (``message`` / ``fix``), or (its text, '') of any other; the job
    settings an engine error names are shown as the add-on's controls."""
    message = getattr(err, "message", None)
    if isinstance(message, str) and message:
        fix = getattr(err, "fix", "")
        settings = getattr(err, "settings", None)
        fix = fix if isinstance(fix, str) else ""
        return in_controls(message, settings), in_controls(fix, settings)
    return str(err) or type(err).__name__, ""


_RAW_MARK = re.compile("\x1e([^\x1e\x1f]*)\x1f")
"""A setting still marked as the engine marks it inside (``engine.errors.setting``): an engine from before
those marks replays a newer sidecar's warning as stored, marker bytes and all."""
_RAW_CLI_ONLY = re.compile("\x1d([^\x1d\x1c]*)(?:\x1c([^\x1d]*))?\x1d")
"""Words still marked for the command line only (``engine.errors.for_cli``), and what every other reader gets:
the add-on keeps the latter."""


def in_controls(text: str, settings) -> str:
    """``text`` (an error's, or a warning's) with each setting in ``settings`` (``[{"field", ["value"]}]``)
    named as the add-on's control (fields the add-on has no control for keep the engine's name), and
    each setting still marked named so too."""
    text = _RAW_MARK.sub(_marked_setting, _RAW_CLI_ONLY.sub(lambda m: m.group(2) or "", str(text or "")))
    entries = [s for s in settings or () if isinstance(s, dict) and isinstance(s.get("field"), str)]
    for entry in sorted(entries, key=lambda s: "value" not in s):
        field = entry["field"]
        sent = f"'{field}'" + (f": {json.dumps(entry['value'])}" if "value" in entry else "")
        shown = _control(field, entry.get("value")) if field in CONTROLS else f"the engine setting {sent}"
        # the values of a setting that differs ('max_faces': 4 in the render there) are no value to give it
        pattern = re.escape(sent) + (f"(?!{re.escape(_THERE)})" if "value" in entry else "")
        text = re.sub(pattern, lambda _, said=shown: said, text)
    return text


_THERE = " in the render there"
"""What follows a setting's value in the folder's render where the engine names a setting that differs
(``engine.errors.difference``: ``'max_faces': 4 in the render there, 8 in this shot``)."""


def _marked_setting(match: re.Match) -> str:
    try:
        named = json.loads(match.group(1))
    except ValueError:
        named = None
    if not isinstance(named, list) or not named or not isinstance(named[0], str):
        return "a setting"
    field, value = named[0], (named[1] if len(named) > 1 else None)
    if field in CONTROLS:
        return _control(field, value)
    return f"the engine setting '{field}'" + (f": {json.dumps(value)}" if len(named) > 1 else "")


def _control(field: str, value) -> str:
    label = CONTROLS[field]
    if value is None or value is True or field in ("frames", "start_number"):
        return label
    if value is False:
        return f"{label} off"
    return f"{label} {value!r}" if isinstance(value, str) else f"{label} {value}"


def report_text(err: BaseException) -> str:
    """The operator report / status text: the problem, then ``Fix: …`` on its own line."""
    problem, fix = problem_and_fix(err)
    return f"{problem}\n{FIX_PREFIX}{fix}" if fix.strip() else problem


def split_status(text: str) -> tuple[str, str]:
    """A status set from ``report_text`` back into (problem, fix line); fix line '' when none."""
    problem, sep, fix = str(text or "").partition(f"\n{FIX_PREFIX}")
    return problem, f"{FIX_PREFIX}{fix}" if sep else ""
