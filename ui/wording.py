"""Engine messages in the panel's words (plain Python, no Qt).

An error names the job settings it is about (``engine.errors.setting``): the engine sends them as
protocol fields (``'overwrite': true``) and lists them in the error's ``settings``; the panel names
them as its own controls instead (``CONTROLS``: 'Overwrite' under "If it exists"). An artist never
sees an error code in brackets, and an older engine's command-line words (``--overwrite``, ``send
resume``) are still put in the panel's (``_REWRITES``). An error's fix (the protocol's ``fix``) goes on
a line of its own: ``with_fix``.
"""

from __future__ import annotations

import json
import re

from engine.errors import error_in_words, in_words, problem_and_fix

CONTROLS = {
    "source": "the Source",
    "output": "the Output folder",
    "frames": "the Frames range (first/last, or All)",
    "start_number": "'start #' in the Frames row",
    "name": "the name beside \"If it exists\"",
    "overwrite": "'Overwrite' under \"If it exists\"",
    "resume": "'Resume' under \"If it exists\"",
    "format": "the Format",
    "exr_compression": "the EXR compression (Format row)",
    "png_bits": "the PNG bit depth (Format row)",
    "output_space": "the space (Format row)",
    "scale": "the scale (Format row)",
    "faces": "Faces",
    "max_faces": "'at most' in the Faces row",
    "follow_faces": "'Crops follow the faces'",
    "mattes": "Mattes",
    "matte_files": "Mattes 'as files'",
    "matte_classes": "the matte classes (Mattes row)",
    "cryptomatte": "Cryptomatte",
    "backend": "the Backend",
    "device": "the Device",
    "style": "the Style family",
    "backbone": "the Backbone",
    "style_id": "the Style id",
    "degree": "the Degree",
    "color_transfer": "'Colour transfer'",
    "exstyle_image": "the Exemplar image",
}
"""Each job setting as the panel's form shows it (settings it has no control for keep the engine's name)."""


def control_words(field: str, *value: object) -> str:
    """A setting an error names, as the artist finds it in the panel: a checkbox or choice to pick
    (``'Overwrite' under "If it exists"``), a field with the value to give it (``the scale (Format row)
    at 0.5``), or for a setting the panel does not show, the engine's own name for it."""
    label = CONTROLS.get(field)
    if label is None:
        return f"the engine setting '{field}'" + (f" = {json.dumps(value[0])}" if value else "")
    if not value or value[0] is True:
        return label
    if value[0] is False:
        return f"{label} off"
    shown = f"{value[0]:g}" if isinstance(value[0], float) else str(value[0])
    return f"{label} '{shown}'" if isinstance(value[0], str) else f"{label} at {shown}"


def setting_label(field: str) -> str:
    """A setting as a row label (job details): the panel's control without the sentence around it
    ('Crops follow the faces', 'Scale (Format row)'), or the engine's name for one it has no control for."""
    label = CONTROLS.get(field)
    if label is None:
        return f"{field} (engine setting)"
    label = label.removeprefix("the ").replace("'", "")
    return label[:1].upper() + label[1:]


_RAW_MARK = re.compile("\x1e([^\x1e\x1f]*)\x1f")
"""A setting still marked as the engine marks it inside (``engine.errors.setting``): an engine from before
those marks replays a newer sidecar's warning as stored, marker bytes and all."""
_RAW_CLI_ONLY = re.compile("\x1d([^\x1d\x1c]*)(?:\x1c([^\x1d]*))?\x1d")
"""Words marked for the command line only (``engine.errors.for_cli``): the panel reads what follows them."""


def _marked_setting(match: re.Match) -> str:
    try:
        named = json.loads(match.group(1))
    except ValueError:
        named = None
    if not isinstance(named, list) or not named or not isinstance(named[0], str):
        return "a setting"
    return control_words(*named[:2])


FIX_PREFIX = "Fix: "
"""Starts the line that says what to do about an error, under the line that says what is wrong."""

