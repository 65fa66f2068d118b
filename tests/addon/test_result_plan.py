"""Result-strip planning, sequence file names and job settings (no bpy)."""

from __future__ import annotations

import re

import pytest

from engine.pipeline.config import RenderConfig
from vtoonify_addon.core.job_settings import StylizeOptions, build_job_settings, safe_stem, settings_from_json
from vtoonify_addon.core.result_plan import NoFreeChannel, free_channel, missing_files, plan_result_strips
from vtoonify_addon.core.sequence_files import frame_path, pattern_from_file, sequence_numbers


def test_frame_path_pads_to_hash_count():
    assert frame_path("/o/shot.####.png", 7) == "/o/shot.0007.png"
    assert frame_path("/o/shot.%04d.exr", 1001) == "/o/shot.1001.exr"
    assert frame_path("/o/s.##.png", 123) == "/o/s.123.png"
    with pytest.raises(ValueError, match="no #### or"):
        frame_path("/o/shot.png", 1)


def test_pattern_from_file():
    assert pattern_from_file("/p/plate.1001.exr") == ("/p/plate.####.exr", 1001)
    assert pattern_from_file("img_07.png") == ("img_##.png", 7)
    with pytest.raises(ValueError):
        pattern_from_file("plate.png")


def test_sequence_numbers_refuse_files_the_engine_would_not_read():
    """The engine reads one pattern per strip: every file must be that pattern's file for its number."""
    assert sequence_numbers(["plate.1001.png", "plate.1003.png"]) == ("plate.####.png", [1001, 1003])
    assert sequence_numbers(["s.9.png", "s.10.png"]) == ("s.#.png", [9, 10])  # unpadded, one digit more
    with pytest.raises(ValueError, match=re.escape("'take2_0001.png' is not in 'take1_####.png'")):
        sequence_numbers(["take1_0001.png", "take2_0001.png", "take2_0002.png"])
    with pytest.raises(ValueError, match=re.escape("'plate.01002.png' is not in")):
        sequence_numbers(["plate.1001.png", "plate.01002.png"])


def test_plan_lines_up_with_source_frames_and_stacks_mattes():
    result = {"pattern": "/out/sh/sh.####.png",
              "matte_patterns": {"skin": "/out/sh/sh.matte_skin.####.png", "hair": "/out/sh/sh.matte_hair.####.png"}}
    plans = plan_result_strips(result, [4, 5, 5, 6], frame_start=104, channel=3, name="plate.vtoonify")
    beauty, hair, skin = plans
    assert beauty.directory == "/out/sh"
    assert beauty.files == ("sh.0004.png", "sh.0005.png", "sh.0005.png", "sh.0006.png")
    assert (beauty.frame_start, beauty.frame_end, beauty.channel, beauty.mute) == (104, 108, 3, False)
    assert (hair.channel, hair.mute, hair.role) == (4, True, "matte_hair")
    assert skin.files[0] == "sh.matte_skin.0004.png" and skin.channel == 5


def test_missing_files_lists_only_absent(tmp_path):
    (tmp_path / "a.0001.png").write_bytes(b"x")
    plans = plan_result_strips({"pattern": str(tmp_path / "a.####.png")}, [1, 2], 1, 2, "r")
    assert missing_files(plans) == [str(tmp_path / "a.0002.png")]


def test_free_channel_skips_overlaps_only():
    occupied = [(3, 100, 130), (4, 200, 210)]
    assert free_channel(occupied, 104, 125, lowest=3) == 4
    assert free_channel(occupied, 130, 140, lowest=3) == 3  # end is exclusive
    assert free_channel(occupied, 104, 125, lowest=3, needed=2) == 4
    assert free_channel([(3, 100, 130), (5, 100, 130)], 104, 125, lowest=3, needed=2) == 6


def test_no_channel_below_the_top_says_where_and_what_to_do():
    assert free_channel([], 104, 125, lowest=128) == 128  # the top channel itself is usable
    with pytest.raises(NoFreeChannel) as top:
        free_channel([], 104, 125, lowest=129)  # a strip on channel 128 has nothing above it
    assert top.value.problem == ("no 1 free channel above channel 128 over frames 104-124 (Blender's channels "
                                 "end at 128)")
    assert top.value.fix.startswith("move the source strip to a lower channel") and "Mattes" not in top.value.fix
    with pytest.raises(NoFreeChannel) as mattes:
        free_channel([(127, 100, 130)], 104, 125, lowest=120, needed=9)
    assert "no 9 free channels above channel 119" in mattes.value.problem and mattes.value.fix.endswith(
        "or turn Mattes off")
    assert isinstance(mattes.value, ValueError)  # callers that catch ValueError still do


def test_job_settings_are_a_valid_render_config():
    options = StylizeOptions(backend="classic", style="arcane", style_id=3, degree=0.25, mattes=True, format="exr")
    settings = build_job_settings("/m/529_2.mp4", "/out/plate", "4-24", options, stem="plate")
    config = RenderConfig.from_dict(settings)
    assert RenderConfig.unknown_keys(settings) == []
    assert (config.frames, config.start_number, config.backend, config.format) == ("4-24", 1, "classic", "exr")
    assert config.mattes and config.matte_files and config.name == "plate" and config.degree == 0.25


def test_stylize_options_reject_bad_values():
    with pytest.raises(ValueError, match="backend"):
        StylizeOptions(backend="magic")
    with pytest.raises(ValueError, match="degree"):
        StylizeOptions(degree=1.5)
    assert StylizeOptions.from_dict({"style": "comic", "output": "/x"}).style == "comic"


def test_safe_stem_and_settings_json():
    assert safe_stem("Shot 010.mp4") == "Shot_010"
    assert safe_stem("***") == "strip"
    assert settings_from_json('{"a": 1}') == {"a": 1}
    assert settings_from_json("not json") == {} and settings_from_json("[1]") == {}


@pytest.mark.parametrize("name, stem", [
    ("Ünïcödé 日本 😀 take.mp4", "Ünïcödé_日本_take"),
    ("Cafe\u0301 plate.mov", "Café_plate"),  # decomposed (macOS) -> NFC, as the engine writes it
    ("shot\u202eevil\u200b.exr", "shot_evil"),  # bidi override, zero-width space -> '_'
    ("-rf 010.mp4", "rf_010"),
    ("😀😀.mp4", "strip"),
])
def test_addon_strip_names_follow_the_engines_file_stem(name, stem):
    # Before: the add-on made names ASCII ('Ünïcödé 日本' -> 'n_c_d'), unlike the engine and panel.
    from engine.service.catalog import file_stem

    assert safe_stem(name) == stem
    if stem != "strip":
        assert file_stem(name.rsplit(".", 1)[0]) == stem


def test_rerender_options_come_from_the_stored_settings():
    from vtoonify_addon.core.job_settings import (
        StylizeOptions,
        build_job_settings,
        options_from_settings,
        settings_from_json,
        settings_to_json,
    )

    rendered = StylizeOptions(backend="classic", style="arcane", style_id=3, degree=0.9, color_transfer=True,
                              format="exr", mattes=True, output_space="crop")
    stored = settings_from_json(settings_to_json(build_job_settings("/a.mp4", "/out/v001", "1-3", rendered, "a")))
    panel = StylizeOptions()  # what the panel shows now: ignored for a re-render
    assert options_from_settings(stored, panel) == rendered
    # broken or missing fields fall back to the panel, one by one
    assert options_from_settings({"degree": 7.0, "style": "pixar"}, panel) == StylizeOptions(style="pixar")
    assert options_from_settings({}, panel) == panel
