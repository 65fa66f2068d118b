"""Typed engine errors.

Every error a user can cause carries a stable ``code`` (the protocol sends it), a one-line
``message`` naming the problem, and a ``fix`` naming what to do about it. The CLI prints
``error: <message> (<fix>)`` and exits non-zero; the service sends ``{code, message, fix}``
(``message`` still ends with `` (<fix>)`` for clients older than ``fix``) and the client rebuilds
the type from ``code``.

A message or fix that names a job setting names it with ``setting(field[, value])``: the words depend on
who reads them. The CLI user typed flags (``--frames``, ``--overwrite``); a client of the service sent
fields (``'frames'``, ``'overwrite': true``), and Blender or panel artists set controls, which their
client names from the error's ``settings`` list. So ``message`` / ``fix`` read as the CLI's and
``to_dict()`` (what the service sends) names the protocol fields: one error, each reader's words.
"""

from __future__ import annotations

import json
import re

# Process exit codes shared by the CLI and farm wrappers (docs/FARM.md): 0 done, 1 a bug,
# 2 the job itself is wrong (do not retry), 75 a transient resource failure (retry), 130 cancelled.
EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_RETRY = 75
EXIT_CANCELLED = 130


# --- job settings named in messages -----------------------------------------------------------------

_OPEN, _CLOSE = "\x1e", "\x1f"  # ASCII record/unit separators: never in a path a message quotes
_MARK = re.compile(f"{_OPEN}([^{_OPEN}{_CLOSE}]*){_CLOSE}")
_CLI_ONLY, _OTHERWISE = "\x1d", "\x1c"  # ASCII group/file separators: words by reader (``for_cli``)
_CLI_ONLY_MARK = re.compile(f"{_CLI_ONLY}([^{_CLI_ONLY}{_OTHERWISE}]*)(?:{_OTHERWISE}([^{_CLI_ONLY}]*))?{_CLI_ONLY}")
_NO_VALUE = object()
_CLI_FLAGS = {"output": "-o/--output", "models_dir": "--models"}
"""Fields whose CLI flag is not ``--`` + the field with '-' for '_' (engine/cli.py's parser)."""
_CLI_NEGATED = {"matte_layers": "--no-matte-layers"}
"""Fields the CLI turns off with a flag of their own (default true)."""


def setting(field: str, value: object = _NO_VALUE) -> str:
    """A job setting (a ``RenderConfig`` field) named in an error's message or fix, optionally with the
    value to give it: ``setting('frames')``, ``setting('overwrite', True)``, ``setting('scale', 0.5)``.
    Shown as the CLI's flag (``--frames``, ``--overwrite``, ``--scale 0.5``) by ``message``/``fix``,
    as the protocol's field (``'frames'``, ``'overwrite': true``, ``'scale': 0.5``) by ``to_dict``."""
    named = [field] if value is _NO_VALUE else [field, value]
    return f"{_OPEN}{json.dumps(named)}{_CLOSE}"


def for_cli(text: str, otherwise: str = "") -> str:
    """Words only the command line's reader gets, and ``otherwise`` what every other reader gets instead: a
    pointer to the repository's docs (``docs/FARM.md``) and farm words ("every task", "cpu workers") help
    whoever runs farm tasks from a shell, but a panel or Blender artist, or a script on the socket, has
    neither that file nor farm tasks. ``render_settings`` keeps ``text`` for ``cli_words`` only."""
    return f"{_CLI_ONLY}{text}{_OTHERWISE}{otherwise}{_CLI_ONLY}"


THERE = " in the render there"
"""What follows the first value of a setting that ``difference`` shows to a reader other than the CLI's."""


def difference(field: str, there: object, here: object) -> str:
    """A setting the folder's render (``there``) and this job (``here``) give different values: the farm's
    words for the CLI (``scale: prepare/sidecar has 1.0, this task resolves 0.5``: prepare's sidecar against
    this chunk's task), the setting named in each other reader's words with both values for them (``'scale':
    1.0 in the render there, 0.5 in this shot``; ``in_words`` keeps that apart from a fix's ``'scale': 1.0``)."""
    farm = f"{field}: prepare/sidecar has {_farm_value(there)}, this task resolves {_farm_value(here)}"
    return for_cli(farm, f"{setting(field)}: {_value(there)}{THERE}, {_value(here)} in this shot")


