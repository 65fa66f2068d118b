"""Item 11: the engine options pipelines need (EXR compression, PNG bit depth, start number, matte
files and classes, scale, output name) and presets saved and loaded."""

from __future__ import annotations

import struct

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, pngs, set_shot, start_queue

from engine.errors import ConfigError
from ui.presets import PresetStore


def _png_bit_depth(path) -> int:
    data = path.read_bytes()[:26]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return data[24]


def test_every_option_reaches_the_settings(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    set_shot(window, media_dir / "908.mp4", tmp_path / "out", fmt="exr")
    assert panel.exr_compression_combo.isEnabled() and not panel.png_bits_combo.isEnabled()
    panel.exr_compression_combo.setCurrentText("dwaa")
    panel.start_number.setValue(1001)
    panel.scale_spin.setValue(0.5)
    panel.name_edit.setText("sh010_toon")
    panel.mattes_check.setChecked(True)
    panel.matte_files_check.setChecked(True)
    panel.matte_classes_edit.setText("skin, hair")
    settings = window.current_settings()
    assert (settings["exr_compression"], settings["start_number"], settings["scale"], settings["name"]) == \
        ("dwaa", 1001, 0.5, "sh010_toon")
    assert (settings["mattes"], settings["matte_files"], settings["matte_classes"]) == (True, True, "skin,hair")
    panel.format_combo.setCurrentText("png")
    panel.png_bits_combo.setCurrentText("16-bit")
    assert not panel.exr_compression_combo.isEnabled() and window.current_settings()["png_bits"] == 16
    panel.matte_classes_edit.setText("skin,beard")
    with pytest.raises(ConfigError, match="unknown matte class beard"):
        window.current_settings()


def test_presets_round_trip_without_shot_fields(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    set_shot(window, media_dir / "908.mp4", tmp_path / "out")
    window.source_panel.png_bits_combo.setCurrentText("16-bit")
    window.source_panel.scale_spin.setValue(2.0)
    window.style_panel.backend_combo.setCurrentText("auto")
    window.style_panel.degree_slider.setValue(80)
    assert window.save_preset("Hero look")
    assert window.preset_combo.currentText() == "Hero look"
    saved = PresetStore(window.presets.folder).load("Hero look")
    assert "source" not in saved and "output" not in saved and saved["png_bits"] == 16
    window.source_panel.png_bits_combo.setCurrentText("8-bit")
    window.source_panel.scale_spin.setValue(1.0)
    window.style_panel.degree_slider.setValue(10)
    assert window.load_preset("Hero look")
    assert window.current_settings()["png_bits"] == 16 and window.current_settings()["scale"] == 2.0
    assert window.current_settings()["degree"] == 0.8
    assert window.source_panel.source_edit.text() == str(media_dir / "908.mp4")   # the shot is untouched
    assert not window.save_preset("../escape")
    assert "preset name" in window.status_log.messages()[0]
    assert not (tmp_path / "escape.json").exists()


@pytest.mark.slow
def test_the_engine_honours_the_options(make_window, running_engine, media_dir, tmp_path, qtbot):
    window = make_window(running_engine)
    connect(window, qtbot)
    set_shot(window, media_dir / "908.mp4", tmp_path / "out")
    panel = window.source_panel
    panel.png_bits_combo.setCurrentText("16-bit")
    panel.start_number.setValue(101)
    panel.wait_for_info()
    panel.set_frame_range(101, 101)
    panel.name_edit.setText("hero")
    panel.scale_spin.setValue(0.5)
    key = window.add_to_queue()
    start_queue(window)
    model = window.queue_model
    qtbot.waitUntil(lambda: model.record(model.row_of_key(key)).finished, timeout=JOB_TIMEOUT_MS)
    assert model.record(model.row_of_key(key)).status == "done", model.record(model.row_of_key(key)).error
    files = pngs(tmp_path / "out")
    assert [p.name for p in files] == ["hero.0101.png"]
    assert _png_bit_depth(files[0]) == 16
    width = struct.unpack(">I", files[0].read_bytes()[16:20])[0]
    assert width == 196  # 392 x 0.5
