"""The shot section: source (Browse, drag-and-drop), its facts, frame range, output and file options."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from engine.errors import ConfigError
from engine.pipeline.config import MAX_FACES_LIMIT
from engine.service import catalog
from ui import output_policy
from ui.control_tips import describe, set_available, show_value
from ui.drop_edit import PathDropEdit
from ui.form_rows import hbox_row
from ui.job_form import frame_range_text
from ui.source_info import SourceInfo, probe_source
from ui.sources import MEDIA_SUFFIXES, SequenceOffer, check_paths, sequence_offer, shots_from_paths, source_for_picks
from ui.thumbnails import ThumbnailLoader

THUMBNAIL_PX = 120
EXR_ONLY = "only EXR output uses a compression: set Format to exr"
PNG_ONLY = "only PNG output has a bit depth choice: set Format to png"
NEEDS_MATTES = "turn Mattes on first"
RANGE_NEEDS_PART = "untick All to render part of the shot"
FACE_LABELS = {"one": "one (the official pick: the last face found)", "all": "all faces in the shot"}
FACES_TIP = ("all: every face of the shot is tracked and stylized with its own crop, style code and mattes "
             "(face01, face02, …)")
FACES_NEED_PLATE = "a crop output holds one face: set space to plate to stylize all faces"
MAX_FACES_DEFAULT = 8
"""The engine's default (RenderConfig.max_faces, ``--max-faces``)."""
MAX_FACES_TIP = ("With all faces: at most this many are stylized, those seen most often in the shot "
                 f"(1 to {MAX_FACES_LIMIT}; each face costs one network's memory)")
FOLLOW_TIP = ("Each face's crop follows it over the shot instead of staying where the face was first seen. "
              "The analysis then runs dlib on every frame (about 1 s of CPU per HD frame, before the first "
              "frame renders)")
MAX_FACES_NEED_ALL = "only used when Faces is 'all faces in the shot'"
CRYPTOMATTE_TIP = ("Also write the mattes as Cryptomatte layers (CryptoFace, objects face/<class>) into the EXR "
                   "frames: pick them by name in Nuke, Fusion, Blender or Houdini")
CRYPTOMATTE_NEEDS_EXR = "Cryptomatte is an EXR feature: set Format to exr"
CRYPTOMATTE_NEEDS_MATTES = "Cryptomatte encodes the mattes: turn Mattes on first"
CRYPTOMATTE_NEEDS_LOSSLESS = "Cryptomatte ids need lossless compression (dwaa rounds them): pick zip or piz"


class _ProbeJob(QRunnable):
    def __init__(self, owner: SourcePanel, source: str, start_number: int) -> None:
        super().__init__()
        self._owner, self._source, self._start = owner, source, start_number

    def run(self) -> None:
        info = probe_source(self._source, self._start)
        try:
            self._owner._prober.ready.emit(info)
        except RuntimeError:
            pass  # the panel was closed while the file was read


class _Prober(QObject):
    ready = Signal(object)  # SourceInfo


