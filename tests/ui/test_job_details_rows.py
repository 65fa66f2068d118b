"""The job details showed the settings as a raw JSON dump; an artist reads them as label/value rows named
as the panel's controls, and a TD copies the JSON with a button."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QApplication, QPushButton

from ui.job_details import JobDetailsDialog, details_html
from ui.job_records import JobRecord

SETTINGS = {
    "source": "/m/529.mp4",
    "output": "/r",
    "frames": "1-8",
    "backend": "classic",
    "scale": 0.5,
    "color_transfer": False,
    "follow_faces": True,
    "exstyle_image": None,
    "batch": 0,
    "compile": "off",
}


def _record() -> JobRecord:
    return JobRecord(key=1, settings=dict(SETTINGS))


def test_job_details_show_settings_as_the_panels_controls_not_json(qtbot):
    page = details_html(_record())
    assert '"backend"' not in page and "{" not in page  # no JSON dump
    assert "Colour transfer" in page and "Crops follow the faces" in page and "Scale (Format row)" in page
    assert "<td>off</td>" in page and "<td>on</td>" in page and "<td>0.5</td>" in page
    assert "batch (engine setting)" in page  # no control for it: the engine's name, said so


def test_copy_settings_as_json_puts_the_raw_settings_on_the_clipboard(qtbot):
    dialog = JobDetailsDialog(_record())
    qtbot.addWidget(dialog)
    button = next(b for b in dialog.findChildren(QPushButton) if b.text().replace("&", "") == "Copy settings as JSON")
    button.click()
    assert json.loads(QApplication.clipboard().text()) == SETTINGS
