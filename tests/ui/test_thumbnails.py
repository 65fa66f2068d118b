"""Thumbnails follow the engine's stream rule: a clip's cover art (attached picture) is not its picture."""

from __future__ import annotations

import numpy as np
from cover_art import with_cover

from ui.thumbnails import read_first_frame


def test_a_clip_whose_first_video_stream_is_cover_art_shows_its_first_video_frame(tmp_path):
    # Before: decode(video=0) showed the cover (250) as the clip's thumbnail.
    clip = with_cover(tmp_path / "clip.mp4", [np.full((16, 16, 3), v, np.uint8) for v in (30, 120, 200)])
    image = read_first_frame(str(clip), 256)
    assert (image.width(), image.height()) == (16, 16)
    assert abs(image.pixelColor(8, 8).red() - 30) <= 12  # the video's frame 1, not the cover


def test_an_audio_file_with_only_cover_art_shows_no_thumbnail(tmp_path):
    assert read_first_frame(str(with_cover(tmp_path / "song.mp4")), 256).isNull()  # the engine refuses it too


def test_clearing_the_source_clears_its_picture_and_facts(make_window, media_dir, tmp_path):
    """Under X, the Source field emptied (Ctrl+L, Backspace, Tab) still showed the last clip's picture and
    "39 frames (1-39) · 392x360 · 15 fps" beside an empty field."""
    from PySide6.QtWidgets import QApplication

    window = make_window(tmp_path / "none.json")
    panel = window.source_panel
    panel.set_source(str(media_dir / "908.mp4"))
    assert panel.wait_for_info() and panel.wait_for_thumbnail()
    QApplication.processEvents()
    assert not panel.thumbnail_pixmap().isNull() and "39 frames" in panel.info_label.text()
    panel.source_edit.setText("")
    panel.source_edit.editingFinished.emit()
    assert panel.thumbnail_pixmap().isNull() and panel.thumbnail.text() == "no source"
    assert panel.info is None and panel.info_label.text() == ""
    panel.set_source(str(media_dir / "908.mp4"))  # the same clip again: read again, shown again
    assert panel.wait_for_info() and panel.wait_for_thumbnail()
    QApplication.processEvents()
    assert not panel.thumbnail_pixmap().isNull() and "39 frames" in panel.info_label.text()