class SourcePanel(QGroupBox):
    """Emits ``source_changed`` when the artist settles on a new source, ``info_ready`` once its
    facts are read, ``shots_picked`` when several shots were picked or dropped at once, and
    ``paths_refused`` with one line (what and why) per dropped or picked item it could not use."""

    source_changed = Signal(str)
    info_ready = Signal(object)      # SourceInfo
    shots_picked = Signal(list)      # sources, one per shot
    paths_refused = Signal(list, bool)  # lines (the item, what is wrong, what to do); dropped

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Shot", parent)
        self.info: SourceInfo | None = None
        self.picked_from = ""
        """The folder the last picked or dropped shots came from: Browse opens there when the Source field
        is empty (several shots picked at once go to the queue and leave it empty)."""
        self.source_edit = PathDropEdit(self)
        self.source_edit.setPlaceholderText("video, shot.####.exr or image — or drop files here")
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.clicked.connect(self._browse_source)
        self.thumbnail = QLabel("no source", self)
        self.thumbnail.setFixedSize(THUMBNAIL_PX, THUMBNAIL_PX * 3 // 4)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #202024; color: #888;")
        self.info_label = QLabel("", self)
        self.info_label.setWordWrap(True)

        self.whole_source = QCheckBox("All", self)
        self.whole_source.setChecked(True)
        describe(self.whole_source, "Render every frame of the source; untick to render first to last only")
        self.first_frame = QSpinBox(self)
        self.last_frame = QSpinBox(self)
        for box in (self.first_frame, self.last_frame):
            box.setRange(0, 9_999_999)
            box.setValue(1)
        describe(self.first_frame, "First frame to render (the source's own numbering)")
        describe(self.last_frame, "Last frame to render")
        self.start_number = QSpinBox(self)
        self.start_number.setRange(0, 9_999_999)
        self.start_number.setValue(catalog.DEFAULTS["start_number"])
        describe(self.start_number, "Number of a video's first frame (image sequences keep their own numbers)")
        self.whole_source.toggled.connect(lambda whole: self._enable_range(not whole))
        self._enable_range(False)

        self.output_edit = PathDropEdit(self)
        self.output_edit.setPlaceholderText("output folder")
        describe(self.output_edit, "Folder the frames are written to (made if missing); type, paste or drop a folder")
        self.output_edit.paths_dropped.connect(self._output_dropped)
        self.output_edit.drop_refused.connect(self.paths_refused)
        browse_output = self.browse_output_button = QPushButton("Browse…", self)
        browse_output.clicked.connect(self._browse_output)
        self.policy_combo = QComboBox(self)
        for key, label in output_policy.POLICIES.items():
            self.policy_combo.addItem(label, key)
            self.policy_combo.setItemData(self.policy_combo.count() - 1, output_policy.POLICY_TIPS[key],
                                          Qt.ItemDataRole.ToolTipRole)
        describe(self.policy_combo, "What to do when the output folder already holds a render of this shot")
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("file name (default: the source's)")
        describe(self.name_edit, "Output file stem: name.1001.exr (letters, digits, '.', '_' or '-'); empty: the "
                                 "source's name")
        self.format_combo = QComboBox(self)
        self.format_combo.addItems(list(catalog.FORMATS))
        describe(self.format_combo, "exr: linear half-float with alpha and matte layers; png: sRGB with alpha")
        self.exr_compression_combo = QComboBox(self)
        self.exr_compression_combo.addItems(list(catalog.EXR_COMPRESSIONS))
        describe(self.exr_compression_combo, "EXR compression (zip and piz are lossless, dwaa is lossy and small)")
        self.png_bits_combo = QComboBox(self)
        self.png_bits_combo.addItems([f"{b}-bit" for b in catalog.PNG_BITS])
        describe(self.png_bits_combo, "PNG bit depth")
        self.format_combo.currentTextChanged.connect(self._format_changed)
        self.exr_compression_combo.currentTextChanged.connect(lambda _: self._cryptomatte_usable())
        self.output_space_combo = QComboBox(self)
        self.output_space_combo.addItems(list(catalog.OUTPUT_SPACES))
        describe(self.output_space_combo, "plate: the stylized face placed back over the full frame; "
                                           "crop: the stylized face crop only")
        self.faces_combo = QComboBox(self)
        for mode in catalog.FACE_MODES:
            self.faces_combo.addItem(FACE_LABELS.get(mode, mode), mode)
        self.max_faces_spin = QSpinBox(self)
        self.max_faces_spin.setRange(1, MAX_FACES_LIMIT)
        self.max_faces_spin.setValue(MAX_FACES_DEFAULT)
        describe(self.faces_combo, FACES_TIP)
        self.follow_faces_check = QCheckBox("Crops follow the faces (slower analysis)", self)
        describe(self.follow_faces_check, FOLLOW_TIP)
        describe(self.max_faces_spin, MAX_FACES_TIP)
        self.output_space_combo.currentTextChanged.connect(self._space_changed)
        self.faces_combo.currentIndexChanged.connect(lambda _: self._space_changed(
            self.output_space_combo.currentText()))
        self.scale_spin = QDoubleSpinBox(self)
        self.scale_spin.setRange(*catalog.SCALE_RANGE)
        self.scale_spin.setSingleStep(0.25)
        self.scale_spin.setValue(catalog.DEFAULTS["scale"])
        describe(self.scale_spin, "Output resolution multiplier")
        self.mattes_check = QCheckBox("Mattes", self)
        describe(self.mattes_check, "Also write face-parsing mattes (skin, hair, ...): EXR layers, or PNG files")
        self.matte_files_check = QCheckBox("as files", self)
        describe(self.matte_files_check, "Also write each matte as its own grey sequence (for hosts that "
                                          "cannot read EXR layers)")
        self.cryptomatte_check = QCheckBox("Cryptomatte", self)
        describe(self.cryptomatte_check, CRYPTOMATTE_TIP)
        self.matte_classes_edit = QLineEdit(self)
        self.matte_classes_edit.setPlaceholderText("all classes, or skin,hair")
        describe(self.matte_classes_edit, "Matte classes, comma separated (empty: all): "
                 + ", ".join(catalog.MATTE_CLASSES))
        self.mattes_check.toggled.connect(self._mattes_changed)
        self._mattes_changed(False)
        self._format_changed(self.format_combo.currentText())
        self._space_changed(self.output_space_combo.currentText())

        form = QFormLayout(self)
        form.addRow("Source", hbox_row(self, self.source_edit, self.browse_button))
        form.addRow(hbox_row(self, self.thumbnail, self.info_label))
        form.addRow("Frames", hbox_row(self, self.whole_source, QLabel("first"), self.first_frame,
                                       QLabel("last"), self.last_frame, QLabel("start #"), self.start_number))
        form.addRow("Output", hbox_row(self, self.output_edit, browse_output))
        form.addRow("If it exists", hbox_row(self, self.policy_combo, self.name_edit))
        form.addRow("Format", hbox_row(self, self.format_combo, self.exr_compression_combo, self.png_bits_combo,
                                       QLabel("space"), self.output_space_combo, QLabel("scale"), self.scale_spin))
        form.addRow("Faces", hbox_row(self, self.faces_combo, QLabel("at most"), self.max_faces_spin))
        form.addRow("", self.follow_faces_check)
        form.addRow("Mattes", hbox_row(self, self.mattes_check, self.matte_files_check, self.cryptomatte_check,
                                       self.matte_classes_edit))
        # Tab follows the rows as drawn: scale (made after the face controls) right after space
        QWidget.setTabOrder(self.output_space_combo, self.scale_spin)

        self._thumbnail_source = ""
        self._loader = ThumbnailLoader(THUMBNAIL_PX * 2, self)
        self._loader.ready.connect(self._show_thumbnail)
        self._prober = _Prober(self)
        self._prober.ready.connect(self._show_info)
        self._probe_pool = QThreadPool(self)
        self._probe_pool.setMaxThreadCount(1)
        self.source_edit.editingFinished.connect(lambda: self.set_source(self.source_edit.text()))
        self.source_edit.paths_dropped.connect(self.pick)
        self.source_edit.drop_refused.connect(self.paths_refused)
        for edit in (self.source_edit, self.output_edit):  # a long path shows its end: the tooltip has it whole
            edit.textChanged.connect(lambda text, edit=edit: show_value(edit, text.strip()))
        self.start_number.valueChanged.connect(lambda _: self._probe(self.source_edit.text().strip()))

    # --- values -------------------------------------------------------------------------------
    def values(self) -> dict:
        """RenderConfig fields of this section (raises ConfigError for a bad range or matte class)."""
        classes = [c.strip() for c in self.matte_classes_edit.text().split(",") if c.strip()]
        faces = str(self.faces_combo.currentData()) if self.faces_combo.isEnabled() else "one"
        unknown = [c for c in classes if c not in catalog.MATTE_CLASSES]
        if unknown and self.mattes_check.isChecked():
            raise ConfigError(f"unknown matte class {', '.join(unknown)}",
                              f"use names from: {', '.join(catalog.MATTE_CLASSES)}")
        return {
            "source": self.source_edit.text().strip(),
            "output": self.output_edit.text().strip(),
            "frames": frame_range_text(self.first_frame.value(), self.last_frame.value(),
                                       self.whole_source.isChecked()),
            "start_number": self.start_number.value(),
            "format": self.format_combo.currentText(),
            "exr_compression": self.exr_compression_combo.currentText(),
            "png_bits": catalog.PNG_BITS[self.png_bits_combo.currentIndex()],
            "mattes": self.mattes_check.isChecked(),
            "matte_files": self.mattes_check.isChecked() and self.matte_files_check.isChecked(),
            "matte_classes": ",".join(classes) if classes and self.mattes_check.isChecked() else None,
            "cryptomatte": self.cryptomatte_check.isEnabled() and self.cryptomatte_check.isChecked(),
            "output_space": self.output_space_combo.currentText(),
            "faces": faces,
            "max_faces": self.max_faces_spin.value() if faces == "all" else MAX_FACES_DEFAULT,
            "follow_faces": self.follow_faces_check.isChecked(),
            "scale": round(self.scale_spin.value(), 4),
            "name": self.name_edit.text().strip() or None,
        }

    @property
    def policy(self) -> str:
        return str(self.policy_combo.currentData())

    def set_values(self, values: dict) -> None:
        """Restore saved choices (the source itself is restored by ``set_source``)."""
        if "output" in values:
            self.output_edit.setText(str(values.get("output") or ""))
        for combo, key in ((self.format_combo, "format"), (self.output_space_combo, "output_space"),
                           (self.exr_compression_combo, "exr_compression")):
            index = combo.findText(str(values.get(key) or ""))
            if index >= 0:
                combo.setCurrentIndex(index)
        if values.get("png_bits") in catalog.PNG_BITS:
            self.png_bits_combo.setCurrentIndex(catalog.PNG_BITS.index(values["png_bits"]))
        if values.get("policy") in output_policy.POLICIES:
            self.policy_combo.setCurrentIndex(list(output_policy.POLICIES).index(values["policy"]))
        faces = self.faces_combo.findData(values.get("faces"))
        if faces >= 0:
            self.faces_combo.setCurrentIndex(faces)
        if values.get("max_faces") is not None:
            self.max_faces_spin.setValue(int(values["max_faces"]))
        self.follow_faces_check.setChecked(bool(values.get("follow_faces", self.follow_faces_check.isChecked())))
        if values.get("start_number") is not None:
            self.start_number.setValue(int(values["start_number"]))
        if values.get("scale") is not None:
            self.scale_spin.setValue(float(values["scale"]))
        if "name" in values:
            self.name_edit.setText(str(values.get("name") or ""))
        self.mattes_check.setChecked(bool(values.get("mattes", self.mattes_check.isChecked())))
        self.matte_files_check.setChecked(bool(values.get("matte_files", self.matte_files_check.isChecked())))
        self.cryptomatte_check.setChecked(bool(values.get("cryptomatte", self.cryptomatte_check.isChecked())))
        if "matte_classes" in values:
            self.matte_classes_edit.setText(str(values.get("matte_classes") or ""))

    def set_source(self, source: str) -> None:
        """Take ``source`` exactly as given; its facts and thumbnail follow in the background."""
        source = source.strip()
        if self.source_edit.text() != source:
            self.source_edit.setText(source)
        if source and source != self._thumbnail_source:
            self._thumbnail_source = source
            self.info = None
            self.info_label.setText("reading…")
            for box in (self.first_frame, self.last_frame):
                box.setRange(0, 9_999_999)  # the new clip's range arrives with its facts
            self.whole_source.setChecked(True)
            self._loader.load(source)
            self._probe(source)
            self.source_changed.emit(source)
        elif not source and self._thumbnail_source:  # emptied: the last clip's picture and facts go too
            self._thumbnail_source = ""
            self.info = None
            self.info_label.setText("")
            self.info_label.setStyleSheet("")
            self.thumbnail.setPixmap(QPixmap())
            self.thumbnail.setText("no source")
            self.source_changed.emit("")

    def pick(self, paths: list[str]) -> None:
        """Paths from Browse or a drop onto the Source field: one file is that file (a still that is
        a frame of a sequence is offered as the sequence, if the artist confirms); several frames of
        one sequence are that sequence; several shots go to the queue, one row each. What cannot be
        a shot (a text file, a missing or unreadable one, a folder without media) is named in
        ``paths_refused``; the rest is still taken."""
        check = check_paths(paths)
        if check.refused:
            self.paths_refused.emit(check.refused, True)
        paths = check.usable
        if not paths:
            return
        first = Path(paths[0])
        self.picked_from = str(first if first.is_dir() else first.parent)
        if len(paths) == 1 and not Path(paths[0]).is_dir():
            offer = sequence_offer(paths[0])
            self.set_source(offer.pattern if offer and self.confirm_sequence(offer) else paths[0])
            return
        single = source_for_picks(paths) if not any(Path(p).is_dir() for p in paths) else None
        if single is not None:
            self.set_source(single)
            return
        shots = shots_from_paths(paths)
        if len(shots) == 1:
            self.set_source(shots[0])
        elif shots:
            self.shots_picked.emit(shots)

    def confirm_sequence(self, offer: SequenceOffer) -> bool:
        """Ask whether a picked still means its whole sequence (tests replace this)."""
        answer = QMessageBox.question(
            self, "Image sequence?",
            f"{Path(offer.picked).name} is one of {offer.frames} numbered frames "
            f"({Path(offer.pattern).name}).\n\nUse the whole sequence?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def set_frame_range(self, first: int, last: int) -> None:
        """A sub-range, clamped to the source's frames once they are known."""
        self.whole_source.setChecked(False)
        self.first_frame.setValue(first)
        self.last_frame.setValue(last)

    def thumbnail_pixmap(self) -> QPixmap:
        return self.thumbnail.pixmap()

    def wait_for_thumbnail(self, timeout_ms: int = 10000) -> bool:
        return self._loader.wait(timeout_ms)

    def wait_for_info(self, timeout_ms: int = 10000) -> bool:
        return self._probe_pool.waitForDone(timeout_ms)

    # --- slots --------------------------------------------------------------------------------
    def _probe(self, source: str) -> None:
        if source:
            self._probe_pool.start(_ProbeJob(self, source, self.start_number.value()))

    def _show_info(self, info: SourceInfo) -> None:
        if info.source != self.source_edit.text().strip():
            return  # an older pick finished late
        self.info = info
        self.info_label.setText(info.describe())
        self.info_label.setStyleSheet("color: #d05050;" if info.error else "")
        if not info.error:
            keep_range = not self.whole_source.isChecked()
            first, last = self.first_frame.value(), self.last_frame.value()
            for box in (self.first_frame, self.last_frame):
                box.setRange(info.first, info.last)
            if keep_range:  # an explicit range is clamped to the clip
                self.first_frame.setValue(min(max(first, info.first), info.last))
                self.last_frame.setValue(min(max(last, info.first), info.last))
            else:           # the whole clip by default
                self.first_frame.setValue(info.first)
                self.last_frame.setValue(info.last)
        self.info_ready.emit(info)

    def _show_thumbnail(self, source: str, image: QImage) -> None:
        if source != self.source_edit.text().strip():
            return
        if image.isNull():
            self.thumbnail.setPixmap(QPixmap())
            self.thumbnail.setText("no thumbnail")
            return
        self.thumbnail.setPixmap(QPixmap.fromImage(image).scaled(
            self.thumbnail.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def _enable_range(self, enabled: bool) -> None:
        set_available(self.first_frame, "" if enabled else RANGE_NEEDS_PART)
        set_available(self.last_frame, "" if enabled else RANGE_NEEDS_PART)

    def _format_changed(self, fmt: str) -> None:
        exr = fmt == "exr"
        set_available(self.exr_compression_combo, "" if exr else EXR_ONLY)
        set_available(self.png_bits_combo, PNG_ONLY if exr else "")
        self._cryptomatte_usable()

    def _space_changed(self, space: str) -> None:
        plate = space == "plate"
        set_available(self.faces_combo, "" if plate else FACES_NEED_PLATE)
        every = self.faces_combo.currentData() == "all"
        set_available(self.max_faces_spin, FACES_NEED_PLATE if not plate else "" if every else MAX_FACES_NEED_ALL)

    def _mattes_changed(self, on: bool) -> None:
        set_available(self.matte_files_check, "" if on else NEEDS_MATTES)
        set_available(self.matte_classes_edit, "" if on else NEEDS_MATTES)
        self._cryptomatte_usable()

    def _cryptomatte_usable(self) -> None:
        """Cryptomatte encodes the mattes into the EXR frames: offered with mattes on and EXR output with
        lossless compression, greyed otherwise with the reason in its tooltip."""
        mattes = self.mattes_check.isChecked()
        exr = self.format_combo.currentText() == "exr"
        lossy = self.exr_compression_combo.currentText() == "dwaa"
        set_available(self.cryptomatte_check,
                      CRYPTOMATTE_NEEDS_MATTES if not mattes else CRYPTOMATTE_NEEDS_EXR if not exr
                      else CRYPTOMATTE_NEEDS_LOSSLESS if lossy else "")

    def _browse_source(self) -> None:
        patterns = " ".join(f"*{s}" for s in MEDIA_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Pick videos, images, or frames of a sequence", self.source_edit.text().strip() or self.picked_from,
            f"Media ({patterns});;All files (*)")
        self.pick(list(paths))

    def _output_dropped(self, paths: list[str]) -> None:
        """A dropped folder is the output folder; a dropped file means the folder it is in."""
        path = Path(paths[0])
        self.output_edit.setText(str(path if path.is_dir() or not path.exists() else path.parent))

    def _browse_output(self) -> None:
        self.ask_output_folder("Output folder")

    def ask_output_folder(self, title: str) -> str:
        """The folder dialog for Output; the folder picked is put in the field and returned ('' when the
        artist cancelled)."""
        source = self.source_edit.text().strip()
        start = self.output_edit.text().strip() or (str(Path(source).parent) if source else self.picked_from)
        path = QFileDialog.getExistingDirectory(self, title, start)
        if path:
            self.output_edit.setText(path)
        return path
