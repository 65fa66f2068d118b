"""The style section, filled from the engine's capabilities: backend, family, backbone, style id,
degree, colour transfer and a custom exemplar image.

It says which backend will render before anything is queued (``auto`` falls back to the classic
look when the family's VToonify models are missing), and disables the controls that backend
ignores, with a tooltip saying why. Families ``engine train`` has not finished are listed greyed
(they cannot be picked), and a note under the family names the missing file and the command that
writes it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from engine.errors import ConfigError
from engine.service import catalog
from ui.capabilities import Capabilities, NotReadyFamily
from ui.control_tips import describe, set_available
from ui.form_rows import hbox_row
from ui.wording import FIX_PREFIX

BACKENDS, DEVICES = catalog.BACKENDS, catalog.DEVICES
CLASSIC_IGNORES = "the classic backend ignores this (it has no style models); pick VToonify to use it"
TOONIFY_IGNORES = "VToonify-T (toonify backbone) has no exemplars, degree or colour transfer"
NO_EXEMPLARS = "no exemplars are listed for this family (its exstyle_code.npy names none)"
TIPS = {
    "backend": "auto: VToonify when the style's models are installed, else the classic look; vtoonify: the "
               "neural models (refused without them); classic: image processing, needs no model files",
    "device": "Where the engine renders: auto picks a GPU when it has one",
    "family": "Style family: the model folders the connected engine has installed",
    "backbone": "VToonify-D (dualstylegan: exemplar, degree and colour controls) or VToonify-T (toonify)",
    "style_id": "Exemplar index in the family: which reference cartoon the style follows",
    "degree": "Structure degree: 0 keeps the face's shape, 1 gives the full style",
    "color_transfer": "Also take the exemplar's colours, not only its structure (needs a _c model)",
    "exemplar": "A portrait image used as the exemplar instead of the style id (needs an any-exemplar model)",
    "browse": "Pick a custom exemplar image",
}

DEGREE_STEPS = 100
NOT_READY = " (not ready)"
"""After a greyed family name: ``engine train`` has not written its model yet."""


class StylePanel(QGroupBox):
    """``plan_changed(backend, why)`` says which backend the current choices will render with."""

    plan_changed = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Style", parent)
        self.capabilities = Capabilities()
        self.planned = ("classic", "")
        self.toonify_only = False
        """True when the chosen family renders with VToonify-T, which has no exemplar, degree or colours."""
        self.backend_combo = QComboBox(self)
        self.device_combo = QComboBox(self)
        self.family_combo = QComboBox(self)
        self.backbone_combo = QComboBox(self)
        self.style_id_spin = QSpinBox(self)
        self.style_id_spin.setRange(0, 9999)
        self.style_id_spin.setValue(catalog.DEFAULTS["style_id"])
        self.style_id_hint = QLabel("", self)
        self.degree_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.degree_slider.setRange(0, DEGREE_STEPS)
        self.degree_slider.setValue(round(catalog.DEFAULTS["degree"] * DEGREE_STEPS))
        self.degree_label = QLabel("0.50", self)
        self.degree_slider.valueChanged.connect(lambda v: self.degree_label.setText(f"{v / DEGREE_STEPS:.2f}"))
        self.color_transfer_check = QCheckBox("Colour transfer (take the exemplar's colours)", self)
        self.exemplar_edit = QLineEdit(self)
        self.exemplar_edit.setPlaceholderText("optional custom exemplar image")
        self.exemplar_browse = QPushButton("Browse…", self)
        self.exemplar_browse.clicked.connect(self._browse_exemplar)
        self.plan_label = QLabel("", self)
        self.plan_label.setWordWrap(True)
        self.not_ready_label = QLabel("", self)
        self.not_ready_label.setWordWrap(True)
        self.not_ready_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.not_ready_label.setStyleSheet("color: #c08030;")
        self.not_ready_label.setToolTip("Styles whose training has not finished: what is missing and the "
                                        "command that writes it (select the text to copy it)")
        self.not_ready_label.setVisible(False)
        for widget, key in ((self.backend_combo, "backend"), (self.device_combo, "device"),
                            (self.family_combo, "family"), (self.backbone_combo, "backbone"),
                            (self.style_id_spin, "style_id"), (self.degree_slider, "degree"),
                            (self.color_transfer_check, "color_transfer"), (self.exemplar_edit, "exemplar"),
                            (self.exemplar_browse, "browse")):
            describe(widget, TIPS[key])

        form = QFormLayout(self)
        form.addRow("Backend", hbox_row(self, self.backend_combo, QLabel("Device"), self.device_combo))
        form.addRow("Renders with", self.plan_label)
        form.addRow("Style family", self.family_combo)
        form.addRow("", self.not_ready_label)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("Style id", hbox_row(self, self.style_id_spin, self.style_id_hint))
        form.addRow("Degree", hbox_row(self, self.degree_slider, self.degree_label))
        form.addRow("", self.color_transfer_check)
        form.addRow("Exemplar", hbox_row(self, self.exemplar_edit, self.exemplar_browse))
        self.family_combo.currentTextChanged.connect(self._family_changed)
        self.style_id_spin.valueChanged.connect(self._show_style_name)
        self.backend_combo.currentTextChanged.connect(lambda _: self._update_plan())
        self.backbone_combo.currentTextChanged.connect(lambda _: self._update_plan())
        self.set_capabilities(Capabilities())

    def set_capabilities(self, capabilities: Capabilities) -> None:
        """Offer only what the engine has; keep the artist's picks when they are still offered."""
        self.capabilities = capabilities
        _refill(self.backend_combo, tuple(b for b in capabilities.backends if b in BACKENDS))
        _refill(self.device_combo, tuple(d for d in capabilities.devices if d in DEVICES))
        _refill(self.family_combo, capabilities.family_names)
        self._show_not_ready(capabilities.not_ready)
        self._family_changed(self.family_combo.currentText())

    def _show_not_ready(self, families: tuple[NotReadyFamily, ...]) -> None:
        """Half-trained families: a greyed entry each (never picked: the engine would refuse it) with
        the problem and fix as its tooltip, and the same words under the combo box for keyboard users."""
        offered = set(self.capabilities.family_names)
        model = self.family_combo.model()
        for family in families:
            if family.name in offered:
                continue  # its other backbone renders; the note below still tells this one
            offered.add(family.name)
            self.family_combo.addItem(family.name + NOT_READY, family.name)
            index = self.family_combo.count() - 1
            if isinstance(model, QStandardItemModel):
                model.item(index).setEnabled(False)
            self.family_combo.setItemData(index, _problem_and_fix(family), Qt.ItemDataRole.ToolTipRole)
        lines = [_problem_and_fix(f) for f in families]
        self.not_ready_label.setText("\n\n".join(lines))
        self.not_ready_label.setVisible(bool(lines))

    def _update_plan(self) -> None:
        """Say which backend will render, and disable what it ignores (with the reason)."""
        backend, why = self.capabilities.planned_backend(self.backend_combo.currentText() or "auto",
                                                         self.family_combo.currentText() or "cartoon",
                                                         self.backbone_combo.currentText() or "auto")
        self.planned = (backend, why)
        asked = self.backend_combo.currentText() or "auto"
        self.plan_label.setText(f"{backend}" + (" (auto)" if asked == "auto" else "") + f" — {why}")
        classic = backend == "classic"
        family = self.capabilities.family(self.family_combo.currentText())
        toonify_only = (bool(family) and family.backbones == ("toonify",)) or \
            self.backbone_combo.currentText() == "toonify"
        self.toonify_only = toonify_only and not classic
        for widget in (self.family_combo, self.backbone_combo):
            set_available(widget, CLASSIC_IGNORES if classic else "")
        for widget in (self.style_id_spin, self.degree_slider, self.color_transfer_check, self.exemplar_edit,
                       self.exemplar_browse):
            ignored = CLASSIC_IGNORES if classic else TOONIFY_IGNORES if toonify_only else ""
            if not ignored and widget is self.style_id_spin and not self._style_ids_usable():
                ignored = NO_EXEMPLARS
            set_available(widget, ignored)
        self.plan_changed.emit(backend, why)

    def _style_ids_usable(self) -> bool:
        family = self.capabilities.family(self.family_combo.currentText())
        return family is None or bool(family.style_ids)

    def _family_changed(self, name: str) -> None:
        family = self.capabilities.family(name)
        _refill(self.backbone_combo, ("auto", *(b for b in (family.backbones if family else ()) if b != "auto")))
        ids = family.style_ids if family else ()
        if family is None:
            self.style_id_spin.setRange(0, 9999)
        elif ids:
            self.style_id_spin.setRange(min(ids), max(ids))
        self._show_style_name(self.style_id_spin.value())
        self._update_plan()

    def _show_style_name(self, style_id: int) -> None:
        """Name the exemplar the id picks (the engine sends names in index order)."""
        family = self.capabilities.family(self.family_combo.currentText())
        if family is None:
            self.style_id_hint.setText("")
        elif family.style_names and 0 <= style_id < len(family.style_names):
            self.style_id_hint.setText(f"{family.style_names[style_id]} ({len(family.style_names)} exemplars)")
        elif not family.style_ids:
            self.style_id_hint.setText("no exemplars")
        else:
            self.style_id_hint.setText(f"{len(family.style_ids)} exemplars")

    def values(self, check: bool = True) -> dict:
        """RenderConfig fields of this section; with ``check`` an exemplar image that does not exist
        is refused (ConfigError), without it the text is kept as typed (for saving the form)."""
        exemplar = self.exemplar_edit.text().strip()
        if check and exemplar and self.exemplar_edit.isEnabled() and not Path(exemplar).is_file():
            raise ConfigError(f"the exemplar image {exemplar} does not exist",
                              "pick an existing portrait image, or clear the Exemplar field")
        if check and not self.exemplar_edit.isEnabled():
            exemplar = ""
        values = {
            "backend": self.backend_combo.currentText() or "auto",
            "device": self.device_combo.currentText() or "auto",
            "style": self.family_combo.currentText() or "cartoon",
            "backbone": self.backbone_combo.currentText() or "auto",
            "style_id": self.style_id_spin.value(),
            "degree": self.degree_slider.value() / DEGREE_STEPS,
            "color_transfer": self.color_transfer_check.isChecked(),
            "exstyle_image": exemplar or None,
        }
        if check and self.toonify_only:  # greyed out: what a VToonify-D family left there is no request
            values.update({k: catalog.DEFAULTS[k] for k in ("style_id", "degree", "color_transfer")})
        return values

    def set_values(self, values: dict) -> None:
        _select(self.backend_combo, values.get("backend"))
        _select(self.device_combo, values.get("device"))
        _select(self.family_combo, values.get("style"))
        _select(self.backbone_combo, values.get("backbone"))
        if values.get("style_id") is not None:
            self.style_id_spin.setValue(int(values["style_id"]))
        if values.get("degree") is not None:
            self.degree_slider.setValue(round(float(values["degree"]) * DEGREE_STEPS))
        self.color_transfer_check.setChecked(bool(values.get("color_transfer", False)))
        self.exemplar_edit.setText(values.get("exstyle_image") or "")

    def _browse_exemplar(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Exemplar image", self.exemplar_edit.text(),
                                              "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        if path:
            self.exemplar_edit.setText(path)


def _problem_and_fix(family: NotReadyFamily) -> str:
    """The engine's words as they are: its fix is a shell command (``--resume auto``), which the panel's
    usual rewording of command-line options (``ui.wording.plain``) would spoil."""
    return f"{family.problem}\n{FIX_PREFIX}{family.fix}"


def _refill(combo: QComboBox, items: tuple[str, ...]) -> None:
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(list(items))
    combo.blockSignals(False)
    _select(combo, current)


def _select(combo: QComboBox, text) -> None:
    if text is None:
        return
    index = combo.findText(str(text))
    if index >= 0:
        combo.setCurrentIndex(index)

