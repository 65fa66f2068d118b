"""The job queue as a table model: one row per JobRecord, events applied as they arrive."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from ui import job_records as jr
from ui.job_records import JobRecord

COLUMNS = ("Shot", "Frames", "Status", "Progress", "FPS", "ETA")
PROGRESS_COLUMN = COLUMNS.index("Progress")
STATUS_COLUMN = COLUMNS.index("Status")

# Custom role: the row's progress in [0, 1] for the delegate, the record itself for actions.
FractionRole = Qt.ItemDataRole.UserRole + 1
RecordRole = Qt.ItemDataRole.UserRole + 2


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
            return record.error or record.output
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == 0:
            return record.shot
        if column == 1:
            return record.settings.get("frames") or "all"
        if column == STATUS_COLUMN:
            return record.status if not record.error else f"{record.status}: {record.error}"
        if column == PROGRESS_COLUMN:
            return f"{record.done}/{record.total}" if record.total else ""
        if column == 4:
            return jr.format_fps(record.fps)
        if column == 5:
            return jr.format_eta(record.eta_s)
        return None

    # --- queue operations ---------------------------------------------------------------------
    def add_job(self, settings: dict) -> int:
        """Append a row for settings about to be submitted; returns its panel key."""
        key = self._next_key
        self._next_key += 1
        row = len(self._records)
        self.beginInsertRows(QModelIndex(), row, row)
        self._records.append(JobRecord(key=key, settings=dict(settings)))
        self.endInsertRows()
        return key

    def record(self, row: int) -> JobRecord:
        return self._records[row]

    def records(self) -> tuple[JobRecord, ...]:
        return tuple(self._records)

    def row_of_key(self, key: int) -> int | None:
        return next((i for i, r in enumerate(self._records) if r.key == key), None)

    def assign_job_id(self, key: int, job_id: str) -> None:
        row = self.row_of_key(key)
        if row is None:
            return
        record = self._records[row]
        self._set(row, jr.with_job_id(record, job_id))
        if record.cancel_requested:
            self.cancel_needed.emit(job_id)
        for event in self._held_events.pop(job_id, []):
            self.apply_event(event)

    def mark_submit_failed(self, key: int, message: str) -> None:
        row = self.row_of_key(key)
        if row is not None:
            self._set(row, jr.submit_failed(self._records[row], message))

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
        row = next((i for i, r in enumerate(self._records) if r.job_id == job_id), None)
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
