"""Queue section: the job table (drop files and folders on it), the queue controls and the total.

Buttons act on the selected rows; the main window turns them into engine requests. Delete removes
the selected rows, Enter shows the selected row's details (Escape closes them); Tab leaves the table
instead of walking its cells (the selection stays), and tabbing in selects a row.
"""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QGroupBox,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.control_tips import describe, set_available
from ui.drop_edit import PathDropMixin
from ui.form_rows import hbox_row
from ui.job_records import format_eta
from ui.progress_delegate import ProgressBarDelegate
from ui.queue_model import NOTES_COLUMN, OUTPUT_COLUMN, PROGRESS_COLUMN, JobQueueModel
from ui.shortcuts import with_key

START_TIP = with_key("Send the waiting rows to the engine one after another", "toggle_queue")
PAUSE_TIP = with_key("Pause: hold the waiting rows (a running job finishes)", "toggle_queue")
MIN_VISIBLE_ROWS = 4
"""Rows the table always shows (the splitter cannot squeeze it below them): a 900x600 window showed
one and a half (with the scroll bar), so a batch could not be read without scrolling."""
NO_ENGINE_YET = "No engine is connected yet: the rows are sent once one is (Connect or Start engine)"


class QueueTable(PathDropMixin, QTableView):
    """The job table: files and folders dropped on it become rows; Delete asks to remove rows."""

    files_dropped = Signal(list)
    drop_refused = Signal(list, bool)
    delete_pressed = Signal()
    enter_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setTabKeyNavigation(False)
        describe(self, "The shots to render, in order. Drop videos, sequences or folders here; Enter or "
                       "double-click shows a row's details; Delete removes the selected rows")

    def focusInEvent(self, event: QFocusEvent) -> None:
        """Tabbed into with nothing selected: the current row (else the first) is selected, so the
        row buttons and Enter act on it at once (arrows alone cannot select the only row)."""
        super().focusInEvent(event)
        keyboard = (Qt.FocusReason.TabFocusReason, Qt.FocusReason.BacktabFocusReason,
                    Qt.FocusReason.ShortcutFocusReason)
        model = self.model()
        if event.reason() in keyboard and model is not None and model.rowCount() \
                and not self.selectionModel().hasSelection():
            row = self.currentIndex().row() if self.currentIndex().isValid() else 0
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.selectionModel().setCurrentIndex(model.index(row, 0), flags)

    def on_paths_dropped(self, paths: list[str]) -> None:
        self.files_dropped.emit(paths)

    def on_drop_refused(self, lines: list[str], dropped: bool) -> None:
        self.drop_refused.emit(lines, dropped)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_pressed.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
            self.enter_pressed.emit()  # the keyboard's double-click: the row's details
            return
        super().keyPressEvent(event)


