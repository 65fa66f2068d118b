"""One queue row's state, and how engine events move it (plain Python, no Qt).

The queue table shows these records; keeping the state machine out of the Qt model lets it be
tested event by event and keeps the model a thin adapter.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

SUBMITTING = "submitting"
QUEUED = "queued"
RUNNING = "running"
CANCELLING = "cancelling"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"

FINISHED_STATES = (DONE, FAILED, CANCELLED)


@dataclass(frozen=True)
class JobRecord:
    """A job as the artist sees it: what was asked, and how far the engine got."""

    key: int
    """Panel-local id; stable across retries (the engine job id changes on retry)."""
    settings: dict
    """The RenderConfig fields sent with ``submit`` (kept to retry the job as it was)."""
    job_id: str | None = None
    """Engine job id, known once ``submit`` replied."""
    status: str = SUBMITTING
    done: int = 0
    total: int = 0
    fps: float | None = None
    eta_s: float | None = None
    last_frame_path: str | None = None
    frames_written: int = 0
    """``frame_done`` events seen: moves the bar between coarse ``progress`` events (the engine may
    report progress once per batch of frames)."""
    started_s: float | None = None
    """Monotonic time of the first frame written (for an fps estimate when the engine sends none)."""
    error: str | None = None
    result: dict | None = None
    cancel_requested: bool = False
    """Cancel was pressed before the engine job id was known; send it when the id arrives."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]; a finished job shows full only when it succeeded."""
        if self.status == DONE:
            return 1.0
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def shot(self) -> str:
        return shot_label(self.settings)

    @property
    def output(self) -> str:
        return str(self.settings.get("output", ""))


def shot_label(settings: dict) -> str:
    """Short row label: the source file name (sequence patterns keep their ``####``)."""
    source = str(settings.get("source", ""))
    return Path(source).name or source


def apply_event(record: JobRecord, event: dict, now_s: float | None = None) -> JobRecord:
    """Return the record after one engine event (events of other jobs are the caller's filter).

    Late progress after a terminal event is ignored so a finished row never flips back. ``now_s``
    (monotonic seconds, default now) times ``frame_done`` events for a local fps/ETA estimate.
    """
    now_s = time.monotonic() if now_s is None else now_s
    kind = event.get("event")
    if record.finished:
        return record
    if kind == "progress":
        total = int(event.get("total") or record.total)
        status = CANCELLING if record.status == CANCELLING else RUNNING
        done = max(int(event.get("done") or 0), record.frames_written)
        return dataclasses.replace(
            record, status=status, done=done, total=total,
            fps=_positive_or(event.get("fps"), record.fps), eta_s=_positive_or(event.get("eta_s"), record.eta_s))
    if kind == "frame_done":
        written = record.frames_written + 1
        status = CANCELLING if record.status == CANCELLING else RUNNING
        done = max(record.done, written)
        started_s = record.started_s if record.started_s is not None else now_s
        fps, eta_s = record.fps, record.eta_s
        if written > 1 and now_s > started_s:  # frames after the first, over the time since the first
            fps = (written - 1) / (now_s - started_s)
            eta_s = max(0, record.total - done) / fps if record.total else None
        return dataclasses.replace(record, status=status, frames_written=written, done=done, started_s=started_s,
                                   fps=fps, eta_s=eta_s,
                                   last_frame_path=event.get("path") or record.last_frame_path)
    if kind == "job_done":
        return dataclasses.replace(record, status=DONE, eta_s=0.0, result=event.get("result") or {},
                                   done=max(record.done, record.total))
    if kind == "job_failed":
        error = event.get("error") or {}
        message = str(error.get("message") or "the engine reported a failure")
        return dataclasses.replace(record, status=FAILED, error=message, eta_s=None)
    if kind == "job_cancelled":
        return dataclasses.replace(record, status=CANCELLED, eta_s=None)
    return record


def with_job_id(record: JobRecord, job_id: str) -> JobRecord:
    """The submit reply arrived: the job is queued on the engine under ``job_id``."""
    status = QUEUED if record.status == SUBMITTING else record.status
    return dataclasses.replace(record, job_id=job_id, status=status)


def submit_failed(record: JobRecord, message: str) -> JobRecord:
    return dataclasses.replace(record, status=FAILED, error=message)


def request_cancel(record: JobRecord) -> JobRecord:
    """Mark a cancel; without a job id yet it is remembered and sent once the id is known."""
    if record.finished:
        return record
    return dataclasses.replace(record, status=CANCELLING, cancel_requested=record.job_id is None)


def reset_for_retry(record: JobRecord) -> JobRecord:
    """Same row and settings, fresh engine job."""
    return JobRecord(key=record.key, settings=dict(record.settings))


def format_eta(eta_s: float | None) -> str:
    """``1:05`` style remaining time; empty when unknown."""
    if eta_s is None or eta_s < 0:
        return ""
    total = round(eta_s)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_fps(fps: float | None) -> str:
    if fps is None or fps <= 0:
        return ""
    return f"{fps:.2f}" if fps < 10 else f"{fps:.1f}"


def _positive_or(value, fallback: float | None) -> float | None:
    """The engine's number when it sent a usable one (fps 0.0 before the first frame is not)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return fallback
    return number if number > 0 or (number == 0 and fallback is None) else fallback
