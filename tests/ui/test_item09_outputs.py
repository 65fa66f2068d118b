"""Item 9: the row shows its output pattern, the folder can be revealed or its path copied, and a
system without a file manager is told so in the panel."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

import ui.main_window as main_window
from ui import output_policy
from ui.queue_model import OUTPUT_COLUMN


def _sent_row(window, tmp_path, source="/m/908.mp4"):
    model = window.queue_model
    model.add_job({"source": source, "output": str(tmp_path / "out"), "format": "png"})
    model.mark_sent(0, output_policy.resolve(model.record(0).settings, output_policy.VERSION))
    return model


def test_pattern_on_the_row_then_the_engines(make_window, tmp_path):
    window = make_window(tmp_path / "none.json")
    model = _sent_row(window, tmp_path)
    assert model.data(model.index(0, OUTPUT_COLUMN)) == "v001/908.####.png"
    assert str(tmp_path / "out/v001/908.####.png") in model.data(model.index(0, OUTPUT_COLUMN), 3)  # tooltip
    model.assign_job_id(model.record(0).key, "j1")
    model.apply_event({"event": "job_done", "job": "j1", "result": {"pattern": "/r/v001/908.####.png",
                                                                    "backend": "classic"}})
    assert model.data(model.index(0, OUTPUT_COLUMN)) == "v001/908.####.png"
    window.queue_panel.select_row(0)
    window.queue_panel.copy_button.click()
    assert QGuiApplication.clipboard().text() == "/r/v001/908.####.png"


def test_reveal_opens_the_nearest_existing_folder(make_window, tmp_path, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(main_window, "file_manager_available", lambda: True)
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    window = make_window(tmp_path / "none.json")
    _sent_row(window, tmp_path)          # out/v001 does not exist yet
    window.queue_panel.select_row(0)
    window.queue_panel.open_button.click()
    assert [u.toLocalFile() for u in opened] == [str(tmp_path)]


def test_no_file_manager_is_said_in_the_panel(make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(main_window, "file_manager_available", lambda: False)
    window = make_window(tmp_path / "none.json")
    (tmp_path / "out" / "v001").mkdir(parents=True)
    _sent_row(window, tmp_path)
    assert window.open_output(0) is False
    message = window.status_log.messages()[0]
    assert "no file manager could be opened" in message and str(tmp_path / "out" / "v001") in message
    assert QGuiApplication.clipboard().text() == str(tmp_path / "out" / "v001")
