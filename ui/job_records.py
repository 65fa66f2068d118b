"""One queue row's state, and how engine events move it (plain Python, no Qt).

The queue table shows these records; keeping the state machine out of the Qt model lets it be
tested event by event and keeps the model a thin adapter.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from ui.wording import error_parts, plain, split_fix, warning_text

PENDING = "waiting"
"""Built in the panel, not sent yet (the queue sends it when started)."""
SUBMITTING = "submitting"
QUEUED = "queued"
RUNNING = "running"
CANCELLING = "cancelling"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
"""The engine stopped (crash, restart) before the job finished; Resume continues it."""

FINISHED_STATES = (DONE, FAILED, CANCELLED, INTERRUPTED)
ACTIVE_STATES = (SUBMITTING, QUEUED, RUNNING, CANCELLING)
RESUMABLE_STATES = (FAILED, CANCELLED, INTERRUPTED)
ENGINE_STATES = {"queued": QUEUED, "running": RUNNING, "done": DONE, "failed": FAILED, "cancelled": CANCELLED,
                 "interrupted": INTERRUPTED}


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
    """What went wrong, in the panel's words (without the fix)."""
    error_code: str | None = None
    """The engine's error code of a failure (``input_error``...): the status area's heading."""
    fix: str = ""
    """What to do about ``error`` (the engine's ``fix``), shown on its own line; '' when none."""
    result: dict | None = None
    cancel_requested: bool = False
    """Cancel was pressed before the engine job id was known; send it when the id arrives."""
    mine: bool = True
    """Sent by this panel (closing the panel cancels only these); False for jobs of other clients."""
    policy: str = "version"
    """Output policy (ui.output_policy): ``version``, ``resume`` or ``overwrite``."""
    sent: dict | None = None
    """The settings as sent (output folder and flags resolved by the policy); None until sent."""
    warnings: tuple[str, ...] = ()
    """Every warning the engine gave for this job, in order."""
    backend: str | None = None
    """The backend that rendered (from the engine), e.g. ``classic`` after an ``auto`` fallback."""
    skipped: int = 0
    """Frames a resumed job found already rendered."""
    planned_backend: str | None = None
    """The backend the panel expects to render (``auto`` resolved from the engine's models)."""
    counted: int = 0
    """Frames the panel read in the whole source when the row was added (0: not known): the totals
    count a whole clip with it before the engine reports its own count."""
    searched: int = 0
    search_total: int = 0
    """Frames searched for faces / to search, before a job whose crops follow the faces renders (its
    ``progress`` events with ``"phase": "analysis"``); kept apart from the rendered frames."""

    @property
    def searching(self) -> bool:
        """The engine is still searching the shot for faces: nothing is rendered yet."""
        return self.status == RUNNING and self.search_total > 0 and not (self.total or self.done)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES

    @property
    def frames_done(self) -> int:
        """Frames of this row on disk: rendered by this run plus those a resume kept. The engine counts
        a resumed run's frames apart from the kept ones; the row counts both, so its bar goes on from
        where the cancel or crash left it instead of starting again at 0."""
        return self.done + self.skipped

    @property
    def frames_total(self) -> int:
        """Frames of this row, kept ones included (0 until the engine has counted them)."""
        return self.total + self.skipped

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]; a finished job shows full only when it succeeded."""
        if self.status == DONE:
            return 1.0
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total > 0 else 0.0

    @property
    def shot(self) -> str:
        return shot_label(self.settings)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATES

    @property
    def started(self) -> bool:
        """The engine reported progress or a frame for this job (it began rendering)."""
        return bool(self.total or self.done or self.frames_written or self.skipped)

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE_STATES

    @property
    def effective(self) -> dict:
        """The settings the engine has (or will have): the sent ones once sent."""
        return self.sent if self.sent is not None else self.settings

    @property
    def output(self) -> str:
        return str(self.effective.get("output", ""))

    @property
    def pattern(self) -> str:
        """Where the frames are (the engine's result), or will be (predicted from the settings)."""
        if self.result and self.result.get("pattern"):
            return str(self.result["pattern"])
        from ui.output_policy import output_pattern

        return output_pattern(self.effective) if self.sent is not None else ""


def backend_text(record: JobRecord) -> str:
    """The Backend column: what the engine used once it said (``auto → classic``), the plan while the
    row waits or runs, and for a row that finished before any progress event (cancelled while it
    waited or queued, refused) what was asked and that it never started: no plan is left standing
    for a job that will never render."""
    asked = str(record.effective.get("backend", "auto"))
    if record.backend:
        return record.backend if asked == record.backend else f"{asked} → {record.backend}"
    if record.finished and not record.started:
        return f"{asked} ({record.status} before start)"
    return f"{record.planned_backend} (planned)" if record.planned_backend else asked


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
    if kind == "warning":
        message = warning_text(event.get("message"), event.get("settings"))
        return record if not message or message in record.warnings else \
            dataclasses.replace(record, warnings=record.warnings + (message,))
    if record.finished:
        return record
    if kind == "progress" and event.get("phase") == "analysis":
        if record.total or record.done:  # the render has begun: a late search event says nothing new
            return record
        status = CANCELLING if record.status == CANCELLING else RUNNING
        return dataclasses.replace(record, status=status, searched=int(event.get("done") or 0),
                                   search_total=int(event.get("total") or record.search_total))
    if kind == "progress":
        total = int(event.get("total") or record.total)
        status = CANCELLING if record.status == CANCELLING else RUNNING
        done = max(int(event.get("done") or 0), record.frames_written)
        return dataclasses.replace(
            record, status=status, done=done, total=total, skipped=_count(event, "skipped", record.skipped),
            backend=event.get("backend") if isinstance(event.get("backend"), str) else record.backend,
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
        result = event.get("result") or {}
        warnings = _more_warnings(record.warnings, result.get("warnings"), result.get("warning_settings"))
        return dataclasses.replace(record, status=DONE, eta_s=0.0, result=result, warnings=warnings,
                                   backend=result.get("backend") or record.backend,
                                   skipped=_count(result, "skipped", record.skipped),
                                   done=max(record.done, record.total))
    if kind == "job_failed":
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        problem, fix = error_parts(error)
        status = INTERRUPTED if "interrupted" in (event.get("state"), error.get("code")) else FAILED
        return dataclasses.replace(record, status=status, error=problem or "the engine reported a failure",
                                   error_code=_code(error), fix=fix, eta_s=None, fps=None)
    if kind == "job_cancelled":  # a stopped job renders at no rate: no last fps left standing in its row
        status = INTERRUPTED if event.get("state") == "interrupted" else CANCELLED
        return dataclasses.replace(record, status=status, eta_s=None, fps=None)
    return record


def _more_warnings(known: tuple[str, ...], sent, settings) -> tuple[str, ...]:
    """``known`` and the listed warnings (a result's or the ``jobs`` summary's) not among them, in the panel's
    words (``settings``: the ``warning_settings`` sent with the list)."""
    shown = [warning_text(w, settings) for w in sent or () if isinstance(w, str)] if isinstance(sent, list) else []
    return known + tuple(dict.fromkeys(w for w in shown if w not in known))


def _count(fields: dict, name: str, known: int) -> int:
    """``fields[name]`` when the engine sent it (0 too: a run that found nothing to keep), else ``known``."""
    value = fields.get(name)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else known


def _code(error: dict) -> str:
    return str(error.get("code") or "engine_error")


def from_summary(key: int, summary: dict, mine: bool = False) -> JobRecord:
    """A row for a job the engine lists (``jobs`` reply) that has no row here: another client's, or
    (``mine``) one this panel sent before it was restarted."""
    settings = summary.get("settings") if isinstance(summary.get("settings"), dict) else {}
    settings = settings or {"source": summary.get("source") or "", "output": summary.get("output") or ""}
    record = JobRecord(key=key, settings=dict(settings), job_id=str(summary.get("job")), mine=mine,
                       sent=dict(settings))
    return apply_summary(record, summary)


def apply_summary(record: JobRecord, summary: dict) -> JobRecord:
    """Bring a row in line with the engine's listing of its job (the engine is the truth)."""
    status = ENGINE_STATES.get(str(summary.get("state")), record.status)
    if record.status == CANCELLING and status in (QUEUED, RUNNING):
        status = CANCELLING
    progress = summary.get("progress") if isinstance(summary.get("progress"), dict) else {}
    if progress.get("phase") == "analysis":  # the job still searches the shot for faces: no frame rendered
        if not (record.total or record.done):
            record = dataclasses.replace(record, searched=int(progress.get("done") or 0),
                                         search_total=int(progress.get("total") or 0))
        progress = {}
    error = summary.get("error") if isinstance(summary.get("error"), dict) else None
    warnings = _more_warnings(record.warnings, summary.get("warnings"), summary.get("warning_settings"))
    total = int(progress.get("total") or record.total)
    done = max(int(progress.get("done") or 0), record.done if status == record.status else 0)
    problem, fix = error_parts(error) if error and status in (FAILED, INTERRUPTED) else (None, None)
    return dataclasses.replace(
        record, status=status, total=total, done=min(done, total) if total else done,
        skipped=_count(progress, "skipped", record.skipped), warnings=warnings,
        backend=summary.get("backend_used") or record.backend,
        error=problem if problem is not None else record.error,
        error_code=_code(error) if problem is not None else record.error_code,
        fix=fix if fix is not None else record.fix)


def interrupted(record: JobRecord, message: str) -> JobRecord:
    """The engine went away while the job was on it."""
    if not record.active:
        return record
    if record.status == CANCELLING or record.job_id is None:  # nothing left to resume: it was stopping or never arrived
        return dataclasses.replace(record, status=CANCELLED if record.status == CANCELLING else FAILED,
                                   error=None if record.status == CANCELLING else message,
                                   error_code="interrupted", eta_s=None, fps=None)
    return dataclasses.replace(record, status=INTERRUPTED, error=message, error_code="interrupted", fix="",
                               eta_s=None, fps=None)


def sent(record: JobRecord, settings: dict) -> JobRecord:
    """The queue is sending the job now, with the settings its output policy resolved."""
    return dataclasses.replace(record, status=SUBMITTING, sent=dict(settings), error=None, error_code=None, fix="")


def resuming(record: JobRecord) -> JobRecord:
    """Resume asked for: same engine job, frames already written are skipped."""
    return dataclasses.replace(record, status=SUBMITTING, error=None, error_code=None, fix="", eta_s=None, fps=None,
                               frames_written=0, started_s=None, cancel_requested=False)


def cancelled_here(record: JobRecord) -> JobRecord:
    """A row that is not on any engine (waiting, or the engine is gone) is cancelled at once."""
    return dataclasses.replace(record, status=CANCELLED, eta_s=None, fps=None, cancel_requested=False)


def with_job_id(record: JobRecord, job_id: str) -> JobRecord:
    """The submit reply arrived: the job is queued on the engine under ``job_id``."""
    status = QUEUED if record.status == SUBMITTING else record.status
    return dataclasses.replace(record, job_id=job_id, status=status)


def submit_failed(record: JobRecord, message: str, code: str = "engine_error") -> JobRecord:
    """The engine refused the job; ``message`` may carry its fix on a line of its own (``with_fix``)."""
    problem, fix = split_fix(message)
    return dataclasses.replace(record, status=FAILED, error=plain(problem), error_code=code, fix=plain(fix))


def request_cancel(record: JobRecord) -> JobRecord:
    """Mark a cancel; without a job id yet it is remembered and sent once the id is known."""
    if record.finished:
        return record
    return dataclasses.replace(record, status=CANCELLING, cancel_requested=record.job_id is None)


def reset_for_retry(record: JobRecord) -> JobRecord:
    """Same row and settings, waiting to be sent again as a fresh engine job."""
    return JobRecord(key=record.key, settings=dict(record.settings), policy=record.policy, status=PENDING,
                     planned_backend=record.planned_backend, counted=record.counted)


def frames_planned(record: JobRecord) -> int:
    """Frames a row will render as far as the panel knows: the engine's count, else the range's,
    else the whole source's as read when it was added; 0 when unknown."""
    return record.frames_total or frames_in(record.settings.get("frames")) or record.counted


def frames_in(frames: str | None) -> int:
    """Frames a range text names (``1-10,20`` -> 11) before the engine counts them; 0 when unknown
    (the whole clip)."""
    count = 0
    for part in str(frames or "").split(","):
        first, _, last = part.strip().partition("-")
        try:
            count += int(last or first) - int(first) + 1 if first else 0
        except ValueError:
            return 0
    return max(count, 0)


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