def _farm_value(value: object) -> str:
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _value(value: object) -> str:
    if value is None:
        return "the default"
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, sort_keys=True)


def cli_words(field: str, *value: object) -> str:
    """How the CLI names a setting (``--start-number``, ``--scale 0.5``, ``--no-matte-layers``)."""
    if field in _CLI_NEGATED and value and value[0] is False:
        return _CLI_NEGATED[field]
    flag = _CLI_FLAGS.get(field, "--" + field.replace("_", "-"))
    if not value or isinstance(value[0], bool):
        return flag
    return f"{flag} {value[0]:g}" if isinstance(value[0], float) else f"{flag} {value[0]}"


def field_words(field: str, *value: object) -> str:
    """How the protocol names a setting: the field quoted, with its value as JSON (``'overwrite': true``)."""
    return f"'{field}'" + (f": {json.dumps(value[0])}" if value else "")


def render_settings(text: str, words=cli_words) -> str:
    """``text`` with every ``setting(...)`` in it written by ``words(field[, value])``, and what ``for_cli``
    marks kept for the CLI's words only."""
    text = _CLI_ONLY_MARK.sub(lambda m: m.group(1) if words is cli_words else m.group(2) or "", str(text))
    return _MARK.sub(lambda m: words(*_named(m.group(1))), text)


def named_settings(*texts: str) -> list[dict]:
    """The settings ``texts`` name, in order, once each: ``[{"field": ..., ["value": ...]}]``."""
    found: list[dict] = []
    for text in texts:
        for match in _MARK.finditer(_CLI_ONLY_MARK.sub(lambda m: m.group(2) or "", str(text))):  # as clients read
            named = _named(match.group(1))
            entry = {"field": named[0], **({"value": named[1]} if len(named) > 1 else {})}
            if entry not in found:
                found.append(entry)
    return found


def in_words(text: str, settings: list, words) -> str:
    """Text as the protocol sent it (settings named as fields, listed in the error's ``settings``) with each
    of those settings named by ``words(field[, value])`` instead: how a client names its own controls."""
    text = str(text or "")
    entries = [s for s in settings or () if isinstance(s, dict) and isinstance(s.get("field"), str)]
    for entry in sorted(entries, key=lambda s: "value" not in s):  # 'scale': 0.5 before a bare 'scale'
        named = (entry["field"], entry["value"]) if "value" in entry else (entry["field"],)
        # a setting's values in a ``difference`` ('scale': 1.0 in the render there) are not a value to give it
        sent = re.escape(field_words(*named)) + (f"(?!{re.escape(THERE)})" if len(named) > 1 else "")
        said = words(*named)
        text = re.sub(sent, lambda _, said=said: said, text)
    return text


def error_in_words(error: BaseException, words) -> tuple[str, str]:
    """(problem, fix) of a typed error with its settings named by ``words``: an error raised here from its
    marked text, one rebuilt from the protocol (``error_from_dict``) from its ``settings`` list."""
    said = getattr(error, "_said", None)
    message, fix = str(getattr(error, "message", error)), str(getattr(error, "fix", "") or "")
    if said and (render_settings(said[0]), render_settings(said[1])) == (message, fix) and \
            named_settings(*said):
        return render_settings(said[0], words), render_settings(said[1], words)
    settings = getattr(error, "settings", [])
    return in_words(message, settings, words), in_words(fix, settings, words)


def marked(error: BaseException) -> tuple[str, str]:
    """(message, fix) of an error with the settings it names still marked (``setting``), to build another
    message from: ``f"... {exc.message}"`` would keep only the CLI's words for every reader."""
    said = getattr(error, "_said", None)
    message, fix = str(getattr(error, "message", error)), str(getattr(error, "fix", "") or "")
    if said and (render_settings(said[0]), render_settings(said[1])) == (message, fix):
        return said
    return message, fix


