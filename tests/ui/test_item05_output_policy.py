"""Item 5: per-job output policy. New version (default) never collides with an earlier render,
Resume keeps its frames, Overwrite replaces them after a confirmation; the engine is never sent a
job it would refuse for a folder conflict the panel could see first."""

from __future__ import annotations

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, pngs, set_shot, start_queue
from PySide6.QtGui import QImage

from ui import output_policy as op


def _render_in(folder, stem="908", frames=(1, 2)):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.vtoonify.json").write_text("{}")
    for n in frames:
        (folder / f"{stem}.{n:04d}.png").write_bytes(b"x")


def test_new_version_takes_the_first_free_folder(tmp_path):
    settings = {"source": "/m/908.mp4", "output": str(tmp_path), "format": "png"}
    assert op.resolve(settings, op.VERSION)["output"] == str(tmp_path / "v001")
    _render_in(tmp_path / "v001")
    _render_in(tmp_path / "v002", stem="other")   # another shot's render does not take v002 from 908
    assert op.resolve(settings, op.VERSION)["output"] == str(tmp_path / "v002")
    assert op.resolve(settings, op.VERSION, taken={(str(tmp_path / "v002"), "908")})["output"] == \
        str(tmp_path / "v003")
    assert op.resolve(settings, op.VERSION, taken={(str(tmp_path / "v002"), "651")})["output"] == \
        str(tmp_path / "v002")  # another shot's job does not take the folder
    named = dict(settings, name="hero")
    assert op.resolve(named, op.VERSION)["output"] == str(tmp_path / "v001")
    resumed = op.resolve(settings, op.RESUME)
    assert resumed["output"] == str(tmp_path) and resumed["resume"] and not resumed["overwrite"]
    overwrite = op.resolve(settings, op.OVERWRITE)
    assert overwrite["overwrite"] and not overwrite["resume"]
    assert not op.needs_confirmation(settings, op.OVERWRITE)
    _render_in(tmp_path)
    assert op.needs_confirmation(settings, op.OVERWRITE) and not op.needs_confirmation(settings, op.VERSION)
    assert op.output_pattern(dict(settings, output=str(tmp_path / "v001"))) == str(tmp_path / "v001/908.####.png")


def test_overwrite_asks_first_and_a_no_queues_nothing(make_window, tmp_path, media_dir):
    window = make_window(tmp_path / "none.json")
    _render_in(tmp_path / "out")
    set_shot(window, media_dir / "908.mp4", tmp_path / "out", 1, 2)
    window.source_panel.policy_combo.setCurrentText("Overwrite")
    asked = []
    window.confirm_overwrite = lambda settings: asked.append(settings["output"]) or False
    assert window.add_to_queue() is None and window.queue_model.rowCount() == 0
    assert asked == [str(tmp_path / "out")]
    assert "earlier render was kept" in window.status_log.messages()[0]


@pytest.mark.slow
def test_policies_against_the_real_engine(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    connect(window, qtbot)
    model = window.queue_model
    out = tmp_path / "out"

    def run(scale: float, policy: str) -> object:
        set_shot(window, media_dir / "908.mp4", out, 1, 2)
        window.source_panel.scale_spin.setValue(scale)
        window.source_panel.policy_combo.setCurrentText(op.POLICIES[policy])
        key = window.add_to_queue()
        start_queue(window)
        qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=JOB_TIMEOUT_MS)
        record = model.record(model.row_of_key(key))
        assert record.status == "done", record.error
        return record

    first = run(1.0, op.VERSION)
    assert first.output == str(out / "v001")
    second = run(0.5, op.VERSION)   # other pixels: the engine would refuse v001; the panel picks v002
    assert second.output == str(out / "v002")
    assert QImage(str(out / "v002" / "908.0001.png")).width() * 2 in range(390, 395)
    window.confirm_overwrite = lambda settings: True
    # resume into v001 with other settings: refused in the panel, nothing sent
    set_shot(window, media_dir / "908.mp4", out / "v001", 1, 2)
    window.source_panel.policy_combo.setCurrentText(op.POLICIES[op.RESUME])
    window.source_panel.scale_spin.setValue(0.5)
    rows = model.rowCount()
    assert window.add_to_queue() is None and model.rowCount() == rows
    assert "Resume cannot continue it" in window.status_log.messages()[0]
    assert "the scale (Format row): 1.0 in the render there, 0.5 in this shot" in window.status_log.messages()[0]
    # resume into v001 with its own settings keeps both frames
    window.source_panel.scale_spin.setValue(1.0)
    key = window.add_to_queue()
    start_queue(window)  # the last run drained: the queue is idle until started again
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=JOB_TIMEOUT_MS)
    assert model.record(model.row_of_key(key)).skipped == 2
    # overwrite v001 at half size: replaced after the confirmation
    set_shot(window, media_dir / "908.mp4", out / "v001", 1, 2)
    window.source_panel.scale_spin.setValue(0.5)
    window.source_panel.policy_combo.setCurrentText(op.POLICIES[op.OVERWRITE])
    key = window.add_to_queue()
    start_queue(window)
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=JOB_TIMEOUT_MS)
    assert model.record(model.row_of_key(key)).status == "done", model.record(model.row_of_key(key)).error
    assert QImage(str(out / "v001" / "908.0001.png")).width() == QImage(str(out / "v002" / "908.0001.png")).width()
    assert len(pngs(out)) == 4
