"""Engine messages in the panel's words (plain Python, no Qt).

The engine's errors are written for the command line (``pass --overwrite``, ``send resume``); an
artist sees the panel's buttons and choices instead, and never an error code in brackets. An
error's fix (the protocol's ``fix``) goes on a line of its own: ``with_fix``.
"""

from __future__ import annotations

import re

from engine.errors import problem_and_fix

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


def plain(message: str) -> str:
    """The engine's message with command-line wording replaced by the panel's."""
    text = str(message or "")
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


def error_text(error: dict) -> str:
    """A protocol error object (``{code, message, fix}``; an older engine's has no ``fix``) as text."""
    return with_fix(*problem_and_fix(error))


def exception_text(exc: BaseException) -> str:
    """A typed ``EngineError`` (its ``message`` and ``fix``), or any other exception's text."""
    message = getattr(exc, "message", None)
    return with_fix(message, getattr(exc, "fix", "")) if isinstance(message, str) else plain(str(exc))


def split_fix(text: str) -> tuple[str, str]:
    """``with_fix``'s text back into (problem, fix); fix is '' when the text has none."""
    problem, _, fix = str(text or "").partition(f"\n{FIX_PREFIX}")
    return problem, fix
