"""Queue section: the job table with per-row progress bars, and cancel / retry / open folder."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.form_rows import hbox_row
from ui.progress_delegate import ProgressBarDelegate
from ui.queue_model import PROGRESS_COLUMN, JobQueueModel


class QueuePanel(QGroupBox):
    """Buttons act on the selected row; the main window turns them into engine requests."""

    cancel_requested = Signal(int)        # row
    retry_requested = Signal(int)
    open_output_requested = Signal(int)

    def __init__(self, model: JobQueueModel, parent: QWidget | None = None) -> None:
        super().__init__("Queue", parent)
        self.model = model
        self.table = QTableView(self)
        self.table.setModel(model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressBarDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(PROGRESS_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 150)
        self.table.setColumnWidth(2, 120)

        self.cancel_button = QPushButton("Cancel", self)
        self.retry_button = QPushButton("Retry", self)
        self.open_button = QPushButton("Open output folder", self)
        self.cancel_button.clicked.connect(lambda: self._emit_for_selection(self.cancel_requested))
        self.retry_button.clicked.connect(lambda: self._emit_for_selection(self.retry_requested))
        self.open_button.clicked.connect(lambda: self._emit_for_selection(self.open_output_requested))
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(hbox_row(self, self.cancel_button, self.retry_button, self.open_button))
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        model.dataChanged.connect(self._update_buttons)
        self._update_buttons()

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)

    def _emit_for_selection(self, signal) -> None:
        row = self.selected_row()
        if row is not None:
            signal.emit(row)

    def _update_buttons(self, *_) -> None:
        row = self.selected_row()
        record = self.model.record(row) if row is not None and row < self.model.rowCount() else None
        self.cancel_button.setEnabled(record is not None and not record.finished)
        self.retry_button.setEnabled(record is not None and record.status in ("failed", "cancelled"))
        self.open_button.setEnabled(record is not None)