def warning_in_words(text: str, words=field_words) -> dict:
    """A warning (plain text whose settings are marked with ``setting``) as one reader reads it:
    ``{"message": ..., ["settings": [...]]}``, the settings listed as an error's are."""
    settings = named_settings(text)
    return {"message": render_settings(text, words), **({"settings": settings} if settings else {})}


def event_in_words(event: dict, words=field_words, listed: bool = True) -> dict:
    """A pipeline event with the settings its warnings name in a reader's words: the one place where warnings
    leave the engine (the CLI's lines with ``cli_words``, the service's events with the protocol's fields).
    ``listed`` adds the ``settings`` a ``warning`` names, and a result's ``warning_settings`` (every setting
    its ``warnings`` name), so a client can name its own controls (``in_words``)."""
    kind = event.get("event")
    if kind == "warning" and isinstance(event.get("message"), str):
        said = warning_in_words(event["message"], words)
        return {**event, **(said if listed else {"message": said["message"]})}
    result = event.get("result")
    if kind == "job_done" and isinstance(result, dict) and isinstance(result.get("warnings"), list):
        return {**event, "result": result_in_words(result, words, listed)}
    return event


def result_in_words(result: dict, words=field_words, listed: bool = True) -> dict:
    """A job's result with its ``warnings`` in a reader's words (see ``event_in_words``)."""
    warnings = [str(w) for w in result.get("warnings") or []]
    settings = named_settings(*warnings) if listed else []
    return {**result, "warnings": [render_settings(w, words) for w in warnings],
            **({"warning_settings": settings} if settings else {})}


def _named(inside: str) -> list:
    try:
        named = json.loads(inside)
    except ValueError:
        return [inside]
    return named if isinstance(named, list) and named and isinstance(named[0], str) else [str(named)]


class EngineError(Exception):
    """Base class: a problem the user can act on (never a bug)."""

    code = "engine_error"

    def __init__(self, message: str, fix: str = "") -> None:
        self._said = (str(message), str(fix))  # settings still marked, for each reader's words
        self.message = render_settings(message)
        self.fix = render_settings(fix)
        self.settings: list[dict] = named_settings(message, fix)
        """The job settings the message and fix name (``setting``), for a client to name its own controls."""
        super().__init__(self.message)

    @property
    def user_message(self) -> str:
        """The one line shown to an artist: problem, then fix."""
        return f"{self.message} ({self.fix})" if self.fix else self.message

    def to_dict(self, words=field_words) -> dict:
        """The protocol's error object: ``message`` is the whole line (older clients show only it),
        ``fix`` the action on its own ('' when there is none); settings are named by ``words`` (the
        protocol's fields; the CLI's JSON lines pass ``cli_words``), and listed in ``settings``."""
        said = getattr(self, "_said", ("", ""))  # a subclass may set message/fix itself: then those
        message, fix = (render_settings(text, words) if render_settings(text) == now else now
                        for text, now in zip(said, (self.message, self.fix)))
        data = {"code": self.code, "message": f"{message} ({fix})" if fix else message, "fix": fix}
        return {**data, "settings": self.settings} if self.settings else data


class InputError(EngineError):
    """The source media is missing, unreadable, truncated or not what was asked for."""

    code = "input_error"


class FrameRangeError(EngineError):
    """Requested frames lie outside the source or the range text is malformed."""

    code = "frame_range"


class NoFaceError(EngineError):
    """No face was found in any frame of the shot."""

    code = "no_face"


class OutputError(EngineError):
    """The output folder cannot be written, or writing would clobber the source."""

    code = "output_error"


class ModelFileError(EngineError):
    """A checkpoint is missing, truncated, of the wrong model, or unsafe to load."""

    code = "model_file"


class ConfigError(EngineError):
    """An option value is out of range or options contradict each other."""

    code = "bad_config"