class QueuePanel(QGroupBox):
    cancel_requested = Signal(list)        # rows
    retry_requested = Signal(list)
    remove_requested = Signal(list)
    duplicate_requested = Signal(list)
    apply_style_requested = Signal(list)
    details_requested = Signal(int)
    open_output_requested = Signal(int)
    copy_path_requested = Signal(int)
    move_requested = Signal(int, int)      # row, -1 up / +1 down
    clear_finished_requested = Signal()
    start_toggled = Signal(bool)           # True = send waiting rows, False = hold them
    files_dropped = Signal(list)
    drop_refused = Signal(list, bool)      # lines: what a drag held that is not a file here; dropped

    def __init__(self, model: JobQueueModel, parent: QWidget | None = None) -> None:
        super().__init__("Queue", parent)
        self.model = model
        self.table = QueueTable(self)
        self.table.setModel(model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressBarDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths keep their file name visible
        # one line per cell: a wrapped cell in a one-line row is cut (and ElideMiddle then cut a long
        # shot name at both ends: "sh010 pl…nïcode …" instead of "sh010 pl…v001.mp4")
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(NOTES_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 130), (1, 60), (2, 150), (PROGRESS_COLUMN, 110), (4, 120),
                              (OUTPUT_COLUMN, 220), (7, 45), (8, 50)):
            self.table.setColumnWidth(column, width)
        self.table.setMinimumHeight(self._rows_height(MIN_VISIBLE_ROWS))
        self.table.files_dropped.connect(self.files_dropped)
        self.table.drop_refused.connect(self.drop_refused)
        self.table.delete_pressed.connect(lambda: self._emit_rows(self.remove_requested))
        self.table.doubleClicked.connect(lambda index: self.details_requested.emit(index.row()))
        self.table.enter_pressed.connect(lambda: self._emit_row(self.details_requested))

        self.start_button = QPushButton("Start queue", self)
        self.start_button.setCheckable(True)
        self.engine_connected = False
        """Told by the window: Start stays offered without an engine (rows go once one connects), and
        its tip says so."""
        self.start_button.toggled.connect(self._start_toggled)
        self.cancel_button = self._button("Cancel", with_key("Stop the selected jobs", "cancel"), self.cancel_requested)
        self.retry_button = self._button("Retry", "Continue the selected stopped jobs; frames already "
                                                  "rendered are kept", self.retry_requested)
        self.remove_button = self._button("Remove", "Take the selected rows out of the queue (Delete)",
                                          self.remove_requested)
        self.duplicate_button = self._button("Duplicate", "A new waiting row with the same shot and settings",
                                             self.duplicate_requested)
        self.apply_button = self._button("Apply style", "Give the selected waiting rows the current style "
                                                        "and output settings", self.apply_style_requested)
        self.up_button = QPushButton("↑", self)
        describe(self.up_button, "Move the selected row up (earlier in the queue)")
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button = QPushButton("↓", self)
        describe(self.down_button, "Move the selected row down (later in the queue)")
        self.down_button.clicked.connect(lambda: self._move(1))
        self.clear_button = QPushButton("Clear finished", self)
        describe(self.clear_button, "Take the done, failed and cancelled rows out of the list (their files stay)")
        self.clear_button.clicked.connect(self.clear_finished_requested)
        self.details_button = QPushButton("Details…", self)
        describe(self.details_button, "Settings, messages and files of the selected job (or double-click its row)")
        self.details_button.clicked.connect(lambda: self._emit_row(self.details_requested))
        self.open_button = QPushButton("Reveal output", self)
        describe(self.open_button, "Open the selected job's output folder in the file manager")
        self.open_button.clicked.connect(lambda: self._emit_row(self.open_output_requested))
        self.copy_button = QPushButton("Copy path", self)
        describe(self.copy_button, "Copy the selected job's output pattern (shot.####.exr) to the clipboard")
        self.copy_button.clicked.connect(lambda: self._emit_row(self.copy_path_requested))
        for button in (self.up_button, self.down_button):
            button.setFixedWidth(32)
        self.total_bar = QProgressBar(self)
        self.total_bar.setRange(0, 1)
        self.total_bar.setValue(0)
        self.total_bar.setTextVisible(True)
        self.total_bar.setToolTip("Frames rendered of every row in the list, and the time left for this panel's "
                                  "queue at the rate it renders now (≥: a waiting whole clip is not counted yet; 60+ "
                                  "frames: some rows' lengths are not known yet)")
        self.total_label = QLabel("", self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)  # tight, so four rows fit a 960x540 window
        layout.setSpacing(4)
        layout.addWidget(self.table, 1)
        buttons = (self.start_button, self.cancel_button, self.retry_button, self.remove_button, self.clear_button,
                   self.up_button, self.down_button, self.duplicate_button, self.apply_button)
        row_buttons = (self.details_button, self.open_button, self.copy_button)
        layout.addWidget(hbox_row(self, *buttons))
        layout.addWidget(hbox_row(self, *row_buttons, self.total_bar, self.total_label))
        # Tab goes along the rows as they read (it went in the order the buttons were made: Remove,
        # Duplicate, ↓, Clear finished, back and forth along the row)
        for first, second in pairwise((self.table, *buttons, *row_buttons)):
            QWidget.setTabOrder(first, second)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._show_row_menu)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        for signal in (model.dataChanged, model.rowsInserted, model.rowsRemoved, model.rowsMoved):
            signal.connect(self._update_buttons)
        self._update_buttons()

    def _rows_height(self, rows: int) -> int:
        """Height of the table showing the header, ``rows`` rows and the horizontal scroll bar."""
        table = self.table
        return (table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
                + table.horizontalScrollBar().sizeHint().height() + 2 * table.frameWidth())

    def _button(self, text: str, tip: str, signal) -> QPushButton:
        button = QPushButton(text, self)
        describe(button, tip)
        button.clicked.connect(lambda: self._emit_rows(signal))
        return button

    # --- selection ----------------------------------------------------------------------------
    def show_rows(self, first: int, last: int) -> None:
        """Scroll rows just added into view (the first of them when they do not all fit): rows
        dropped on a long queue landed below its end, out of sight. The table lays new rows out
        later: done now, or the scroll range would not reach them yet."""
        self.table.doItemsLayout()
        self.table.scrollTo(self.model.index(last, 0))
        self.table.scrollTo(self.model.index(first, 0))

    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.table.selectionModel().selectedRows())

    def selected_row(self) -> int | None:
        rows = self.selected_rows()
        return rows[0] if rows else None

    def select_row(self, row: int) -> None:
        """Exactly this row, selected and current: ``QTableView.selectRow`` would toggle it while Ctrl
        is held (extended selection), so a second call, or one after a Ctrl shortcut, unselected it."""
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().setCurrentIndex(self.model.index(row, 0), flags)

    def row_menu(self, pos: QPoint) -> QMenu:
        """The right-click (or Menu key) menu: the row buttons' actions for the row under ``pos``
        (selected first, unless it is in the selection already), each greyed as its button is and
        with its tooltip, so a right-click offers what the buttons below offer."""
        index = self.table.indexAt(pos)
        if index.isValid() and index.row() not in self.selected_rows():
            self.select_row(index.row())
        menu = QMenu(self.table)
        menu.setToolTipsVisible(True)
        groups = ((self.details_button, self.open_button, self.copy_button),
                  (self.cancel_button, self.retry_button, self.duplicate_button, self.apply_button),
                  (self.remove_button,))
        for group in groups:
            if not menu.isEmpty():
                menu.addSeparator()
            for button in group:
                action = menu.addAction(button.text())
                action.setEnabled(button.isEnabled())
                action.setToolTip(button.toolTip())
                action.triggered.connect(button.click)
        return menu

    def _show_row_menu(self, pos: QPoint) -> None:
        if self.model.rowCount():
            menu = self.row_menu(pos)
            menu.exec(self.table.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def _emit_rows(self, signal) -> None:
        rows = self.selected_rows()
        if rows:
            signal.emit(rows)

    def _emit_row(self, signal) -> None:
        row = self.selected_row()
        if row is not None:
            signal.emit(row)

    def _move(self, delta: int) -> None:
        row = self.selected_row()
        if row is not None:
            self.move_requested.emit(row, delta)

    def _start_toggled(self, running: bool) -> None:
        self.start_button.setText("Pause queue" if running else "Start queue")
        self.start_toggled.emit(running)
        self._update_buttons()

    def set_running(self, running: bool) -> None:
        self.start_button.setChecked(running)

    # --- state --------------------------------------------------------------------------------
    def _update_buttons(self, *_) -> None:
        """Offer what applies to the selection; every greyed button says why (its tooltip).

        A button greyed out under the focus (Cancel once its job stopped, Start once the queue
        drained) leaves the focus to the queue table: Qt hands it to the next live button, often
        Remove, where the next Enter or Space takes the rows out of the queue."""
        focused = QApplication.focusWidget()
        rows = [r for r in self.selected_rows() if r < self.model.rowCount()]
        records = [self.model.record(r) for r in rows]
        select = "select a row in the queue first" if not records else ""
        one = "" if len(records) == 1 else select or "select exactly one row"
        waiting = any(r.status == "waiting" for r in self.model.records())
        running = self.start_button.isChecked()
        describe(self.start_button, (PAUSE_TIP if running else START_TIP)
                 + ("" if self.engine_connected else f"\n{NO_ENGINE_YET}"))
        set_available(self.start_button, "" if running or waiting  # Pause stays offered
                      else "nothing is waiting in the queue: add a shot first (Enter)")
        set_available(self.cancel_button, select or ("" if any(not r.finished for r in records)
                                                     else "the selected jobs have already finished"))
        set_available(self.retry_button, select or ("" if any(r.resumable for r in records) else
                                                    "only failed, cancelled or interrupted jobs can be retried"))
        set_available(self.remove_button, select)
        set_available(self.duplicate_button, select)
        set_available(self.apply_button, select or ("" if any(r.status == "waiting" for r in records) else
                                                    "only waiting rows take a new style: these were already sent"))
        set_available(self.up_button, one or ("already first in the queue" if rows[0] == 0 else ""))
        set_available(self.down_button, one or ("already last in the queue" if rows[0] == self.model.rowCount() - 1
                                                else ""))
        for button in (self.details_button, self.open_button, self.copy_button):
            set_available(button, one)
        set_available(self.clear_button, "" if any(r.finished for r in self.model.records())
                      else "no row has finished yet")
        if isinstance(focused, QPushButton) and self.isAncestorOf(focused) and not focused.isEnabled():
            self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        self._update_total()

    def set_engine_connected(self, connected: bool) -> None:
        self.engine_connected = connected
        self._update_buttons()

    def _update_total(self) -> None:
        """A row whose length is not known yet (a clip the panel could not read, another client's
        job the engine has not counted) counts as one frame in the bar, the least it holds, and the
        text says so: the bar read full while such rows still waited."""
        done, total, cancelled, finished, jobs = self.model.totals()
        uncounted = self.model.uncounted()
        most = max(1, total + uncounted)
        self.total_bar.setRange(0, most)
        self.total_bar.setValue(min(done, most))
        text = f"{done}/{total}{'+' if uncounted else ''} frames" if total else "no frames yet"
        if uncounted:
            text += f", {uncounted} shot{'s' if uncounted > 1 else ''} not counted yet"
        eta, floor = self.model.queue_eta()
        eta_text = f" · queue ETA {'≥ ' if floor else ''}{format_eta(eta)}" if eta is not None else ""
        failed = self.model.failed_frames()
        self.total_bar.setFormat(text + (f", {cancelled} cancelled" if cancelled else "")
                                 + (f", {failed} failed" if failed else "") + eta_text)
        self.total_label.setText(f"{finished}/{jobs} jobs finished" if jobs else "queue empty")
