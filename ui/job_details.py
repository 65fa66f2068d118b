"""The details of one queue row: what was asked, what rendered, every warning, where the files are."""

from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from ui.job_records import JobRecord
from ui.wording import CONTROLS, setting_label

COPY_JSON = "Copy settings as JSON"


def settings_json(settings: dict) -> str:
    """The settings as the engine takes them (``submit`` fields), for a TD to paste into a script or a farm job."""
    return json.dumps(settings, indent=1, sort_keys=True)


def value_words(value: object) -> str:
    """A setting's value as the form shows it: on/off, a number, a list, or 'default' where unset."""
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_words(v) for v in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def settings_rows(settings: dict) -> list[tuple[str, str]]:
    """(label, value) per setting: the form's controls in the form's order, then the engine's other settings."""
    order = [f for f in CONTROLS if f in settings] + sorted(f for f in settings if f not in CONTROLS)
    return [(setting_label(f), value_words(settings[f])) for f in order]


def details_html(record: JobRecord) -> str:
    """The row as an HTML page (plain data; every value escaped)."""
    settings = record.effective
    asked = settings.get("backend", "auto")
    used = record.backend or (f"none: {record.status} before start" if record.finished and not record.started
                              else f"{record.planned_backend} (planned)" if record.planned_backend
                              else "not yet known")
    rows = [("Shot", record.shot), ("Source", settings.get("source", "")), ("Status", record.status),
            ("Frames", settings.get("frames") or "all"), ("Progress", f"{record.frames_done}/{record.frames_total}"),
            ("Backend asked", asked), ("Backend used", used), ("Output", record.pattern or record.output),
            ("Output policy", record.policy), ("Engine job", record.job_id or "not sent yet"),
            ("Sent by", "this panel" if record.mine else "another client")]
    if record.skipped:
        rows.append(("Frames kept from before", str(record.skipped)))
    parts = ["<table>"] + [f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
                           for k, v in rows] + ["</table>"]
    if record.error:
        parts.append(f"<h4 style='color:#d04040'>Problem</h4><p>{html.escape(record.error)}</p>")
        if record.fix:
            parts.append(f"<h4>Fix</h4><p>{html.escape(record.fix)}</p>")
    if record.warnings:
        parts.append("<h4 style='color:#d08020'>Warnings</h4><ul>"
                     + "".join(f"<li>{html.escape(w)}</li>" for w in record.warnings) + "</ul>")
    parts.append(f"<h4>Settings</h4><p>As sent to the engine ({COPY_JSON} below gives them to a script).</p><table>")
    parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in settings_rows(settings)]
    parts.append("</table>")
    return "".join(parts)


class JobDetailsDialog(QDialog):
    def __init__(self, record: JobRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Job details — {record.shot}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per look; closed ones do not pile up
        self.browser = QTextBrowser(self)
        self.browser.setHtml(details_html(record))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        self.copy_button = buttons.addButton(COPY_JSON, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setToolTip("The settings as the engine's submit fields, on the clipboard")
        self.copy_button.setAutoDefault(False)  # Enter and Escape still close the dialog
        settings = dict(record.effective)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(settings_json(settings)))
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(560, 480)