class DeviceError(EngineError):
    """The requested compute device is not available."""

    code = "device"


class OfflineError(EngineError):
    """A download was asked for but the network cannot be reached."""

    code = "offline"


class TransientError(EngineError):
    """A resource ran short (device memory, disk space, a busy device): the same job may succeed on retry.

    The CLI exits with ``EXIT_RETRY`` for these so a render farm can requeue the task.
    """

    code = "transient"


class NetworkInterruptedError(TransientError, OfflineError):
    """A download timed out or its connection was reset or cut: a network hiccup, so a retry (exit 75, a
    farm requeues the task) gets past it and resumes the partial file. Its code stays ``offline``."""

    code = "offline"


class DeviceOutOfMemoryError(TransientError):
    """The compute device ran out of memory (retry with a smaller batch or on another worker)."""

    code = "device_oom"


class DiskFullError(TransientError):
    """The output volume is full or over quota."""

    code = "disk_full"


class JobCancelled(EngineError):
    """The job was cancelled on request; never shown as an error."""

    code = "cancelled"


class JobInterrupted(EngineError):
    """The engine stopped (restart, crash, shutdown) before the job finished; resume continues it."""

    code = "interrupted"


class InternalError(EngineError):
    """A bug in the engine, not a problem with the job: the engine goes on with the next one."""

    code = "internal"
    FIX = "retry; if it happens again it is a bug in the engine: report it with the engine's output"

    def __init__(self, message: str, fix: str = FIX) -> None:
        super().__init__(message, fix)

    @classmethod
    def of(cls, exc: BaseException) -> InternalError:
        return cls(f"internal error: {type(exc).__name__}: {exc}")


ERROR_TYPES: dict[str, type[EngineError]] = {
    cls.code: cls
    for cls in (
        EngineError,
        InputError,
        FrameRangeError,
        NoFaceError,
        OutputError,
        ModelFileError,
        ConfigError,
        DeviceError,
        OfflineError,
        TransientError,
        DeviceOutOfMemoryError,
        DiskFullError,
        JobCancelled,
        JobInterrupted,
        InternalError,
    )
}


def problem_and_fix(data: dict) -> tuple[str, str]:
    """(problem, fix) of a protocol error object. ``message`` ends with `` (<fix>)`` when there is a
    fix; an older engine's error (no ``fix`` field) gives (message, '')."""
    message = str(data.get("message") or "")
    fix = data.get("fix") if isinstance(data.get("fix"), str) else ""
    suffix = f" ({fix})"
    if fix and message.endswith(suffix):
        return message[: -len(suffix)], fix
    return message, fix


def error_from_dict(data: dict) -> EngineError:
    """Rebuild a typed error from its ``{code, message, fix}`` form (unknown codes -> EngineError);
    its ``user_message`` is the ``message`` that was sent."""
    cls = ERROR_TYPES.get(str(data.get("code", "")), EngineError)
    problem, fix = problem_and_fix(data)
    error = cls(problem or "unknown engine error", fix)
    settings = data.get("settings")
    error.settings = [s for s in settings if isinstance(s, dict) and isinstance(s.get("field"), str)] \
        if isinstance(settings, list) else []
    return error


# --- service / protocol errors (appended by the engine service) -------------------------------


class UnreachableError(EngineError):
    """The engine process is not running or does not answer on its port."""

    code = "unreachable"


class AuthError(EngineError):
    """The engine refused the client's token or protocol version."""

    code = "auth"


class ProtocolError(EngineError):
    """A message on the wire was not valid protocol (bad JSON, wrong field types, too long)."""

    code = "protocol"


class UnknownJobError(EngineError):
    """A request named a job id the engine does not know."""

    code = "unknown_job"


class BusyError(EngineError):
    """The engine has too much waiting work of this kind; the client should retry later."""

    code = "busy"


ERROR_TYPES.update({cls.code: cls for cls in (UnreachableError, AuthError, ProtocolError, UnknownJobError,
                                               BusyError)})
