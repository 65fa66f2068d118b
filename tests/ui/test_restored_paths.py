"""Saved paths coming back at the next start: a folder that is gone is never brought back silently.
An output folder whose parent is gone too (a share not mounted) is left out of the form, so the engine
does not make the whole path again on the local disk; a deleted render folder comes back with a note;
a missing exemplar is named at once, not at the first Add."""

from __future__ import annotations

import shutil

from PySide6.QtCore import QSettings


def _saved(make_window, ini_settings, media_dir, output, exemplar) -> QSettings:
    first = make_window(store=ini_settings)
    first.source_panel.set_source(str(media_dir / "651.mp4"))
    first.source_panel.output_edit.setText(str(output))
    first.style_panel.set_values({"exstyle_image": str(exemplar)})
    first.close()
    return QSettings(ini_settings.fileName(), QSettings.Format.IniFormat)


def test_an_unmounted_output_folder_is_not_restored(make_window, ini_settings, media_dir, tmp_path):
    share = tmp_path / "mnt" / "show"
    output = share / "sh010" / "toon"
    output.mkdir(parents=True)
    exemplar = tmp_path / "look.jpg"
    shutil.copyfile(media_dir / "077436.jpg", exemplar)
    store = _saved(make_window, ini_settings, media_dir, output, exemplar)
    shutil.rmtree(tmp_path / "mnt")   # the share is not mounted today
    exemplar.unlink()

    second = make_window(store=store)
    assert second.source_panel.output_edit.text() == ""
    warnings = [m for m in second.status_log.messages() if m.startswith("Warning:")]
    assert any(str(output) in m and "pick the output folder again" in m for m in warnings), warnings
    assert any(str(exemplar) in m and "pick it again" in m for m in warnings), warnings
    second.style_panel.set_values({"exstyle_image": ""})
    assert second.add_to_queue() is None                       # refused: no output folder picked
    assert "no output folder picked" in second.status_log.messages()[0]
    assert not (tmp_path / "mnt").exists()


def test_a_deleted_render_folder_comes_back_with_a_note(make_window, ini_settings, media_dir, tmp_path):
    output = tmp_path / "sh010" / "toon"
    output.mkdir(parents=True)
    store = _saved(make_window, ini_settings, media_dir, output, "")
    output.rmdir()                     # the artist deleted the renders to start over

    second = make_window(store=store)
    assert second.source_panel.output_edit.text() == str(output)
    assert any(str(output) in m and "made again when a job starts" in m for m in second.status_log.messages())


def test_existing_folders_come_back_without_a_word(make_window, ini_settings, media_dir, tmp_path):
    store = _saved(make_window, ini_settings, media_dir, tmp_path, "")
    second = make_window(store=store)
    assert second.source_panel.output_edit.text() == str(tmp_path)
    assert not [m for m in second.status_log.messages() if m.startswith("Warning:")]


def test_a_preset_naming_a_missing_exemplar_says_so_when_loaded(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    exemplar = tmp_path / "look.jpg"
    shutil.copyfile(media_dir / "077436.jpg", exemplar)
    window.style_panel.set_values({"exstyle_image": str(exemplar)})
    window.style_panel.exemplar_edit.setEnabled(True)  # as with a VToonify-D style of a connected engine
    assert window.save_preset("Hero")
    exemplar.unlink()
    assert window.load_preset("Hero")
    assert any(str(exemplar) in m and "in preset Hero" in m for m in window.status_log.messages()[:2]), \
        window.status_log.messages()[:3]


def _summary(job_id: str, state: str = "done") -> dict:
    """A ``jobs`` listing entry, as the engine sends it (Job.summary)."""
    settings = {"source": f"/m/{job_id}.mp4", "output": "/r", "frames": "1-2"}
    return {"job": job_id, "state": state, "source": settings["source"], "output": "/r", "backend_asked": "classic",
            "backend_used": "classic", "device": "cpu", "progress": {"done": 2, "total": 2}, "settings": settings,
            "warnings": [], "error": None, "created_s": 0.0}


def test_rows_come_back_in_the_panels_order_not_the_engines(make_window, ini_settings, tmp_path):
    """Three jobs sent in order, the third moved up and the first retried (the engine lists a
    retried job last): after a restart the rows followed the engine's order (b, c, a). They now
    come back in the order the panel showed them, before rows added since."""
    first = make_window(tmp_path / "none.json", store=ini_settings)
    model = first.queue_model
    for job_id in ("a", "b", "c"):
        key = model.add_job({"source": f"/m/{job_id}.mp4", "output": "/r", "frames": "1-2"})
        model.mark_sent(model.row_of_key(key), model.record(model.row_of_key(key)).settings)
        model.assign_job_id(key, job_id)
        model.apply_event({"event": "job_done", "job": job_id, "result": {}})
    first.move_row(2, -1)
    assert [r.job_id for r in model.records()] == ["a", "c", "b"]
    first.close()

    idle = make_window(tmp_path / "none.json", store=QSettings(ini_settings.fileName(), QSettings.Format.IniFormat))
    idle.close()  # closed before any engine listed its jobs: the order is kept for the next panel
    second = make_window(tmp_path / "none.json", store=QSettings(ini_settings.fileName(), QSettings.Format.IniFormat))
    second.queue_model.add_job({"source": "/m/new.mp4", "output": "/r", "frames": "1-2"})  # added before the listing
    second.bridge.jobs_listed.emit([_summary("b"), _summary("c"), _summary("other"), _summary("a")])
    assert [r.settings["source"] for r in second.queue_model.records()] == \
        ["/m/a.mp4", "/m/c.mp4", "/m/b.mp4", "/m/new.mp4", "/m/other.mp4"]


def test_an_output_path_that_is_a_file_is_not_restored_as_missing(make_window, ini_settings, media_dir, tmp_path):
    """Under X a clip's path saved as the output folder came back with "is not there now; it is made again
    when a job starts": it was there, a file, and no job can make a folder of it."""
    clip = tmp_path / "529.mp4"
    shutil.copyfile(media_dir / "908.mp4", clip)
    exemplar = tmp_path / "look.jpg"
    shutil.copyfile(media_dir / "077436.jpg", exemplar)
    second = make_window(store=_saved(make_window, ini_settings, media_dir, clip, exemplar))
    assert second.source_panel.output_edit.text() == ""
    said = [m for m in second.status_log.messages() if str(clip) in m]
    assert said and "is a file, not a folder" in said[0] and "made again" not in said[0], said
