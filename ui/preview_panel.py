"""Preview section: pick a frame, ask the engine for it, compare before/after with a split."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ui.form_rows import hbox_row
from ui.split_view import SplitCompareView


class PreviewPanel(QGroupBox):
    """``preview_requested(frame)`` goes to the main window, which sends the current settings."""

    preview_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Preview", parent)
        self.view = SplitCompareView(self)
        self.frame_spin = QSpinBox(self)
        self.frame_spin.setRange(0, 9_999_999)
        self.frame_spin.setValue(1)
        self.preview_button = QPushButton("Render preview", self)
        self.preview_button.clicked.connect(lambda: self.preview_requested.emit(self.frame_spin.value()))
        self.info_label = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(hbox_row(self, QLabel("Frame"), self.frame_spin, self.preview_button, self.info_label))

    def set_busy(self, frame: int) -> None:
        self.info_label.setText(f"rendering frame {frame}…")

    def show_result(self, before: QImage, after: QImage, frame: int) -> None:
        self.view.set_images(before, after)
        self.info_label.setText(f"frame {frame}: {after.width()}x{after.height()}")

    def show_failure(self, message: str) -> None:
        self.info_label.setText("preview failed")
        self.info_label.setToolTip(message)
