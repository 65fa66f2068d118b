"""Shots picked several at a time before an output folder was set are not thrown away, and Browse opens
where the last shots were picked. Under X: two clips picked in /work/shared/media with Output blank gave
"Setting not accepted: no output folder picked" and nothing else; the picks were gone, and the next
Browse opened in the panel's working folder, so the artist navigated and picked them all again."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog


def _sources(window):
    return [r.settings["source"] for r in window.queue_model.records()]


def test_several_shots_picked_before_an_output_folder_ask_for_one(make_window, media_dir, tmp_path, monkeypatch):
    window = make_window(tmp_path / "none.json")
    picked = [str(media_dir / n) for n in ("529_2.mp4", "908.mp4")]
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (picked, "")))

    def ask(parent, title, start="", *args, **kwargs):
        asked.append(title)
        return str(tmp_path / "out")

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(ask))
    window.source_panel.browse_button.click()
    assert asked and "2 shots" in asked[0], "the panel asks where the picked shots go"
    assert _sources(window) == picked
    assert window.source_panel.output_edit.text() == str(tmp_path / "out")
    assert all(r.settings["output"] == str(tmp_path / "out") for r in window.queue_model.records())


def test_shots_not_added_when_no_folder_is_picked_say_so(make_window, media_dir, tmp_path, monkeypatch):
    window = make_window(tmp_path / "none.json")
    picked = [str(media_dir / n) for n in ("529_2.mp4", "908.mp4")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (picked, "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    window.source_panel.browse_button.click()
    assert _sources(window) == []
    said = window.status_log.messages()[0]
    assert "2 shots not added" in said and "output folder" in said, said


def test_browse_opens_in_the_folder_the_last_shots_came_from(make_window, media_dir, tmp_path, monkeypatch):
    window = make_window(tmp_path / "none.json")
    window.source_panel.output_edit.setText(str(tmp_path / "out"))
    starts = []

    def pick(parent, title, start="", *args, **kwargs):
        starts.append(start)
        return [str(media_dir / "529_2.mp4"), str(media_dir / "908.mp4")], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(pick))
    window.source_panel.browse_button.click()
    window.source_panel.browse_button.click()
    assert window.source_panel.source_edit.text() == ""  # several shots went to the queue, not the field
    assert starts[1] == str(media_dir)
