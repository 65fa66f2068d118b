"""The shot section: source, frame range, thumbnail, output folder and output options."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from engine.pipeline.config import FORMATS, OUTPUT_SPACES
from ui.form_rows import hbox_row
from ui.job_form import frame_range_text
from ui.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, sequence_pattern_for
from ui.thumbnails import ThumbnailLoader

THUMBNAIL_PX = 160


class SourcePanel(QGroupBox):
    """Emits ``source_changed`` when the artist settles on a new source."""

    source_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Shot", parent)
        self.source_edit = QLineEdit(self)
        self.source_edit.setPlaceholderText("video, shot.####.png or image")
        browse_source = QPushButton("Browse…", self)
        browse_source.clicked.connect(self._browse_source)
        self.thumbnail = QLabel("no source", self)
        self.thumbnail.setFixedSize(THUMBNAIL_PX, THUMBNAIL_PX * 3 // 4)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #202024; color: #888;")

        self.whole_source = QCheckBox("All frames", self)
        self.first_frame = QSpinBox(self)
        self.last_frame = QSpinBox(self)
        for box in (self.first_frame, self.last_frame):
            box.setRange(0, 9_999_999)
            box.setValue(1)
        self.whole_source.toggled.connect(lambda whole: self._enable_range(not whole))

        self.output_edit = QLineEdit(self)
        self.output_edit.setPlaceholderText("output folder")
        browse_output = QPushButton("Browse…", self)
        browse_output.clicked.connect(self._browse_output)
        self.format_combo = QComboBox(self)
        self.format_combo.addItems(list(FORMATS))
        self.mattes_check = QCheckBox("Write mattes", self)
        self.output_space_combo = QComboBox(self)
        self.output_space_combo.addItems(list(OUTPUT_SPACES))

        form = QFormLayout(self)
        form.addRow("Source", hbox_row(self, self.source_edit, browse_source))
        form.addRow("", self.thumbnail)
        form.addRow("Frames", hbox_row(self, self.whole_source, QLabel("first"), self.first_frame,
                                   QLabel("last"), self.last_frame))
        form.addRow("Output", hbox_row(self, self.output_edit, browse_output))
        form.addRow("Format", hbox_row(self, self.format_combo, self.mattes_check))
        form.addRow("Output space", self.output_space_combo)

        self._thumbnail_source = ""
        self._loader = ThumbnailLoader(THUMBNAIL_PX, self)
        self._loader.ready.connect(self._show_thumbnail)
        self.source_edit.editingFinished.connect(lambda: self.set_source(self.source_edit.text()))

    # --- values -------------------------------------------------------------------------------
    def values(self) -> dict:
        """RenderConfig fields of this section (raises ConfigError for a backwards range)."""
        return {
            "source": self.source_edit.text().strip(),
            "output": self.output_edit.text().strip(),
            "frames": frame_range_text(self.first_frame.value(), self.last_frame.value(),
                                       self.whole_source.isChecked()),
            "format": self.format_combo.currentText(),
            "mattes": self.mattes_check.isChecked(),
            "output_space": self.output_space_combo.currentText(),
        }

    def set_values(self, values: dict) -> None:
        """Restore saved choices (the source itself is restored by ``set_source``)."""
        self.output_edit.setText(str(values.get("output") or ""))
        for combo, key in ((self.format_combo, "format"), (self.output_space_combo, "output_space")):
            index = combo.findText(str(values.get(key) or ""))
            if index >= 0:
                combo.setCurrentIndex(index)
        self.mattes_check.setChecked(bool(values.get("mattes", False)))

    def set_source(self, source: str) -> None:
        source = source.strip()
        if self.source_edit.text() != source:
            self.source_edit.setText(source)
        if source and source != self._thumbnail_source:
            self._thumbnail_source = source
            self._loader.load(source)
            self.source_changed.emit(source)

    def set_frame_range(self, first: int, last: int) -> None:
        self.whole_source.setChecked(False)
        self.first_frame.setValue(first)
        self.last_frame.setValue(last)

    def thumbnail_pixmap(self) -> QPixmap:
        return self.thumbnail.pixmap()

    def wait_for_thumbnail(self, timeout_ms: int = 10000) -> bool:
        return self._loader.wait(timeout_ms)

    # --- slots --------------------------------------------------------------------------------
    def _show_thumbnail(self, source: str, image: QImage) -> None:
        if source != self.source_edit.text().strip():
            return  # an older pick finished late
        if image.isNull():
            self.thumbnail.setPixmap(QPixmap())
            self.thumbnail.setText("no thumbnail")
            return
        self.thumbnail.setPixmap(QPixmap.fromImage(image).scaled(
            self.thumbnail.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def _enable_range(self, enabled: bool) -> None:
        self.first_frame.setEnabled(enabled)
        self.last_frame.setEnabled(enabled)

    def _browse_source(self) -> None:
        patterns = " ".join(f"*{s}" for s in VIDEO_SUFFIXES + IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Pick a video, a frame of a sequence, or an image",
                                              self.source_edit.text(), f"Media ({patterns});;All files (*)")
        if path:
            self.set_source(sequence_pattern_for(path))

    def _browse_output(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder", self.output_edit.text())
        if path:
            self.output_edit.setText(path)

