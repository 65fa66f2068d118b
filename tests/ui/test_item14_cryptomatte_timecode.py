"""Cryptomatte beside the mattes options (offered only where the engine can write it) and the
source's start timecode among its facts, read as the engine reads and stamps it."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from PySide6.QtWidgets import QApplication

from engine.pipeline.config import RenderConfig


def _mov_with_timecode(path, timecode: str, frames: int = 3) -> None:
    with av.open(str(path), "w") as out:
        out.metadata["timecode"] = timecode
        stream = out.add_stream("mpeg4", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")))
        out.mux(stream.encode())


def test_source_facts_show_the_start_timecode(make_window, media_dir, tmp_path):
    clip = tmp_path / "tc.mov"
    _mov_with_timecode(clip, "01:00:59;28")
    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    panel.set_source(str(clip))
    panel.wait_for_info()
    QApplication.processEvents()
    assert panel.info.timecode["start"] == "01:00:59;28" and panel.info.timecode["drop_frame"]
    assert panel.info_label.text().endswith(" fps · 0.1 s\nTC 01:00:59;28 @ 29.97 (DF)")
    panel.start_number.setValue(1001)  # the timecode labels the first frame, whatever its number
    panel.wait_for_info()
    QApplication.processEvents()
    assert panel.info.timecode["first_frame"] == 1001 and "TC 01:00:59;28" in panel.info_label.text()
    panel.set_source(str(media_dir / "908.mp4"))  # no timecode: none shown, none invented
    panel.wait_for_info()
    QApplication.processEvents()
    assert panel.info.timecode is None and "TC" not in panel.info_label.text()


def test_cryptomatte_is_offered_with_mattes_and_exr_only(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    panel.set_source(str(media_dir / "908.mp4"))
    panel.output_edit.setText(str(tmp_path / "out"))
    check = panel.cryptomatte_check
    check.setChecked(True)
    assert not check.isEnabled() and "Mattes" in check.toolTip()
    panel.mattes_check.setChecked(True)
    panel.format_combo.setCurrentText("png")
    assert not check.isEnabled() and "EXR" in check.toolTip()
    assert window.current_settings()["cryptomatte"] is False  # a greyed choice is never sent
    panel.format_combo.setCurrentText("exr")
    assert check.isEnabled()
    panel.exr_compression_combo.setCurrentText("dwaa")  # lossy: the engine refuses it with Cryptomatte
    assert not check.isEnabled() and "lossless" in check.toolTip()
    assert window.current_settings()["cryptomatte"] is False
    RenderConfig.from_dict(window.current_settings())
    panel.exr_compression_combo.setCurrentText("piz")
    assert check.isEnabled()
    config = RenderConfig.from_dict(window.current_settings())
    assert config.cryptomatte and config.mattes and config.format == "exr"
    assert window.form_values()["cryptomatte"] is True  # presets keep it
    window.save_settings()  # and the next session starts with it
    assert window.settings.load()["shot/cryptomatte"] is True


def test_faces_choice_is_sent_and_greyed_for_crop_output(make_window, media_dir, tmp_path):
    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    panel.set_source(str(media_dir / "908.mp4"))
    panel.output_edit.setText(str(tmp_path / "out"))
    assert window.current_settings()["faces"] == "one"  # the official behaviour by default
    panel.faces_combo.setCurrentIndex(panel.faces_combo.findData("all"))
    assert RenderConfig.from_dict(window.current_settings()).faces == "all"
    panel.output_space_combo.setCurrentText("crop")
    assert not panel.faces_combo.isEnabled() and "plate" in panel.faces_combo.toolTip()
    assert window.current_settings()["faces"] == "one"  # a crop holds one face: never refused for it
    panel.output_space_combo.setCurrentText("plate")
    window.save_settings()
    assert window.settings.load()["shot/faces"] == "all"


def test_a_broken_timecode_is_told_beside_facts_it_does_not_hide(tmp_path):
    from ui.source_info import probe_source

    clip = tmp_path / "bad.mov"
    _mov_with_timecode(clip, "25:61:00:00")
    info = probe_source(str(clip))
    assert info.error is None and info.count == 3 and info.timecode is None
    assert "timecode unreadable" in info.describe() and info.describe().startswith("3 frames (1-3)")
