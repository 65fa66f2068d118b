"""The panel window: wires the sections to the engine bridge, the queue model and its controller.

Everything here runs on the UI thread and only ever calls bridge methods that return at once;
replies and events come back as signals. Keyboard: Enter in the form adds the shot to the queue (on a
focused button it presses that button), Delete removes the selected rows, Tab moves between controls
(never between queue rows).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, QStandardPaths, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMoveEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EngineError
from engine.service import catalog
from ui import output_policy
from ui.capabilities import parse_capabilities
from ui.connection_indicator import ConnectionIndicator
from ui.control_tips import base_tip, describe, set_available, why_not
from ui.engine_bridge import CONNECTED, FAILED, EngineBridge
from ui.form_rows import hbox_row
from ui.job_details import JobDetailsDialog
from ui.job_form import build_job_settings, preview_settings
from ui.job_records import PENDING, shot_label
from ui.panel_settings import PanelSettings, restored_exemplar, restored_output
from ui.presets import PresetStore
from ui.preview_panel import PreviewPanel
from ui.queue_controller import RESTART_LABEL, QueueController
from ui.queue_model import JobQueueModel
from ui.queue_panel import QueuePanel
from ui.shortcuts import install as install_shortcuts
from ui.shortcuts import with_key
from ui.shot_counter import ShotCounter
from ui.source_panel import SourcePanel
from ui.sources import check_paths, shots_from_paths
from ui.status_log import OneLineLabel, StatusLog
from ui.style_panel import StylePanel
from ui.window_fit import frame_on_screen
from ui.wording import exception_text, with_fix

PING_INTERVAL_MS = 3000
TITLE = "VToonify Studio"
DEFAULT_SIZE = (1280, 720)
"""Fits a 1366x768 screen with its task bar; the left column scrolls when the window is smaller."""
CLOSE_CANCEL, CLOSE_KEEP, CLOSE_STAY = "cancel", "keep", "stay"
NOT_CONNECTED = "no engine is connected: press Connect or Start engine (top of the window)"
CONNECT_LABEL, RECONNECT_LABEL = "Connect", "Reconnect"
CONNECT_TIP = "Connect to the engine already running for this user (its connection file)"
NO_SOURCE = "no source yet: type one in the Source field or pick one with Browse…"
NO_PRESETS = "no preset is saved yet: set the form up, then Save preset…"


def default_presets_dir() -> Path:
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
    return Path(location or Path.home() / ".config" / "vtoonify") / "presets"


def file_manager_available() -> bool:
    """Whether this system can open a folder in a file manager (Linux needs xdg-open or gio)."""
    return not sys.platform.startswith("linux") or bool(shutil.which("xdg-open") or shutil.which("gio"))


def fitted_size(available: QSize) -> tuple[int, int]:
    """The first-start window size: DEFAULT_SIZE, but never larger than the screen's free area (a
    1920x1080 laptop at 200 % offers 960x540), so no button starts off screen."""
    return min(DEFAULT_SIZE[0], available.width()), min(DEFAULT_SIZE[1], available.height())


class _FormHolder(QWidget):
    """The shot and style form: Enter anywhere in it (line edits, spin boxes and combo boxes pass
    Enter on) adds the shot to the queue."""

    enter_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and modifiers == Qt.KeyboardModifier.NoModifier:
            event.accept()
            self.enter_pressed.emit()
            return
        super().keyPressEvent(event)


class _FormScroll(QScrollArea):
    """The form's scroll area: as wide as the form and its scroll bar where there is room (so no
    side scroll bar at the usual sizes), narrower in an 800-pixel-wide window, where the form then
    scrolls sideways instead of the window being wider than the screen."""

    NARROWEST = 360

    def keep_wheel_for_scrolling(self) -> None:
        """The wheel scrolls the form: a combo box, spin box or slider under the pointer took it
        and changed its value as the form went by ("If it exists" New version -> Overwrite). Such
        a field takes the wheel only once it has the focus (a click or Tab), and the wheel no
        longer gives it the focus."""
        form = self.widget()
        for field in form.findChildren(QWidget):  # isAncestorOf: not the combo boxes' popup lists
            if isinstance(field, (QComboBox, QAbstractSpinBox, QAbstractSlider)) and form.isAncestorOf(field):
                field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
                field.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        # the scroll area filters its own scroll bars' events too: only the form's fields are held back
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus() \
                and self.widget().isAncestorOf(watched):
            QApplication.sendEvent(self.viewport(), event)  # the scroll area's own wheel handling
            return True
        return super().eventFilter(watched, event)

    def sizeHint(self) -> QSize:
        form = self.widget().sizeHint() if self.widget() is not None else QSize(0, 0)
        bar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        return QSize(form.width() + bar + 2 * self.frameWidth() + 8, super().sizeHint().height())


class MainWindow(QMainWindow):
    def __init__(self, bridge: EngineBridge, store: QSettings, parent: QWidget | None = None,
                 presets_dir: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.bridge = bridge
        bridge.setParent(self)
        self.settings = PanelSettings(store)
        self.presets = PresetStore(presets_dir or default_presets_dir())
        self.queue_model = JobQueueModel(self)
        self.queue = QueueController(self.queue_model, bridge, self)
        # kept at once (not only on close): a panel that crashes still knows its jobs when started again
        bridge.job_submitted.connect(lambda *_: self.settings.save_sent_jobs(self.queue_model.sent_job_ids()))
        self.shot_counter = ShotCounter(self)
        self.shot_counter.counted.connect(self.queue_model.set_counted)
        self._latest_preview_key = 0
        self._preview_source = ""
        self._connected = False
        self.finish_notice = ""
        self._refused_now: list[str] = []
        self._frame_margins = (0, 0, 0, 0)
        self._stacked_dragged = False  # the artist dragged the stacked layout's splitter (or it was restored)
        self._saved_side: QByteArray | None = None  # the wide layout's column, restored once it is wide

        self.indicator = ConnectionIndicator(self)
        self.connect_button = QPushButton(CONNECT_LABEL, self)
        self.start_button = QPushButton("Start engine", self)
        self.restart_button = QPushButton(RESTART_LABEL, self)
        self.restart_button.setVisible(False)  # offered when the engine went away under running jobs
        describe(self.restart_button, "Start the engine again and continue the jobs it stopped; the frames "
                                      "already rendered are kept")
        self.preset_combo = QComboBox(self)
        describe(self.connect_button, CONNECT_TIP)
        describe(self.start_button, "Start an engine on this machine and connect to it")
        describe(self.preset_combo, "Saved looks and output options")
        self.preset_combo.setMinimumWidth(140)
        self.load_preset_button = QPushButton("Load", self)
        self.save_preset_button = QPushButton("Save preset…", self)
        self.delete_preset_button = QPushButton("Delete", self)
        describe(self.load_preset_button, "Fill the form from the chosen preset")
        describe(self.save_preset_button, "Save the style and output options under a name")
        describe(self.delete_preset_button, "Delete the chosen preset")
        self.source_panel = SourcePanel(self)
        self.style_panel = StylePanel(self)
        self.add_button = QPushButton("Add to queue  (Enter)", self)
        describe(self.add_button, "Add the shot with these settings to the queue (Start queue sends it)")
        self.preview_panel = PreviewPanel(self)
        self.queue_panel = QueuePanel(self.queue_model, self)
        self.status_log = StatusLog(self)
        self.notice_label = OneLineLabel(self)
        self.notice_label.setVisible(False)  # shown with the queue's finish notice, or what a drop could not use
        self._build_layout()
        self._wire()
        self._install_shortcuts()
        for button in self.findChildren(QPushButton):
            # Enter presses the focused button, as Space does (outside a dialog Qt leaves Enter to the
            # parent: on Browse… it added the shot to the queue, on Connect it did nothing)
            button.setAutoDefault(True)
        set_available(self.preview_panel.preview_button, NOT_CONNECTED)  # offered once an engine is connected
        self._refresh_presets()
        self._restore()

        self._ping_timer = QTimer(self)
        self._ping_timer.setInterval(PING_INTERVAL_MS)
        self._ping_timer.timeout.connect(bridge.ping)
        self._ping_timer.start()

    # --- layout & wiring ----------------------------------------------------------------------
    def _build_layout(self) -> None:
        form = self._form = _FormHolder(self)
        form_layout = QVBoxLayout(form)
        form_layout.setContentsMargins(0, 0, 0, 0)
        form_layout.addWidget(self.source_panel)
        form_layout.addWidget(self.style_panel)
        form_layout.addStretch(1)
        self.form_scroll = _FormScroll(self)
        self.form_scroll.setWidget(form)
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.keep_wheel_for_scrolling()
        # no Tab stop of its own (an empty focus frame with nothing to say): it scrolls to the focused field
        self.form_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.form_scroll.setMinimumWidth(_FormScroll.NARROWEST)

        # Add to queue sits under the scrolling form, always in view: at 1280x720 it was below the
        # Style section, out of sight until the form was scrolled to its end
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(4)
        left_layout.addWidget(self.form_scroll, 1)
        left_layout.addWidget(self.add_button)
        # the preview's column: in a wide window the queue and the messages join it (``_arrange``), so the
        # form keeps the window's whole height (at 1600x1000 it scrolled while the queue had empty rows)
        side = self.side_splitter = QSplitter(Qt.Orientation.Vertical, self)
        side.addWidget(self.preview_panel)
        side.setChildrenCollapsible(False)
        top = self.top_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(left)
        top.addWidget(side)
        top.setStretchFactor(1, 1)
        # the message list sits in the splitter (drag it taller to read back), so at 1280x720 the form
        # keeps the room to show the Style section's first rows next to the shot
        main = self.main_splitter = QSplitter(Qt.Orientation.Vertical, self)
        main.addWidget(top)
        main.addWidget(self.queue_panel)
        main.addWidget(self.status_log)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        main.setStretchFactor(2, 0)
        main.setCollapsible(2, False)
        main.setSizes([400, 250, 60])  # about five queue rows at 1280x720
        main.splitterMoved.connect(self._note_stacked_drag)  # emitted by a drag, never by setSizes

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(hbox_row(central, self.indicator, self.connect_button, self.start_button,
                                  self.restart_button, QLabel("Preset"), self.preset_combo, self.load_preset_button,
                                  self.save_preset_button, self.delete_preset_button))
        layout.addWidget(main, 1)
        self.setCentralWidget(central)
        # the status bar shows the hovered control's tip (every control has one: control_tips) and,
        # between hovers, the queue's finish notice
        self.setStatusBar(QStatusBar(self))
        self.statusBar().addWidget(self.notice_label, 1)
        self.resize(*fitted_size(self.screen().availableGeometry().size()))

    def share_small_height(self) -> None:
        """A small screen (1080p at 200 %): the queue and the messages at their least (four rows, two
        lines), so the form and the preview keep the rest (the queue's share left the preview a strip)."""
        splitter = self.queue_splitter()
        queue, log = self.queue_panel.minimumSizeHint().height(), self.status_log.minimumHeight()
        total = sum(splitter.sizes())
        splitter.setSizes([max(1, total - queue - log), queue, log])

    def share_stacked_height(self) -> None:
        """The stacked layout (narrow window) gives the form the room first, as the wide one does: the
        messages at two lines, the queue at its least (header, four rows, its buttons) unless the form
        and the preview already have all they ask for. At 960x540 the form scrolled in a 169 px viewport."""
        if self.wide_layout or self._stacked_dragged:
            return
        splitter = self.main_splitter
        total = sum(splitter.sizes())
        log = self.status_log.minimumHeight()
        # the whole form with Add to queue under it (the scroll area's own hint stops short of that)
        form = (self.form_scroll.widget().sizeHint().height() + 2 * self.form_scroll.frameWidth()
                + self.add_button.sizeHint().height() + 4)
        top = max(form, self.top_splitter.sizeHint().height())
        queue = max(self.queue_panel.minimumSizeHint().height(), total - log - top)
        splitter.setSizes([max(1, total - queue - log), queue, log])

    def _note_stacked_drag(self, *_) -> None:
        self._stacked_dragged = True

    def queue_splitter(self) -> QSplitter:
        """The splitter the queue and the messages are in now: under the form and the preview, or
        (a wide window) under the preview only."""
        return self.side_splitter if self.wide_layout else self.main_splitter

    @property
    def wide_layout(self) -> bool:
        return self.queue_panel.parentWidget() is self.side_splitter

    def wide_enough(self, width: int) -> bool:
        """Room for the form and, beside it, the queue's buttons (about 1250 px): the form then takes
        the window's whole height, the queue and the messages sharing the preview's column."""
        form = self.form_scroll.sizeHint().width()
        return width >= form + self.queue_panel.minimumSizeHint().width() + 40

    def _arrange(self) -> None:
        """The queue and the messages under the preview (wide window) or across the window's width."""
        wide = self.wide_enough(self.width())
        if wide == self.wide_layout:
            return
        target = self.side_splitter if wide else self.main_splitter
        for widget in (self.queue_panel, self.status_log):
            target.addWidget(widget)
        target.setStretchFactor(0, 3)
        target.setStretchFactor(1, 2)
        target.setStretchFactor(2, 0)
        target.setCollapsible(1, False)
        target.setCollapsible(2, False)
        if wide:
            self.top_splitter.setSizes([self.form_scroll.sizeHint().width(),
                                        max(1, self.top_splitter.width() - self.form_scroll.sizeHint().width())])
        QTimer.singleShot(0, self, self._share_moved_height)  # once laid out: the splitter's real height

    def _share_moved_height(self) -> None:
        """After a move between layouts: the messages at two lines, the queue at 40 % of the rest (at
        least its four rows); the moved widgets otherwise got equal thirds, the messages a third."""
        splitter = self.queue_splitter()
        saved, self._saved_side = self._saved_side, None
        if self.wide_layout and saved is not None and splitter.restoreState(saved):
            return  # where the artist dragged them last time
        if not self.wide_layout:
            self.share_stacked_height()
            return
        total = sum(splitter.sizes())
        log = self.status_log.minimumHeight()
        queue = max(self.queue_panel.minimumSizeHint().height(), int((total - log) * 0.4))
        splitter.setSizes([max(1, total - queue - log), queue, log])

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        self.keep_on_screen()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._arrange()
        super().resizeEvent(event)
        if not self.wide_layout and not self._stacked_dragged:
            QTimer.singleShot(0, self, self.share_stacked_height)  # once laid out: the splitter's real height
        self.keep_on_screen()

    def keep_on_screen(self) -> bool:
        """When the window manager has just framed the window (its frame's borders changed), shrink and
        move it so the title bar and the status bar lie inside the screen's free area (the size was
        chosen, or restored, without the frame). Sizes and places the artist gives it are left alone.
        True when it was moved."""
        frame, inside = self.frameGeometry(), self.geometry()
        margins = (inside.left() - frame.left(), inside.top() - frame.top(), frame.right() - inside.right(),
                   frame.bottom() - inside.bottom())
        if margins == self._frame_margins:
            return False
        self._frame_margins = margins
        if self.isMaximized() or self.isFullScreen():
            return False
        rect = frame_on_screen(frame, inside, self.screen().availableGeometry())
        if rect is None or rect == inside:
            return False
        self.setGeometry(rect)
        return True

    def _install_shortcuts(self) -> None:
        """Window-wide keys for what a keyboard user does most; named in the buttons' tooltips. The
        Source field has the focus first: a path can be typed (or Ctrl+O picked) straight away."""
        source, preview = self.source_panel, self.preview_panel
        self.shortcuts = install_shortcuts(self, {
            "open_source": source.browse_button.click,
            "focus_source": self._focus_source,
            "open_output": source.browse_output_button.click,
            "toggle_queue": self._toggle_queue_by_key,
            "preview": self._preview_by_key,
            "cancel": self._cancel_by_key,
            "quit": self.close,
        })
        describe(source.browse_button, with_key("Pick a video, image sequence or image", "open_source"))
        describe(source.source_edit, with_key("Type or paste a source path, then press Tab", "focus_source"))
        describe(source.browse_output_button, with_key("Pick the output folder", "open_output"))
        describe(preview.preview_button, with_key(base_tip(preview.preview_button) or "Render this frame",
                                                  "preview"))
        source.source_edit.setFocus()
        source.source_edit.textChanged.connect(self._offer_preview)

    def _toggle_queue_by_key(self) -> None:
        """Start/Pause; with the button off (nothing waiting) the controller says why it stays idle."""
        button = self.queue_panel.start_button
        if button.isEnabled():
            button.click()
        else:
            self.queue.set_running(True)

    def _preview_by_key(self) -> None:
        """Ctrl+P: the preview, or (the button greyed) a status line saying why there is none."""
        button = self.preview_panel.preview_button
        if button.isEnabled():
            button.click()
        else:
            self.status_log.show_info(f"no preview: {why_not(button)}")

    def _cancel_by_key(self) -> None:
        """The selected unfinished jobs; with none selected, the ones running now (what a keyboard
        user means: stop the render)."""
        rows = [r for r in self.queue_panel.selected_rows() if not self.queue_model.record(r).finished]
        if not rows:
            rows = [r for r in range(self.queue_model.rowCount()) if self.queue_model.record(r).active]
        if rows:
            self.queue.cancel_rows(rows)
        else:
            self.status_log.show_info("nothing to stop: no selected job is unfinished and none is rendering")

    def _offer_restart(self, jobs: int) -> None:
        self.restart_button.setVisible(jobs > 0)
        self.restart_button.setText(f"{RESTART_LABEL} ({jobs} job{'s' if jobs != 1 else ''})" if jobs else
                                    RESTART_LABEL)

    def _focus_source(self) -> None:
        field = self.source_panel.source_edit
        self.form_scroll.ensureWidgetVisible(field)
        field.setFocus()
        field.selectAll()

    def _wire(self) -> None:
        bridge, queue, panel = self.bridge, self.queue, self.queue_panel
        self.connect_button.clicked.connect(bridge.connect_to_engine)
        self.start_button.clicked.connect(bridge.start_engine)
        self.restart_button.clicked.connect(queue.restart_and_resume)
        queue.restart_offered.connect(self._offer_restart)
        self.add_button.clicked.connect(self.add_to_queue)
        self._form.enter_pressed.connect(self.add_to_queue)
        self.load_preset_button.clicked.connect(lambda: self.load_preset(self.preset_combo.currentText()))
        self.save_preset_button.clicked.connect(self._ask_save_preset)
        self.delete_preset_button.clicked.connect(self._delete_preset)
        self.source_panel.source_changed.connect(self._on_source_changed)
        self.source_panel.info_ready.connect(self._on_source_info)
        self.source_panel.shots_picked.connect(self.add_shots)
        self.source_panel.paths_refused.connect(self.show_refused)
        self.preview_panel.preview_requested.connect(self.request_preview)

        panel.start_toggled.connect(queue.set_running)
        panel.start_toggled.connect(self._on_start_toggled)
        queue.running_changed.connect(panel.set_running)
        panel.cancel_requested.connect(queue.cancel_rows)
        panel.retry_requested.connect(queue.retry_rows)
        panel.remove_requested.connect(queue.remove_rows)
        panel.clear_finished_requested.connect(queue.clear_finished)
        panel.duplicate_requested.connect(self.duplicate_rows)
        panel.apply_style_requested.connect(self.apply_style_to_rows)
        panel.move_requested.connect(self.move_row)
        panel.details_requested.connect(self.show_details)
        panel.open_output_requested.connect(self.open_output)
        panel.copy_path_requested.connect(self.copy_output_path)
        panel.files_dropped.connect(self.add_dropped)
        panel.drop_refused.connect(self.show_refused)

        model = self.queue_model
        for signal in (model.dataChanged, model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._update_title)
        queue.notice.connect(self.status_log.show_info)
        queue.problem.connect(self.status_log.show_error)
        queue.warning.connect(self.status_log.show_warning)
        queue.queue_finished.connect(self._on_queue_finished)
        bridge.state_changed.connect(self._on_state)
        bridge.capabilities_ready.connect(self._on_capabilities)
        bridge.request_failed.connect(lambda what, code, message: self.status_log.show_error(code, message))
        bridge.preview_ready.connect(self._on_preview)
        bridge.preview_failed.connect(self._on_preview_failed)

    # --- building the queue -------------------------------------------------------------------
    def current_settings(self, for_preview: bool = False) -> dict:
        """The job the form describes, checked (raises ConfigError). With the classic backend the
        style-only settings it ignores are sent at their defaults, so changing them never makes an
        identical classic render look like a different job. ``for_preview``: a blank output folder
        is no reason to refuse a preview (the engine writes previews in its own folder and never
        into ``output``), so the home folder stands in for it."""
        style = self.style_panel.values()
        if style["backend"] == "classic":
            style.update({k: catalog.DEFAULTS.get(k) for k in catalog.STYLE_ONLY_SETTINGS})
            style["exstyle_image"] = None
        shot = self.source_panel.values()
        if for_preview and not str(shot.get("output") or "").strip():
            shot["output"] = str(Path.home())
        return build_job_settings(shot, style)

    def add_to_queue(self) -> int | None:
        """Queue the current shot; returns the row's key, or None when the form is invalid."""
        text = self.source_panel.source_edit.text().strip()
        if text:
            self.source_panel.set_source(text)  # Enter in the field commits it
        try:
            settings = self.current_settings()
        except EngineError as exc:
            self.status_log.show_error(exc.code, exception_text(exc))
            return None
        info = self.source_panel.info
        if info is not None and info.error and info.source == settings.get("source"):
            # the facts already read it and failed: queued, the row would only fail when its turn came
            self.status_log.show_error("input_error", info.error)
            return None
        policy = self.source_panel.policy
        conflict = output_policy.resume_conflict(settings) if policy == output_policy.RESUME else None
        if conflict:
            self.status_log.show_error("output_error", conflict)
            return None
        if output_policy.needs_confirmation(settings, policy) and not self.confirm_overwrite(settings):
            self.status_log.show_info("not queued: the earlier render was kept")
            return None
        key = self.queue_model.add_job(settings, policy, self.style_panel.planned[0],
                                       counted=self._whole_source_count(settings))
        where = "" if self.queue.running else " (press Start queue to render)"
        self.status_log.show_info(f"added {shot_label(settings)} to the queue{where}")
        self._show_new_rows([key])
        self.queue.dispatch()
        return key

    def _whole_source_count(self, settings: dict) -> int:
        """The frames of a whole-clip shot as the source facts read them (0 when not read, or a
        range is set): the total bar and the title count them before the engine does."""
        info = self.source_panel.info
        if settings.get("frames") is not None or info is None or info.error or info.source != settings.get("source"):
            return 0
        return info.count

    def add_shots(self, sources: list[str]) -> list[int]:
        """One row per shot, with the form's style and output settings and each shot's whole clip. With
        no output folder yet the panel asks for one, rather than dropping what the artist just picked."""
        keys = []
        if sources and not self.source_panel.output_edit.text().strip():
            count = f"{len(sources)} shot" + ("s" if len(sources) > 1 else "")
            if not self.source_panel.ask_output_folder(f"Output folder for {count}"):
                self.status_log.show_error("output_error", with_fix(
                    f"{count} not added: no output folder picked",
                    "pick the output folder (Browse… next to Output), then pick or drop the shots again"))
                return keys
        try:
            base = self.current_settings() if self.source_panel.source_edit.text().strip() else None
        except EngineError:
            base = None
        if base is None:
            try:
                base = build_job_settings(dict(self.source_panel.values(), source=sources[0] if sources else "/"),
                                          self.style_panel.values())
            except EngineError as exc:
                self.status_log.show_error(exc.code, exception_text(exc))
                return keys
        for source in sources:
            settings = dict(base, source=source, frames=None, name=None)
            keys.append(self.queue_model.add_job(settings, self.source_panel.policy, self.style_panel.planned[0]))
            self.shot_counter.count(keys[-1], source, int(settings.get("start_number", 1)))
        if keys:  # as for one shot: rows added to an idle queue wait for Start
            where = "" if self.queue.running else " (press Start queue to render)"
            self.status_log.show_info(f"added {len(keys)} shots to the queue{where}")
            self._show_new_rows(keys)
        self.queue.dispatch()
        return keys

    def _show_new_rows(self, keys: list[int]) -> None:
        rows = [row for row in map(self.queue_model.row_of_key, keys) if row is not None]
        if rows:
            self.queue_panel.show_rows(min(rows), max(rows))

    def add_dropped(self, paths: list[str]) -> list[int]:
        """Files and folders dropped on the queue: one row per shot; what cannot be one is named."""
        check = check_paths(paths)
        if check.refused:
            self.show_refused(check.refused, True)
        return self.add_shots(shots_from_paths(check.usable))

    def show_refused(self, lines: list[str], dropped: bool = True) -> None:
        """Items not used, said in the status bar's notice (it stays, where a hover tip would wipe a
        status message) and, for a drop or pick, each in the messages (red, with what to do). A
        drag refused as it enters (nothing in it is a file here) only sets the notice: the cursor
        already says no, nothing was dropped."""
        if not dropped:
            self.show_notice(f"Cannot drop here: {lines[0]}"
                             + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""))
            return
        if not self._refused_now:  # one drop's refusals (URLs, then files) make one notice
            QTimer.singleShot(0, self, self._refused_now.clear)
        self._refused_now.extend(lines)
        for line in lines:
            self.status_log.show_error("drop_refused", line)
        first, rest = self._refused_now[0], len(self._refused_now) - 1
        self.show_notice(f"Not added: {first}" + (f" (and {rest} more: see the messages)" if rest else ""))

    def show_notice(self, text: str) -> None:
        """The status bar's lasting line (hover tips cover it only while they show).

        QStatusBar hides its normal widgets only when a tip starts, and shows again on the tip's end
        only those it hid itself: a notice arriving while a tip shows (a queue finishing under the
        resting pointer) is hidden the same way, or both would be drawn over each other."""
        self.notice_label.setText(text)
        self.notice_label.setToolTip(text)
        if text and self.statusBar().currentMessage():
            self.notice_label.hide()
            self.notice_label.setAttribute(Qt.WidgetAttribute.WA_WState_ExplicitShowHide, False)
        else:
            self.notice_label.setVisible(bool(text))

    def duplicate_rows(self, rows: list[int]) -> None:
        for row in rows:
            self.queue_model.duplicate(row)
        self.queue.dispatch()

    def apply_style_to_rows(self, rows: list[int]) -> int:
        """Give waiting rows the current style (their shot, frames and output stay)."""
        try:
            style = self.style_panel.values()
        except EngineError as exc:
            self.status_log.show_error(exc.code, exception_text(exc))
            return 0
        changed = 0
        for row in rows:
            record = self.queue_model.record(row)
            if self.queue_model.replace_settings(row, {**record.settings, **style}, self.style_panel.planned[0]):
                changed += 1
        skipped = len(rows) - changed
        self.status_log.show_info(f"style applied to {changed} row{'s' if changed != 1 else ''}"
                                  + (f"; {skipped} already sent kept theirs" if skipped else ""))
        return changed

    def move_row(self, row: int, delta: int) -> None:
        self.queue_panel.select_row(self.queue_model.move_row(row, delta))

    # --- outputs ------------------------------------------------------------------------------
    def show_details(self, row: int) -> JobDetailsDialog:
        dialog = JobDetailsDialog(self.queue_model.record(row), self)
        dialog.show()
        return dialog

    def open_output(self, row: int) -> bool:
        """Reveal the output folder (the nearest one that exists); say so in the UI when this
        system has no file manager to open."""
        folder = Path(self.queue_model.record(row).output)
        while not folder.is_dir() and folder.parent != folder:
            folder = folder.parent
        opened = file_manager_available() and QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not opened:
            QGuiApplication.clipboard().setText(str(folder))
            self.status_log.show_error("no_file_manager", f"no file manager could be opened on this system; "
                                                         f"the folder {folder} was copied to the clipboard "
                                                         "(on Linux install xdg-utils)")
        return bool(opened)

    def copy_output_path(self, row: int) -> str:
        record = self.queue_model.record(row)
        text = record.pattern or record.output
        QGuiApplication.clipboard().setText(text)
        self.status_log.show_info(f"copied {text}")
        return text

    # --- presets ------------------------------------------------------------------------------
    def form_values(self) -> dict:
        """Every option of the form (unchecked: a preset may be saved mid-edit)."""
        shot = dict(self.source_panel.values(), policy=self.source_panel.policy)
        return {**shot, **self.style_panel.values()}

    def save_preset(self, name: str) -> bool:
        try:
            self.presets.save(name, self.form_values())
        except (EngineError, OSError) as exc:
            self.status_log.show_error(getattr(exc, "code", "output_error"), exception_text(exc))
            return False
        self._refresh_presets(name)
        self.status_log.show_info(f"preset {name} saved")
        return True

    def load_preset(self, name: str) -> bool:
        if not name:
            return False
        try:
            values = self.presets.load(name)
        except EngineError as exc:
            self.status_log.show_error(exc.code, exception_text(exc))
            return False
        missing = restored_exemplar(str(values.get("exstyle_image") or ""), f"in preset {name}")
        if missing:  # presets keep no folders; the exemplar image is the one path in them
            self.status_log.show_warning(missing)
        self.source_panel.set_values(values)
        self.style_panel.set_values(values)
        self.status_log.show_info(f"preset {name} loaded")
        return True

    def _ask_save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:", text=self.preset_combo.currentText())
        if ok and name.strip():
            self.save_preset(name.strip())

    def _delete_preset(self) -> None:
        name = self.preset_combo.currentText()
        if name:
            self.presets.delete(name)
            self._refresh_presets()

    def _refresh_presets(self, select: str | None = None) -> None:
        self.preset_combo.clear()
        self.preset_combo.addItems(self.presets.names())
        if select:
            self.preset_combo.setCurrentText(select)
        none = "" if self.preset_combo.count() else NO_PRESETS
        for widget in (self.preset_combo, self.load_preset_button, self.delete_preset_button):
            set_available(widget, none)

    # --- preview ------------------------------------------------------------------------------
    def request_preview(self, frame: int) -> int | None:
        try:
            settings = preview_settings(self.current_settings(for_preview=True))
        except EngineError as exc:
            self.status_log.show_error(exc.code, exception_text(exc))
            return None
        self._latest_preview_key = self.bridge.request_preview(settings, frame)
        self._preview_source = settings["source"]
        self.preview_panel.set_busy(frame)
        return self._latest_preview_key

    def _offer_preview(self) -> None:
        """Render preview is live with an engine and a source to render: a press without either only
        earned an error."""
        why = NOT_CONNECTED if not self._connected else \
            NO_SOURCE if not self.source_panel.source_edit.text().strip() else ""
        set_available(self.preview_panel.preview_button, why)

    def _on_source_changed(self, source: str) -> None:
        self._latest_preview_key = -1  # a preview of the old source still rendering is not shown
        self.preview_panel.clear("new source: render a preview to see it" if source else "")

    def _on_source_info(self, info) -> None:
        if not info.error:
            self.preview_panel.set_frame_range(info.first, info.last)

    def _on_preview(self, key: int, before: QImage, after: QImage, frame: int) -> None:
        if key == self._latest_preview_key and self._preview_source == self.source_panel.source_edit.text().strip():
            self.preview_panel.show_result(before, after, frame)

    def _on_preview_failed(self, key: int, code: str, message: str) -> None:
        if key == self._latest_preview_key:
            self.preview_panel.show_failure(message)
        self.status_log.show_error(code, message)

    # --- bridge signals -----------------------------------------------------------------------
    def _on_state(self, state: str, detail: str) -> None:
        self.indicator.set_state(state, detail)
        self._connected = state == CONNECTED
        self._offer_connect(detail if self._connected else "")
        self._offer_preview()
        self.queue_panel.set_engine_connected(state == CONNECTED)
        if state == FAILED:
            return  # the failure itself is already in the status area (request_failed)
        self.status_log.show_info(f"engine {state}" + (f": {detail}" if detail else ""))

    def _offer_connect(self, engine: str) -> None:
        """Connected (``engine`` names it), Start engine could only join the same engine: greyed, saying
        so. Connect stays as Reconnect (a fresh connection to it, for one that stopped answering)."""
        if engine:
            self.connect_button.setText(RECONNECT_LABEL)
            describe(self.connect_button, f"Connected to the engine at {engine}: open a fresh connection to it "
                                          "(jobs keep rendering)")
            set_available(self.start_button, f"already connected to the engine at {engine}")
        else:
            self.connect_button.setText(CONNECT_LABEL)
            describe(self.connect_button, CONNECT_TIP)
            set_available(self.start_button)

    def _on_capabilities(self, reply: dict) -> None:
        capabilities = parse_capabilities(reply)
        self.style_panel.set_capabilities(capabilities)
        if capabilities.pipeline_error:
            self.status_log.show_error("engine_error", f"the engine cannot render: {capabilities.pipeline_error}")
        if capabilities.truncated:  # some style names are not offered: say why, not just show fewer
            self.status_log.show_warning(capabilities.truncated)

    def _on_start_toggled(self, running: bool) -> None:
        """A new run: the last run's finish notice no longer describes the queue."""
        if running and self.queue.running and self.finish_notice:  # a refused Start keeps it
            self._retire_finish_notice()

    def _retire_finish_notice(self) -> None:
        self.finish_notice = ""
        self.show_notice("")
        self._update_title()

    def _on_queue_finished(self, text: str) -> None:
        self.finish_notice = text
        self.show_notice(text)
        self.status_log.show_info(text)
        self._update_title()
        QApplication.alert(self)

    def window_title(self) -> str:
        """The title leads with the queue's progress (then its finish notice), so the task bar or
        window list tells how far a render is while the panel is hidden behind other windows."""
        if any(record.active for record in self.queue_model.records()):
            done, total = self.queue_model.totals()[:2]
            return f"{done}/{total}{'+' if self.queue_model.uncounted() else ''} frames · {TITLE}"
        return f"{self.finish_notice} · {TITLE}" if self.finish_notice else TITLE

    def _update_title(self, *_) -> None:
        """Also retires the finish notice once a row of this panel renders again without a Start
        (Retry on an idle queue): its counts no longer hold, and the title fell back to them after."""
        if self.finish_notice and any(r.mine and r.active for r in self.queue_model.records()):
            self._retire_finish_notice()
            return
        title = self.window_title()
        if title != self.windowTitle():
            self.setWindowTitle(title)

    # --- questions (tests replace these) ------------------------------------------------------
    def confirm_overwrite(self, settings: dict) -> bool:
        answer = QMessageBox.warning(
            self, "Replace the earlier render?",
            f"{settings.get('output')} already holds a render of {output_policy.shot_stem(settings)}.\n\n"
            "Overwrite deletes those frames when the job starts. Continue?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_close(self, running: int) -> str:
        """This panel's jobs are still on the engine: cancel them, leave them rendering, or stay.
        With none on the engine (``running`` 0) only rows waiting in the panel are at stake: close
        and drop them, or stay (the default, so Enter or Escape loses no queue)."""
        if not running:
            box = QMessageBox(QMessageBox.Icon.Question, "Shots still waiting", self.close_question(0), parent=self)
            drop = box.addButton(self.drop_button_text(self.waiting_rows()), QMessageBox.ButtonRole.DestructiveRole)
            box.setDefaultButton(box.addButton("Don't close", QMessageBox.ButtonRole.RejectRole))
            box.exec()
            return CLOSE_CANCEL if box.clickedButton() is drop else CLOSE_STAY
        box = QMessageBox(QMessageBox.Icon.Question, "Jobs still rendering", self.close_question(running),
                          parent=self)
        cancel = box.addButton("Cancel them and close", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Close, keep rendering", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Don't close", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return CLOSE_CANCEL if box.clickedButton() is cancel else CLOSE_KEEP if box.clickedButton() is keep \
            else CLOSE_STAY

    @staticmethod
    def drop_button_text(waiting: int) -> str:
        """The close question's drop button, for the shots waiting (Alt+D either way)."""
        return f"Close and &drop {'them' if waiting > 1 else 'it'}"

    def close_question(self, running: int) -> str:
        """The close question's text. Rows still waiting in the panel were never sent: the engine
        cannot render them after the panel closes, whatever is chosen, so the question says so
        ("Close, keep rendering" read as if the rest of the queue would render too)."""
        waiting = self.waiting_rows()
        if not running:
            return (f"{waiting} shot{'s' if waiting > 1 else ''} in the queue {'have' if waiting > 1 else 'has'} "
                    f"not been sent to the engine (press Start queue to render "
                    f"{'them' if waiting > 1 else 'it'}).\n\nClosing the panel drops "
                    f"{'them' if waiting > 1 else 'it'}: the queue is not kept for next time.")
        text = (f"{running} job{'s' if running > 1 else ''} sent from this panel "
                f"{'are' if running > 1 else 'is'} queued or rendering.")
        if waiting:
            text += (f"\n\n{waiting} more row{'s' if waiting > 1 else ''} waiting in this panel "
                     f"{'have' if waiting > 1 else 'has'} not been sent to the engine: closing drops "
                     f"{'them' if waiting > 1 else 'it'} either way (Don't close to let the queue reach "
                     f"{'them' if waiting > 1 else 'it'}).")
        return text

    def waiting_rows(self) -> int:
        """Rows built in this panel and never sent: they exist nowhere else."""
        return sum(1 for r in self.queue_model.records() if r.mine and r.status == PENDING)

    # --- persistence --------------------------------------------------------------------------
    def _restore(self) -> None:
        saved = self.settings.load()
        shot = {k.split("/", 1)[1]: v for k, v in saved.items() if k.startswith("shot/")}
        style = {k.split("/", 1)[1]: v for k, v in saved.items() if k.startswith("style/")}
        shot["output"], output_note = restored_output(str(shot.get("output") or ""))
        exemplar_note = restored_exemplar(str(style.get("exstyle_image") or ""))
        for note in (output_note, exemplar_note):
            if note:
                self.status_log.show_warning(note)
        self.source_panel.set_values(shot)
        if shot.get("source"):
            self.source_panel.set_source(shot["source"])
        if not shot.get("whole_source", True) and "first_frame" in shot and "last_frame" in shot:
            self.source_panel.set_frame_range(shot["first_frame"], shot["last_frame"])
        self.style_panel.set_values(style)
        self.queue_model.restore_order(self.settings.job_order())
        self.queue_model.restore_sent(self.settings.claim_sent_jobs())
        self.queue.hidden.update(dict.fromkeys(self.settings.removed_jobs()))
        self.preview_panel.frame_spin.setValue(int(saved.get("preview/frame", 1)))
        self.preview_panel.view.set_split(float(saved.get("preview/split", 0.5)))
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._saved_side = self.settings.geometry("side_splitter")
        for name, splitter in self._splitters():  # where the artist dragged the form, queue and messages
            state = self.settings.geometry(name)
            if state is not None:
                splitter.restoreState(state)
                self._stacked_dragged |= splitter is self.main_splitter
        if self.settings.geometry("main_splitter") is None and self.height() < DEFAULT_SIZE[1]:
            QTimer.singleShot(0, self, self.share_small_height)  # once laid out: the splitter's real height

    def _splitters(self) -> tuple[tuple[str, QSplitter], ...]:
        return (("main_splitter", self.main_splitter), ("top_splitter", self.top_splitter),
                ("side_splitter", self.side_splitter))

    def save_settings(self) -> None:
        source = self.source_panel
        style = self.style_panel.values(check=False)  # a missing exemplar is kept as typed
        self.settings.save({
            "shot/source": source.source_edit.text().strip(),
            "shot/output": source.output_edit.text().strip(),
            "shot/format": source.format_combo.currentText(),
            "shot/exr_compression": source.exr_compression_combo.currentText(),
            "shot/png_bits": catalog.PNG_BITS[source.png_bits_combo.currentIndex()],
            "shot/start_number": source.start_number.value(),
            "shot/output_space": source.output_space_combo.currentText(),
            "shot/faces": str(source.faces_combo.currentData()),
            "shot/max_faces": source.max_faces_spin.value(),
            "shot/follow_faces": source.follow_faces_check.isChecked(),
            "shot/scale": source.scale_spin.value(),
            "shot/name": source.name_edit.text().strip(),
            "shot/policy": source.policy,
            "shot/mattes": source.mattes_check.isChecked(),
            "shot/matte_files": source.matte_files_check.isChecked(),
            "shot/cryptomatte": source.cryptomatte_check.isChecked(),
            "shot/matte_classes": source.matte_classes_edit.text().strip(),
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
        self.settings.save_job_order(self.queue_model.job_order())
        self.settings.save_sent_jobs(self.queue_model.sent_job_ids())
        self.settings.save_removed_jobs(self.queue.hidden)
        self.settings.save_geometry(self.saveGeometry())
        for name, splitter in self._splitters():
            # an undragged stacked layout is left to share form-first at the next start's size
            if splitter is not self.main_splitter or self._stacked_dragged:
                self.settings.save_geometry(splitter.saveState(), name)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing cancels only this panel's jobs, after asking while any is queued or rendering;
        other clients' jobs go on, and an engine this panel started stays while anyone uses it.
        Rows still waiting are asked about too, with nothing on the engine: the panel keeps no
        queue between runs, and an artist's queued shots were dropped without a word."""
        mine = self.queue.mine_active_job_ids() if self.bridge.state == CONNECTED else []
        choice = self.ask_close(len(mine)) if mine or self.waiting_rows() else CLOSE_KEEP
        if choice == CLOSE_STAY:
            event.ignore()
            return
        self.shot_counter.stop()
        self._ping_timer.stop()
        self.save_settings()
        self.bridge.shutdown(cancel_jobs=mine if choice == CLOSE_CANCEL else [])
        super().closeEvent(event)
