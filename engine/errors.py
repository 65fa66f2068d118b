"""Typed engine errors.

Every error a user can cause carries a stable ``code`` (the protocol sends it), a one-line
``message`` naming the problem, and a ``fix`` naming what to do about it. The CLI prints
``error: <message> (<fix>)`` and exits non-zero; the service sends ``{code, message, fix}``
(``message`` still ends with `` (<fix>)`` for clients older than ``fix``) and the client rebuilds
the type from ``code``.
"""

from __future__ import annotations

# Process exit codes shared by the CLI and farm wrappers (docs/FARM.md): 0 done, 1 a bug,
# 2 the job itself is wrong (do not retry), 75 a transient resource failure (retry), 130 cancelled.
EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_RETRY = 75
EXIT_CANCELLED = 130


class EngineError(Exception):
    """Base class: a problem the user can act on (never a bug)."""

    code = "engine_error"

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    @property
    def user_message(self) -> str:
        """The one line shown to an artist: problem, then fix."""
        return f"{self.message} ({self.fix})" if self.fix else self.message

    def to_dict(self) -> dict:
        """The protocol's error object: ``message`` is the whole line (older clients show only it),
        ``fix`` the action on its own ('' when there is none)."""
        return {"code": self.code, "message": self.user_message, "fix": self.fix}


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
    return cls(problem or "unknown engine error", fix)


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
