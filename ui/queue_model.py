"""The job queue as a table model: one row per JobRecord, events applied as they arrive."""

from __future__ import annotations

import dataclasses
from collections.abc import Container
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from ui import job_records as jr
from ui.job_records import JobRecord
from ui.wording import FIX_PREFIX, with_fix

COLUMNS = ("Shot", "Frames", "Status", "Progress", "Backend", "Output", "Notes", "FPS", "ETA")
PROGRESS_COLUMN = COLUMNS.index("Progress")
STATUS_COLUMN = COLUMNS.index("Status")
BACKEND_COLUMN = COLUMNS.index("Backend")
OUTPUT_COLUMN = COLUMNS.index("Output")
NOTES_COLUMN = COLUMNS.index("Notes")

# Custom role: the row's progress in [0, 1] for the delegate, the record itself for actions.
FractionRole = Qt.ItemDataRole.UserRole + 1
RecordRole = Qt.ItemDataRole.UserRole + 2
SAVED_ORDER_MAX = 2000
"""Job ids whose row order the panel keeps between runs (the engine prunes old jobs itself)."""
WARNING_COLOUR = QColor(230, 150, 30)
ERROR_COLOUR = QColor(220, 70, 70)


class JobQueueModel(QAbstractTableModel):
    """Rows in submission order. Events of a job id not known yet (the submit reply can arrive
    after the engine's first events) are held and replayed when the id is assigned."""

    cancel_needed = Signal(str)          # a cancel pressed before the job id was known
    job_finished = Signal(int, str)      # key, final status

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._records: list[JobRecord] = []
        self._held_events: dict[str, list[dict]] = {}
        self._next_key = 1
        self._saved_order: dict[str, int] = {}
        self._sent_here: dict[str, None] = {}  # engine job ids this panel sent (its earlier runs' too), in order

    # --- Qt model API -------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self._records[index.row()]
        column = index.column()
        if role == RecordRole:
            return record
        if role == FractionRole:
            return record.fraction
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(record, column)
        if role == Qt.ItemDataRole.ForegroundRole and column in (STATUS_COLUMN, NOTES_COLUMN):
            if record.error and record.status in (jr.FAILED, jr.INTERRUPTED):
                return ERROR_COLOUR
            return WARNING_COLOUR if record.warnings else None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return _cell(record, column)

    # --- queue operations ---------------------------------------------------------------------
    def add_job(self, settings: dict, policy: str = "version", planned_backend: str | None = None,
                status: str = jr.PENDING, counted: int = 0) -> int:
        """Append a row (waiting to be sent, unless ``status`` says otherwise); returns its panel key.
        ``counted``: the frames the panel read in the whole source (JobRecord.counted)."""
        return self._append(JobRecord(key=self._take_key(), settings=dict(settings), policy=policy,
                                      status=status, planned_backend=planned_backend, counted=counted))

    def add_engine_job(self, summary: dict) -> int:
        """A row for a job the engine knows that has no row here (another client's, or one this panel
        sent before a restart: ``restore_sent``); a job of the order saved by the last panel
        (``restore_order``) goes back to its place among the rows, not the engine's."""
        record = jr.from_summary(self._take_key(), summary, mine=str(summary.get("job")) in self._sent_here)
        rank = self._saved_order.get(record.job_id or "")
        if rank is None:
            return self._append(record)
        ranks = [self._saved_order.get(r.job_id or "") for r in self._records]
        row = next((i for i, other in enumerate(ranks) if other is None or other > rank), len(self._records))
        self.beginInsertRows(QModelIndex(), row, row)
        self._records.insert(row, record)
        self.endInsertRows()
        return record.key

    def job_order(self) -> list[str]:
        """The engine job ids of the rows, in the rows' order (saved when the panel closes), then
        those of the order restored that have no row now (a panel closed before the engine listed
        its jobs keeps the order for the next one); SAVED_ORDER_MAX ids at most."""
        ids = [r.job_id for r in self._records if r.job_id]
        shown = set(ids)
        ids += [job_id for job_id in self._saved_order if job_id not in shown]
        return ids[:SAVED_ORDER_MAX]

    def restore_order(self, job_ids: list[str]) -> None:
        """The row order the last panel had (``job_order``). The engine lists its jobs in its own
        order (a retried job moves to its end) and knows nothing of rows moved up or down, so the
        rows a fresh panel makes for those jobs take this order instead, before rows added now."""
        self._saved_order = {job_id: i for i, job_id in enumerate(job_ids)}

    def restore_sent(self, job_ids: list[str]) -> None:
        """Engine job ids this panel sent before it was restarted: their rows are this panel's again."""
        self._sent_here.update(dict.fromkeys(job_ids))

    def sent_job_ids(self) -> list[str]:
        """Engine job ids this panel sent (kept in its settings, to know them after a restart)."""
        return list(self._sent_here)

    def _take_key(self) -> int:
        key = self._next_key
        self._next_key += 1
        return key

    def _append(self, record: JobRecord) -> int:
        row = len(self._records)
        self.beginInsertRows(QModelIndex(), row, row)
        self._records.append(record)
        self.endInsertRows()
        return record.key

    def remove_rows(self, rows: list[int]) -> list[JobRecord]:
        """Take rows out of the queue (the caller cancels active ones first)."""
        removed = []
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self._records):
                self.beginRemoveRows(QModelIndex(), row, row)
                removed.append(self._records.pop(row))
                self.endRemoveRows()
        return removed[::-1]

    def move_row(self, row: int, delta: int) -> int:
        """Move a row up (-1) or down (+1); returns its new row."""
        target = row + delta
        if not (0 <= row < len(self._records) and 0 <= target < len(self._records)) or delta == 0:
            return row
        destination = target + 1 if delta > 0 else target
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination)
        self._records.insert(target, self._records.pop(row))
        self.endMoveRows()
        return target

    def duplicate(self, row: int) -> int:
        """A new waiting row with the same shot and settings; returns its key."""
        record = self._records[row]
        counted = record.frames_total if record.settings.get("frames") is None and record.frames_total \
            else record.counted
        return self.add_job(record.settings, record.policy, record.planned_backend, counted=counted)

    def replace_settings(self, row: int, settings: dict, planned_backend: str | None = None) -> bool:
        """New settings for a row not sent yet; False (unchanged) once it is on an engine."""
        record = self._records[row]
        if record.status != jr.PENDING:
            return False
        self._set(row, dataclasses.replace(record, settings=dict(settings),
                                           planned_backend=planned_backend or record.planned_backend))
        return True

    def set_counted(self, key: int, frames: int) -> None:
        """The whole source of a row added without its facts (a drop, a multi-pick) has been read."""
        row = self.row_of_key(key)
        if row is not None and self._records[row].settings.get("frames") is None:
            self._set(row, dataclasses.replace(self._records[row], counted=frames))

    def uncounted(self) -> int:
        """Unfinished rows whose frame count nobody knows yet (not read when added, not reported by
        the engine): the total is a floor while there are any."""
        return sum(1 for r in self._records if not r.finished and not jr.frames_planned(r))

    def set_policy(self, row: int, policy: str) -> None:
        self._set(row, dataclasses.replace(self._records[row], policy=policy))

    def next_waiting(self) -> int | None:
        return next((i for i, r in enumerate(self._records) if r.status == jr.PENDING), None)

    def mark_sent(self, row: int, settings: dict) -> JobRecord:
        self._set(row, jr.sent(self._records[row], settings))
        return self._records[row]

    def mark_resuming(self, row: int) -> JobRecord:
        self._set(row, jr.resuming(self._records[row]))
        return self._records[row]

    def cancel_here(self, row: int) -> None:
        self._set(row, jr.cancelled_here(self._records[row]))

    def mark_interrupted(self, message: str) -> list[int]:
        """The engine is gone: every row that was on it stops; returns those rows."""
        rows = []
        for row, record in enumerate(self._records):
            changed = jr.interrupted(record, message)
            if changed is not record:
                self._set(row, changed)
                rows.append(row)
        return rows

    def merge_listing(self, summaries: list[dict], hidden: Container[str] = frozenset()) -> list[str]:
        """Apply the engine's ``jobs`` listing: rows of known ids follow it, unknown jobs get rows
        (``hidden``: ids the artist removed from this panel). Returns ids of active jobs to follow."""
        follow = []
        for summary in summaries:
            job_id = str(summary.get("job", ""))
            if not job_id or job_id in hidden:
                continue
            row = self.row_of_job(job_id)
            if row is None:
                self.add_engine_job(summary)
            else:
                self._set(row, jr.apply_summary(self._records[row], summary))
            if summary.get("state") in ("queued", "running"):
                follow.append(job_id)
        return follow

    def row_of_job(self, job_id: str) -> int | None:
        return next((i for i, r in enumerate(self._records) if r.job_id == job_id), None)

    def totals(self) -> tuple[int, int, int, int, int]:
        """(frames done, frames to do, frames cancelled, jobs finished, jobs) over the rows of this
        queue. A cancelled row's frames it will not render leave "to do" (the bar describes the
        work that is done or still coming) and are counted apart; Retry brings them back. A failed
        row's leave it too (``failed_frames``)."""
        done = sum(r.frames_total if r.status == jr.DONE else r.frames_done for r in self._records)
        planned = [jr.frames_planned(r) for r in self._records]
        cancelled = sum(max(0, p - r.frames_done) for p, r in zip(planned, self._records) if r.status == jr.CANCELLED)
        finished = sum(1 for r in self._records if r.finished)
        return done, sum(planned) - cancelled - self.failed_frames(), cancelled, finished, len(self._records)

    def failed_frames(self) -> int:
        """Frames failed rows will not render (until Retry): out of the totals' "to do", named apart as a
        cancelled row's are, so a queue that finished with a failure does not read as part-way."""
        return sum(max(0, jr.frames_planned(r) - r.frames_done) for r in self._records if r.status == jr.FAILED)

    def queue_eta(self) -> tuple[float | None, bool]:
        """(seconds until this panel's queue is rendered, whether that is a floor) — None before a
        running job has a rate. The running rows' own ETA, plus the waiting rows' frames at the rate the
        queue renders now; a waiting whole clip the panel could not count (frame count not known
        before the engine reads it) makes the figure a floor ("at least")."""
        running = [r for r in self._records if r.mine and r.active]
        rates = [r.fps for r in running if r.fps]
        if not running or not rates:
            return None, False
        waiting = [r for r in self._records if r.status == jr.PENDING]
        frames = sum(jr.frames_planned(r) for r in waiting)
        floor = any(not jr.frames_planned(r) for r in waiting) or \
            any(r.eta_s is None for r in running)
        return sum(r.eta_s or 0.0 for r in running) + frames / (sum(rates) / len(rates)), floor

    def record(self, row: int) -> JobRecord:
        return self._records[row]

    def records(self) -> tuple[JobRecord, ...]:
        return tuple(self._records)

    def row_of_key(self, key: int) -> int | None:
        return next((i for i, r in enumerate(self._records) if r.key == key), None)

    def assign_job_id(self, key: int, job_id: str) -> list[dict]:
        """The submit reply: the row gets its job id and the events held for it; returns those events."""
        row = self.row_of_key(key)
        if row is None:
            return []
        record = self._records[row]
        self._sent_here[job_id] = None
        self._set(row, jr.with_job_id(record, job_id))
        if record.cancel_requested:
            self.cancel_needed.emit(job_id)
        held = self._held_events.pop(job_id, [])
        for event in held:
            self.apply_event(event)
        return held

    def mark_submit_failed(self, key: int, message: str, code: str = "engine_error") -> None:
        row = self.row_of_key(key)
        if row is not None:
            self._set(row, jr.submit_failed(self._records[row], message, code))

    def mark_cancelling(self, row: int) -> JobRecord:
        self._set(row, jr.request_cancel(self._records[row]))
        return self._records[row]

    def reset_for_retry(self, row: int) -> JobRecord:
        self._set(row, jr.reset_for_retry(self._records[row]))
        return self._records[row]

    def apply_event(self, event: dict) -> None:
        """Route one engine event to its row (or hold it until the row knows its job id)."""
        job_id = str(event.get("job", ""))
        if not job_id:
            return
        row = self.row_of_job(job_id)
        if row is None:
            if any(r.status == jr.SUBMITTING for r in self._records):
                self._held_events.setdefault(job_id, []).append(event)
            return
        self._set(row, jr.apply_event(self._records[row], event))

    def _set(self, row: int, record: JobRecord) -> None:
        was_finished = self._records[row].finished
        self._records[row] = record
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if record.finished and not was_finished:
            self.job_finished.emit(record.key, record.status)


