"""Source kinds, sequence first frames and job settings checked before submit (no Qt)."""

import pytest

from engine.errors import ConfigError
from engine.pipeline.config import RenderConfig
from ui.job_form import build_job_settings, frame_range_text, preview_settings
from ui.sources import first_frame_file, is_sequence_pattern, is_video, sequence_pattern_for


def test_first_frame_of_a_sequence_is_the_lowest_number(tmp_path):
    for n in (1003, 1001, 1002):
        (tmp_path / f"sh010.{n}.png").write_bytes(b"x")
    (tmp_path / "other.1000.png").write_bytes(b"x")
    assert first_frame_file(str(tmp_path / "sh010.####.png")) == tmp_path / "sh010.1001.png"
    assert first_frame_file(str(tmp_path / "sh010.%04d.png")) == tmp_path / "sh010.1001.png"
    assert first_frame_file(str(tmp_path / "missing.####.png")) is None
    assert sequence_pattern_for(str(tmp_path / "sh010.1002.png")) == str(tmp_path / "sh010.####.png")
    (tmp_path / "still.0001.jpg").write_bytes(b"x")
    assert sequence_pattern_for(str(tmp_path / "still.0001.jpg")) == str(tmp_path / "still.0001.jpg")


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
            "output_space": "crop"}
    style = {"backend": "classic", "style": "arcane", "style_id": 3, "degree": 0.25,
             "color_transfer": True, "exstyle_image": None}
    settings = build_job_settings(shot, style)
    config = RenderConfig.from_dict(settings)
    assert (config.backend, config.style, config.style_id, config.degree) == ("classic", "arcane", 3, 0.25)
    assert (config.format, config.mattes, config.output_space, config.frames) == ("png", True, "crop", "1-3")
    assert preview_settings(settings)["mattes"] is False


def test_bad_settings_are_caught_with_a_fix():
    with pytest.raises(ConfigError) as missing:
        build_job_settings({"source": "", "output": "/r"}, {})
    assert missing.value.fix
    with pytest.raises(ConfigError) as degree:
        build_job_settings({"source": "/m/a.mp4", "output": "/r"}, {"degree": 1.5})
    assert "degree" in degree.value.message
