"""The panel window: wires the sections to the engine bridge and the queue model.

Everything here runs on the UI thread and only ever calls bridge methods that return at once;
replies and events come back as signals.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QImage
from PySide6.QtWidgets import QMainWindow, QPushButton, QSplitter, QVBoxLayout, QWidget

from engine.errors import EngineError
from ui.capabilities import parse_capabilities
from ui.connection_indicator import ConnectionIndicator
from ui.engine_bridge import CONNECTED, FAILED, EngineBridge
from ui.form_rows import hbox_row
from ui.job_form import build_job_settings, preview_settings
from ui.job_records import shot_label
from ui.panel_settings import PanelSettings
from ui.preview_panel import PreviewPanel
from ui.queue_model import JobQueueModel
from ui.queue_panel import QueuePanel
from ui.source_panel import SourcePanel
from ui.status_log import StatusLog
from ui.style_panel import StylePanel

PING_INTERVAL_MS = 3000


class MainWindow(QMainWindow):
    def __init__(self, bridge: EngineBridge, store: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("VToonify Studio")
        self.bridge = bridge
        bridge.setParent(self)
        self.settings = PanelSettings(store)
        self.queue_model = JobQueueModel(self)
        self._latest_preview_key = 0

        self.indicator = ConnectionIndicator(self)
        self.connect_button = QPushButton("Connect", self)
        self.start_button = QPushButton("Start engine", self)
        self.source_panel = SourcePanel(self)
        self.style_panel = StylePanel(self)
        self.add_button = QPushButton("Add to queue", self)
        self.preview_panel = PreviewPanel(self)
        self.queue_panel = QueuePanel(self.queue_model, self)
        self.status_log = StatusLog(self)
        self._build_layout()
        self._wire()
        self.preview_panel.preview_button.setEnabled(False)  # enabled once an engine is connected
        self._restore()

        self._ping_timer = QTimer(self)
        self._ping_timer.setInterval(PING_INTERVAL_MS)
        self._ping_timer.timeout.connect(bridge.ping)
        self._ping_timer.start()

    # --- layout & wiring ----------------------------------------------------------------------
    def _build_layout(self) -> None:
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.source_panel)
        left_layout.addWidget(self.style_panel)
        left_layout.addWidget(self.add_button)
        left_layout.addStretch(1)

        top = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(left)
        top.addWidget(self.preview_panel)
        top.setStretchFactor(1, 1)
        main = QSplitter(Qt.Orientation.Vertical, self)
        main.addWidget(top)
        main.addWidget(self.queue_panel)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        main.setSizes([560, 240])

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(hbox_row(central, self.indicator, self.connect_button, self.start_button))
        layout.addWidget(main, 1)
        layout.addWidget(self.status_log)
        self.setCentralWidget(central)
        self.resize(1280, 900)

    def _wire(self) -> None:
        bridge = self.bridge
        self.connect_button.clicked.connect(bridge.connect_to_engine)
        self.start_button.clicked.connect(bridge.start_engine)
        self.add_button.clicked.connect(self.add_to_queue)
        self.preview_panel.preview_requested.connect(self.request_preview)
        self.queue_panel.cancel_requested.connect(self.cancel_row)
        self.queue_panel.retry_requested.connect(self.retry_row)
        self.queue_panel.open_output_requested.connect(self.open_output)

        bridge.state_changed.connect(self._on_state)
        bridge.capabilities_ready.connect(self._on_capabilities)
        bridge.job_submitted.connect(self.queue_model.assign_job_id)
        bridge.submit_failed.connect(self._on_submit_failed)
        bridge.request_failed.connect(self._on_request_failed)
        bridge.engine_event.connect(self._on_event)
        bridge.preview_ready.connect(self._on_preview)
        bridge.preview_failed.connect(self._on_preview_failed)
        self.queue_model.cancel_needed.connect(bridge.cancel)
        self.queue_model.job_finished.connect(self._on_job_finished)

    # --- actions ------------------------------------------------------------------------------
    def current_settings(self) -> dict:
        """The job the form describes, checked (raises ConfigError)."""
        return build_job_settings(self.source_panel.values(), self.style_panel.values())

    def add_to_queue(self) -> int | None:
        """Queue the current shot; returns the row's key, or None when the form is invalid."""
        try:
            settings = self.current_settings()
        except EngineError as exc:
            self.status_log.show_error(exc.code, exc.user_message)
            return None
        key = self.queue_model.add_job(settings)
        self.bridge.submit(key, settings)
        self.status_log.show_info(f"queued {shot_label(settings)}")
        return key

    def request_preview(self, frame: int) -> int | None:
        try:
            settings = preview_settings(self.current_settings())
        except EngineError as exc:
            self.status_log.show_error(exc.code, exc.user_message)
            return None
        self._latest_preview_key = self.bridge.request_preview(settings, frame)
        self.preview_panel.set_busy(frame)
        return self._latest_preview_key

    def cancel_row(self, row: int) -> None:
        record = self.queue_model.mark_cancelling(row)
        if record.job_id and not record.finished:
            self.bridge.cancel(record.job_id)

    def retry_row(self, row: int) -> None:
        record = self.queue_model.reset_for_retry(row)
        self.bridge.submit(record.key, record.settings)

    def open_output(self, row: int) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.queue_model.record(row).output))

    # --- bridge signals -----------------------------------------------------------------------
    def _on_state(self, state: str, detail: str) -> None:
        self.indicator.set_state(state, detail)
        self.preview_panel.preview_button.setEnabled(state == CONNECTED)
        if state == FAILED:
            return  # the failure itself is already in the status area (request_failed)
        self.status_log.show_info(f"engine {state}" + (f": {detail}" if detail else ""))
        if state == CONNECTED:  # after a reconnect, pick up the events of jobs still in flight
            for record in self.queue_model.records():
                if record.job_id and not record.finished:
                    self.bridge.subscribe(record.job_id)

    def _on_capabilities(self, reply: dict) -> None:
        self.style_panel.set_capabilities(parse_capabilities(reply))
        if reply.get("pipeline_error"):
            self.status_log.show_error("engine_error", f"engine pipeline unavailable: {reply['pipeline_error']}")

    def _on_request_failed(self, what: str, code: str, message: str) -> None:
        self.status_log.show_error(code, message)

    def _on_submit_failed(self, key: int, code: str, message: str) -> None:
        self.queue_model.mark_submit_failed(key, message)
        self.status_log.show_error(code, message)

    def _on_event(self, event: dict) -> None:
        self.queue_model.apply_event(event)
        if event.get("event") == "job_failed":
            error = event.get("error") or {}
            self.status_log.show_error(str(error.get("code", "engine_error")), str(error.get("message", "")))

    def _on_job_finished(self, key: int, status: str) -> None:
        row = self.queue_model.row_of_key(key)
        if row is not None and status != "failed":
            self.status_log.show_info(f"{self.queue_model.record(row).shot}: {status}")

    def _on_preview(self, key: int, before: QImage, after: QImage, frame: int) -> None:
        if key == self._latest_preview_key:
            self.preview_panel.show_result(before, after, frame)

    def _on_preview_failed(self, key: int, code: str, message: str) -> None:
        if key == self._latest_preview_key:
            self.preview_panel.show_failure(message)
        self.status_log.show_error(code, message)

    # --- persistence --------------------------------------------------------------------------
    def _restore(self) -> None:
        saved = self.settings.load()
        shot = {k.split("/", 1)[1]: v for k, v in saved.items() if k.startswith("shot/")}
        style = {k.split("/", 1)[1]: v for k, v in saved.items() if k.startswith("style/")}
        self.source_panel.set_values(shot)
        if shot.get("source"):
            self.source_panel.set_source(shot["source"])
        if "first_frame" in shot and "last_frame" in shot:
            self.source_panel.set_frame_range(shot["first_frame"], shot["last_frame"])
        self.source_panel.whole_source.setChecked(bool(shot.get("whole_source", False)))
        self.style_panel.set_values(style)
        self.preview_panel.frame_spin.setValue(int(saved.get("preview/frame", 1)))
        self.preview_panel.view.set_split(float(saved.get("preview/split", 0.5)))
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)

    def save_settings(self) -> None:
        source = self.source_panel
        style = self.style_panel.values()
        self.settings.save({
            "shot/source": source.source_edit.text().strip(),
            "shot/output": source.output_edit.text().strip(),
            "shot/format": source.format_combo.currentText(),
            "shot/output_space": source.output_space_combo.currentText(),
            "shot/mattes": source.mattes_check.isChecked(),
            "shot/whole_source": source.whole_source.isChecked(),
            "shot/first_frame": source.first_frame.value(),
            "shot/last_frame": source.last_frame.value(),
            "style/backend": style["backend"],
            "style/device": style["device"],
            "style/style": style["style"],
            "style/backbone": style["backbone"],
            "style/style_id": style["style_id"],
            "style/degree": style["degree"],
            "style/color_transfer": style["color_transfer"],
            "style/exstyle_image": style["exstyle_image"] or "",
            "preview/frame": self.preview_panel.frame_spin.value(),
            "preview/split": self.preview_panel.view.split,
        })
        self.settings.save_geometry(self.saveGeometry())

    def closeEvent(self, event: QCloseEvent) -> None:
        """The window goes away at once; the bridge finishes its teardown in the background
        (``bridge.stopped`` says when; an engine this panel started is stopped, never orphaned)."""
        self._ping_timer.stop()
        self.save_settings()
        self.bridge.shutdown()
        super().closeEvent(event)