_REWRITES = (
    (re.compile(r"render into a new output folder, or pass --overwrite[^)]*"),
     "pick 'New version' (a new folder) or 'Overwrite' as the output policy"),
    (re.compile(r"pass --overwrite to delete them first"), "pick 'Overwrite' as the output policy to replace them"),
    (re.compile(r"run without --resume to start the job again"), "pick 'New version' to start it again"),
    (re.compile(r"render again without --resume"), "render it again as a new version"),
    (re.compile(r"\(?send resume to continue it\)?"), "(press Resume to continue it)"),
    (re.compile(r"\(continue it with the protocol's 'resume' request.*?Resume in the Qt panel\)"),
     "(press Resume to continue it)"),
    (re.compile(r"continue it with the protocol's 'resume' request.*?Resume in the Qt panel"),
     "press Resume to continue it"),  # the same action as the error's own ``fix``
    (re.compile(r"send resume"), "press Resume"),
    (re.compile(r"--overwrite"), "the Overwrite policy"),
    (re.compile(r"--resume"), "the Resume policy"),
    (re.compile(r"pass -o/--output DIR"), "pick an output folder"),
    (re.compile(r"list jobs with the 'jobs' request"), "the engine no longer knows this job"),
    (re.compile(r"reconnect with EngineClient\.connect"), "the panel reconnects by itself"),
    (re.compile(r"`(?:[^`]*-m engine|vtoonify) serve`"), "the Start engine button"),  # engine.commands' forms
    (re.compile(r"--(\w[\w-]*)"), r"the \1 option"),
)

_TITLES = {
    "bad_config": "Setting not accepted",
    "input_error": "Source cannot be read",
    "drop_refused": "Not added",
    "frame_range": "Frame range",
    "no_face": "No face found",
    "output_error": "Output folder",
    "model_file": "Model files",
    "device": "Device",
    "offline": "Offline",
    "cancelled": "Cancelled",
    "unreachable": "Engine not reachable",
    "not_connected": "Not connected",
    "busy": "Engine busy",
    "auth": "Engine refused the panel",
    "unknown_job": "Job unknown to the engine",
    "interrupted": "Interrupted",
    "internal": "Engine problem",
    "no_file_manager": "No file manager",
}


_DOCS = re.compile(r"\s*\((?:see )?docs/[\w.]+\.md\b[^)]*\)|;? see docs/[\w.]+\.md(?:, '[^']*')?")
"""A pointer to the project's docs: for whoever runs the engine by hand, not for the artist."""


def plain(message: str) -> str:
    """The engine's message with command-line wording replaced by the panel's."""
    text = _RAW_CLI_ONLY.sub(lambda m: m.group(2) or "", str(message or ""))
    text = _RAW_MARK.sub(_marked_setting, text)
    text = _DOCS.sub("", text)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text


def titled(code: str, message: str) -> str:
    """``Output folder: <message>`` — a heading an artist understands instead of ``[output_error]``."""
    title = _TITLES.get(str(code), "Problem")
    return f"{title}: {plain(message)}"


def with_fix(problem: str, fix: str = "") -> str:
    """The problem, then the fix on a line of its own (``Fix: …``), both in the panel's words."""
    problem, fix = plain(problem), plain(fix).strip()
    return f"{problem}\n{FIX_PREFIX}{fix}" if fix else problem


def error_parts(error: dict | None) -> tuple[str, str]:
    """(problem, fix) of a protocol error object (``{code, message, fix, settings}``; an older engine's
    has no ``fix`` or ``settings``) in the panel's words: the settings it names as the panel's controls."""
    problem, fix = problem_and_fix(error or {})
    settings = (error or {}).get("settings")
    settings = settings if isinstance(settings, list) else []
    return plain(in_words(problem, settings, control_words)), plain(in_words(fix, settings, control_words))


def warning_text(message: str, settings=None) -> str:
    """An engine warning (a ``warning`` event's ``message`` and ``settings``, or a result's ``warnings`` with
    its ``warning_settings``) with the settings it names as the panel's controls."""
    settings = settings if isinstance(settings, list) else []
    return plain(in_words(str(message or ""), settings, control_words))


def error_text(error: dict) -> str:
    """A protocol error object as text: the problem, then its fix on a line of its own."""
    return with_fix(*error_parts(error))


def exception_text(exc: BaseException) -> str:
    """A typed ``EngineError`` (raised here, or rebuilt from the engine's reply) with the settings it
    names as the panel's controls, or any other exception's text."""
    if isinstance(getattr(exc, "message", None), str):
        return with_fix(*error_in_words(exc, control_words))
    return plain(str(exc))


def split_fix(text: str) -> tuple[str, str]:
    """``with_fix``'s text back into (problem, fix); fix is '' when the text has none."""
    problem, _, fix = str(text or "").partition(f"\n{FIX_PREFIX}")
    return problem, fix
