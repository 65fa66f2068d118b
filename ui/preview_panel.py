"""Preview section: scrub to a frame, ask the engine for it, compare before/after (split, A, B, 1:1).

The preview always belongs to the current source: a new source clears it, so a stale frame of
another shot is never mistaken for this one.
"""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QGroupBox,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.control_tips import describe
from ui.form_rows import hbox_row
from ui.split_view import SHOW_A, SHOW_B, SPLIT, SplitCompareView
from ui.status_log import OneLineLabel

SCRUB_SETTLE_MS = 350
"""A scrubbed frame is rendered once the slider rests this long (not for every frame passed)."""


class PreviewPanel(QGroupBox):
    """``preview_requested(frame)`` goes to the main window, which sends the current settings."""

    preview_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Preview", parent)
        self.view = SplitCompareView(self)
        self.frame_spin = QSpinBox(self)
        self.frame_spin.setRange(0, 9_999_999)
        self.frame_spin.setValue(1)
        self.scrub = QSlider(Qt.Orientation.Horizontal, self)
        self.scrub.setRange(1, 1)
        describe(self.scrub, "Scrub through the shot; the frame under the handle is previewed when you stop")
        describe(self.frame_spin, "Frame to preview (the source's own numbering)")
        self.preview_button = QPushButton("Render preview", self)
        describe(self.preview_button, "Render this frame with the current settings; the shot stays untouched")
        self.preview_button.clicked.connect(lambda: self.preview_requested.emit(self.frame_spin.value()))
        self.info_label = OneLineLabel(self)  # a failure naming a long path must not widen the window
        self.mode_buttons = QButtonGroup(self)
        buttons = []
        for mode, text, tip in ((SPLIT, "Split", "Source left of the line, stylized right (drag the line)"),
                                (SHOW_A, "A", "Only the source frame"), (SHOW_B, "B", "Only the stylized frame")):
            button = QPushButton(text, self)
            button.setCheckable(True)
            describe(button, tip)
            button.setProperty("mode", mode)
            self.mode_buttons.addButton(button)
            buttons.append(button)
        buttons[0].setChecked(True)
        self.mode_buttons.buttonClicked.connect(lambda b: self.view.set_mode(b.property("mode")))
        self.ab_button = QPushButton("A/B", self)
        describe(self.ab_button, "Flip between the source (A) and the stylized frame (B)")
        self.ab_button.clicked.connect(self.toggle_ab)
        self.zoom_button = QPushButton("1:1", self)
        self.zoom_button.setCheckable(True)
        describe(self.zoom_button, "Show the frames at their real pixel size; drag with the middle button (or "
                 "Shift+drag, or just drag with A or B shown) to look around a larger frame")
        self.zoom_button.toggled.connect(self.view.set_one_to_one)

        self._scrub_timer = QTimer(self)
        self._scrub_timer.setSingleShot(True)
        self._scrub_timer.setInterval(SCRUB_SETTLE_MS)
        self._scrub_timer.timeout.connect(lambda: self.preview_requested.emit(self.frame_spin.value()))
        self.scrub.valueChanged.connect(self._scrubbed)
        self.frame_spin.valueChanged.connect(lambda v: self.scrub.setValue(v) if self.scrub.value() != v else None)

        for button in (*buttons, self.ab_button, self.zoom_button):
            # as wide as their short labels need (not the style's 80 px for text buttons): the scrub bar
            # beside them gets the room
            button.setFixedWidth(max(44, button.fontMetrics().horizontalAdvance(button.text()) + 24))
        self.frame_spin.setMinimumWidth(self.frame_spin.fontMetrics().horizontalAdvance("0000000") + 36)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        # the view modes share the scrub bar's line and the frame controls have their own, so the panel
        # fits beside the form on a small or HiDPI-scaled screen (960 px wide and up)
        scrub_row = hbox_row(self, self.scrub, *buttons, self.ab_button, self.zoom_button)
        scrub_row.layout().setStretch(0, 1)
        self.scrub.setMinimumWidth(64)  # in a narrow window it shrank to a square handle alone, like a check box
        layout.addWidget(scrub_row)
        frame_row = hbox_row(self, QLabel("Frame"), self.frame_spin, self.preview_button)
        frame_row.layout().addStretch(1)
        layout.addWidget(frame_row)
        layout.addWidget(self.info_label)
        # Tab goes as the rows read: scrub bar, view modes, then the frame box and its Render preview
        order = (self.scrub, *buttons, self.ab_button, self.zoom_button, self.frame_spin, self.preview_button)
        for first, second in pairwise(order):
            QWidget.setTabOrder(first, second)

    def set_frame_range(self, first: int, last: int) -> None:
        """The scrub bar spans the source's frames; the frame box is clamped to them."""
        for widget in (self.scrub, self.frame_spin):
            widget.blockSignals(True)
            widget.setRange(first, max(first, last))
        self.scrub.setValue(self.frame_spin.value())
        for widget in (self.scrub, self.frame_spin):
            widget.blockSignals(False)

    def toggle_ab(self) -> None:
        mode = SHOW_B if self.view.mode == SHOW_A else SHOW_A
        self.view.set_mode(mode)
        for button in self.mode_buttons.buttons():
            button.setChecked(button.property("mode") == mode)

    def clear(self, reason: str = "") -> None:
        """Forget the shown frames (the source changed)."""
        self.view.clear()
        self.info_label.setText(reason)

    def _scrubbed(self, value: int) -> None:
        if self.frame_spin.value() != value:
            self.frame_spin.setValue(value)
        if self.preview_button.isEnabled():
            self._scrub_timer.start()

    def set_busy(self, frame: int) -> None:
        self.info_label.setText(f"rendering frame {frame}…")

    def show_result(self, before: QImage, after: QImage, frame: int) -> None:
        self.view.set_images(before, after)
        self.info_label.setText(f"frame {frame}: {after.width()}x{after.height()}")

    def show_failure(self, message: str) -> None:
        self.info_label.setText(f"preview failed: {message}")
        self.info_label.setToolTip(message)
