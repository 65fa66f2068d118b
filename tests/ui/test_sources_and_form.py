"""Item 1 (no engine): a picked file is that file; sequences only on purpose. Job settings checks."""

from __future__ import annotations

import os
import shutil

import pytest

from engine.errors import ConfigError
from engine.pipeline.config import RenderConfig
from ui.job_form import build_job_settings, frame_range_text, preview_settings
from ui.sources import (
    first_frame_file,
    is_sequence_pattern,
    is_video,
    sequence_offer,
    shots_from_paths,
    source_for_picks,
)


@pytest.fixture
def plates(tmp_path, media_dir):
    """908.mp4 beside 907.mp4/909.mp4, sh010_plate_v001.mov beside v002, a 3-frame sequence, photos."""
    for name in ("907.mp4", "908.mp4", "909.mp4", "sh010_plate_v001.mov", "sh010_plate_v002.mov"):
        shutil.copyfile(media_dir / "908.mp4", tmp_path / name)
    for n in (1001, 1002, 1003):
        shutil.copyfile(media_dir / "077436.jpg", tmp_path / f"sh020.{n}.jpg")
    for name in ("077436.jpg", "077559.jpg"):
        shutil.copyfile(media_dir / name, tmp_path / name)
    return tmp_path


def test_videos_and_photos_are_never_sequences(plates):
    for name in ("908.mp4", "sh010_plate_v001.mov", "077436.jpg"):
        assert sequence_offer(str(plates / name)) is None, name
        assert source_for_picks([str(plates / name)]) == str(plates / name)


def test_a_frame_of_a_sequence_is_offered_as_the_sequence(plates):
    offer = sequence_offer(str(plates / "sh020.1002.jpg"))
    assert offer.pattern == str(plates / "sh020.####.jpg") and offer.frames == 3
    several = [str(plates / "sh020.1001.jpg"), str(plates / "sh020.1003.jpg")]
    assert source_for_picks(several) == str(plates / "sh020.####.jpg")
    assert source_for_picks([str(plates / "907.mp4"), str(plates / "908.mp4")]) is None


def test_dropped_files_and_folders_are_one_shot_each(plates):
    picked = [str(plates / "908.mp4"), str(plates / "sh010_plate_v001.mov"), str(plates / "sh020.1001.jpg"),
              str(plates / "sh020.1002.jpg")]
    assert shots_from_paths(picked) == [str(plates / "908.mp4"), str(plates / "sh010_plate_v001.mov"),
                                        str(plates / "sh020.####.jpg")]
    folder = shots_from_paths([str(plates)])
    assert folder == [str(plates / n) for n in ("077436.jpg", "077559.jpg", "907.mp4", "908.mp4", "909.mp4",
                                                "sh010_plate_v001.mov", "sh010_plate_v002.mov")] + \
        [str(plates / "sh020.####.jpg")]
    assert shots_from_paths([str(plates / "notes.txt")]) == []


def test_first_frame_of_a_sequence_is_the_lowest_number(tmp_path):
    for n in (1003, 1001, 1002):
        (tmp_path / f"sh010.{n}.png").write_bytes(b"x")
    (tmp_path / "other.1000.png").write_bytes(b"x")
    assert first_frame_file(str(tmp_path / "sh010.####.png")) == tmp_path / "sh010.1001.png"
    assert first_frame_file(str(tmp_path / "sh010.%04d.png")) == tmp_path / "sh010.1001.png"
    assert first_frame_file(str(tmp_path / "missing.####.png")) is None


def test_source_kinds(media_dir):
    video = str(media_dir / "529_2.mp4")
    assert is_video(video) and not is_sequence_pattern(video)
    assert first_frame_file(video) == media_dir / "529_2.mp4"
    assert is_sequence_pattern("a.%04d.exr") and not is_video("a.%04d.exr")


def test_frame_range_text():
    assert frame_range_text(1, 3, False) == "1-3"
    assert frame_range_text(5, 5, False) == "5"
    assert frame_range_text(1, 3, True) is None
    with pytest.raises(ConfigError):
        frame_range_text(4, 3, False)


def test_settings_are_render_config_fields():
    shot = {"source": "/m/a.mp4", "output": "/r/a", "frames": "1-3", "format": "png", "mattes": True,
            "output_space": "crop", "png_bits": 16, "start_number": 101, "scale": 0.5, "name": "hero",
            "matte_files": True, "matte_classes": "skin,hair", "exr_compression": "dwaa"}
    style = {"backend": "classic", "style": "arcane", "style_id": 3, "degree": 0.25,
             "color_transfer": True, "exstyle_image": None}
    config = RenderConfig.from_dict(build_job_settings(shot, style))
    assert (config.backend, config.style, config.style_id, config.degree) == ("classic", "arcane", 3, 0.25)
    assert (config.format, config.mattes, config.output_space, config.frames) == ("png", True, "crop", "1-3")
    assert (config.png_bits, config.start_number, config.scale, config.name) == (16, 101, 0.5, "hero")
    assert (config.matte_files, config.matte_classes, config.exr_compression) == (True, "skin,hair", "dwaa")
    assert preview_settings(config.to_dict())["mattes"] is False


def test_bad_settings_are_caught_with_a_fix():
    with pytest.raises(ConfigError) as missing:
        build_job_settings({"source": "", "output": "/r"}, {})
    assert missing.value.fix
    with pytest.raises(ConfigError) as relative:  # it would render into the panel's working folder
        build_job_settings({"source": "/m/a.mp4", "output": "renders"}, {})
    assert relative.value.message == "output folder 'renders' is not a full path" and "Browse" in relative.value.fix
    home = build_job_settings({"source": "~/a.mp4", "output": "~/renders"}, {})
    assert (home["source"], home["output"]) == (os.path.expanduser("~/a.mp4"), os.path.expanduser("~/renders"))
    with pytest.raises(ConfigError) as degree:
        build_job_settings({"source": "/m/a.mp4", "output": "/r"}, {"degree": 1.5})
    assert "degree" in degree.value.message