def _cell(record: JobRecord, column: int) -> str | None:
    if column == 0:
        return record.shot
    if column == 1:
        return record.settings.get("frames") or "all"
    if column == STATUS_COLUMN:
        text = record.status + (" · finding faces" if record.searching else "")
        if record.skipped and record.status in (jr.RUNNING, jr.DONE):
            text += f" ({record.skipped} kept)"
        if record.warnings:
            text += f" · {len(record.warnings)} warning{'s' if len(record.warnings) > 1 else ''}"
        return text
    if column == PROGRESS_COLUMN:
        if record.searching:
            return f"faces {record.searched}/{record.search_total}"  # short: the Status says "finding faces"
        return f"{record.frames_done}/{record.frames_total}" if record.frames_total else ""
    if column == BACKEND_COLUMN:
        return jr.backend_text(record)
    if column == OUTPUT_COLUMN:  # the version folder and file pattern; the full path is the tooltip
        path = record.pattern or record.output
        parts = Path(path).parts
        return str(Path(*parts[-2:])) if len(parts) > 2 else path
    if column == NOTES_COLUMN:
        if record.error and record.status in (jr.FAILED, jr.INTERRUPTED, jr.CANCELLED):
            return f"{record.error} — {FIX_PREFIX}{record.fix}" if record.fix else record.error
        return record.warnings[-1] if record.warnings else ("" if record.mine else "sent by another client")
    if column == COLUMNS.index("FPS"):
        return jr.format_fps(record.fps)
    if column == COLUMNS.index("ETA"):
        return jr.format_eta(record.eta_s)
    return None


def _tooltip(record: JobRecord, column: int) -> str:
    lines = [f"Source: {record.settings.get('source', '')}", f"Output: {record.pattern or record.output}"]
    if record.error:
        lines.append(with_fix(record.error, record.fix))  # the fix on a line of its own
    lines += [f"warning: {w}" for w in record.warnings]
    if not record.mine:
        lines.append("sent by another client")
    return "\n".join(line for line in lines if line)
