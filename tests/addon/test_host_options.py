"""Cryptomatte and timecode in the add-on's job settings and labels, the result's channel block,
the old-file Style migration and the greyed-out reasons (no bpy)."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.pipeline import config as config_module
from engine.pipeline.config import RenderConfig
from engine.service.catalog import STYLE_FAMILIES
from vtoonify_addon.core.availability import stylize_blocker
from vtoonify_addon.core.job_settings import (
    MAX_FACES_DEFAULT,
    MAX_FACES_LIMIT,
    StylizeOptions,
    build_job_settings,
    options_from_settings,
    result_label,
    timecode_text,
)
from vtoonify_addon.core.result_plan import plan_result_strips, result_channels
from vtoonify_addon.core.style_migration import legacy_style, style_to_keep


def test_cryptomatte_reaches_the_engine_only_with_mattes_and_exr():
    options = StylizeOptions(backend="classic", format="exr", mattes=True, cryptomatte=True)
    config = RenderConfig.from_dict(build_job_settings("/m/a.mp4", "/o", "1-3", options, "a"))
    assert config.cryptomatte and config.mattes and config.format == "exr"
    off = StylizeOptions(format="exr", mattes=False, cryptomatte=True)  # greyed out in the panel: not sent
    assert build_job_settings("/m/a.mp4", "/o", "1", off, "a")["cryptomatte"] is False
    with pytest.raises(ValueError, match=r"EXR.*preferences"):
        StylizeOptions(format="png", mattes=True, cryptomatte=True)
    with pytest.raises(ConfigError):  # what the engine would have said had the add-on sent it
        RenderConfig(source="/m/a.mp4", output="/o", format="png", mattes=True, cryptomatte=True)


def test_rerender_of_an_old_result_keeps_it_without_cryptomatte():
    panel = StylizeOptions(format="exr", mattes=True, cryptomatte=True)
    old = {"backend": "classic", "format": "exr", "mattes": True}  # stored before the option existed
    assert options_from_settings(old, panel).cryptomatte is False
    assert options_from_settings({**old, "cryptomatte": True}, panel).cryptomatte is True
    assert options_from_settings({}, panel).cryptomatte is True  # nothing stored: the panel's


def test_result_label_names_timecode_and_cryptomatte():
    tc = {"start": "01:00:59;28", "rate": "30000/1001", "fps": 29.97, "drop_frame": True, "first_frame": 1001}
    assert timecode_text(tc) == "source TC 01:00:59;28 at frame 1001, 29.97 fps (drop-frame)"
    assert timecode_text(None) == "" and timecode_text({"start": None}) == ""
    assert result_label({"timecode": tc}, {"cryptomatte": True}) == (
        "source TC 01:00:59;28 at frame 1001, 29.97 fps (drop-frame); Cryptomatte CryptoFace in the EXR")
    assert result_label({"timecode": None}, {"cryptomatte": False}) == ""


def test_mattes_form_one_block_right_above_the_result():
    result = {"pattern": "/o/s.####.png", "matte_patterns": {c: f"/o/s.matte_{c}.####.png" for c in
                                                             ("skin", "hair", "face")}}
    # channel 4 is taken over part of the range: a new result's block of 4 starts above it
    occupied = [(2, 100, 110), (4, 105, 106)]
    channel, first = result_channels(occupied, 100, 110, lowest=3, mattes=3)
    assert (channel, first) == (5, 6)
    plans = plan_result_strips(result, [1] * 10, 100, channel, "plate.vtoonify", first)
    assert [(p.name, p.channel, p.mute) for p in plans] == [
        ("plate.vtoonify", 5, False), ("plate.vtoonify.matte_face", 6, True),
        ("plate.vtoonify.matte_hair", 7, True), ("plate.vtoonify.matte_skin", 8, True)]
    # a re-render keeps the result's channel; its mattes take the lowest free block above it
    assert result_channels([(3, 100, 110), (5, 100, 101)], 100, 110, lowest=3, mattes=2,
                           result_channel=3) == (3, 6)
    assert result_channels([], 100, 110, lowest=3, mattes=0) == (3, 4)


def test_old_file_style_is_read_from_the_old_enum_index():
    pixar = STYLE_FAMILIES.index("pixar")
    assert legacy_style(pixar, STYLE_FAMILIES) == "pixar"
    assert legacy_style("arcane", STYLE_FAMILIES) == "arcane"
    assert legacy_style(99, STYLE_FAMILIES) is None and legacy_style(True, STYLE_FAMILIES) is None
    assert legacy_style(None, STYLE_FAMILIES) is None
    # style_name written (a new file, or migrated): it wins; unset: the old value, else the default
    assert style_to_keep(True, "comic", pixar, STYLE_FAMILIES) == "comic"
    assert style_to_keep(False, "cartoon", pixar, STYLE_FAMILIES) == "pixar"
    assert style_to_keep(False, "cartoon", None, STYLE_FAMILIES) == "cartoon"


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"has_editor": False, "strip_type": None, "source_type": None}, "no Sequencer strips"),
    ({"has_editor": True, "strip_type": None, "source_type": None}, "No active strip"),
    ({"has_editor": True, "strip_type": "SOUND", "source_type": "SOUND"}, "sound strip"),
    ({"has_editor": True, "strip_type": "META", "source_type": None}, "meta strip shows no movie"),
    ({"has_editor": True, "strip_type": "IMAGE", "source_type": None, "is_result": True}, "source strip"),
    ({"has_editor": True, "strip_type": "MOVIE", "source_type": "MOVIE", "running": True}, "Esc"),
    ({"has_editor": True, "strip_type": "MOVIE", "source_type": "MOVIE", "engine_missing": True}, "Auto-start"),
    ({"has_editor": True, "strip_type": "META", "source_type": "IMAGE"}, ""),
])
def test_greyed_out_operators_say_why(kwargs, expected):
    reason = stylize_blocker(**kwargs)
    assert (expected in reason) if expected else reason == ""


def test_faces_choice_reaches_the_engine_and_needs_plate():
    all_faces = StylizeOptions(backend="classic", faces="all")
    config = RenderConfig.from_dict(build_job_settings("/m/a.mp4", "/o", "1-3", all_faces, "a"))
    assert config.faces == "all"
    assert "faces" not in build_job_settings("/m/a.mp4", "/o", "1", StylizeOptions(), "a")  # default: one
    with pytest.raises(ValueError, match="Output Space to Plate"):
        StylizeOptions(faces="all", output_space="crop")
    with pytest.raises(ValueError, match="unknown faces"):
        StylizeOptions(faces="two")
    # a result rendered before the choice existed re-renders its one face, whatever the panel says
    assert options_from_settings({"backend": "classic"}, all_faces).faces == "one"


def test_max_faces_and_following_crops_reach_the_engine():
    assert (MAX_FACES_DEFAULT, MAX_FACES_LIMIT) == (RenderConfig.max_faces, config_module.MAX_FACES_LIMIT)
    three = StylizeOptions(backend="classic", faces="all", max_faces=3, follow_faces=True)
    sent = build_job_settings("/m/a.mp4", "/o", "1-3", three, "a")
    config = RenderConfig.from_dict(sent)
    assert (config.faces, config.max_faces, config.follow_faces) == ("all", 3, True)
    # one face: the count is not sent (the engine's default, out of the job key); following still is
    one = build_job_settings("/m/a.mp4", "/o", "1", StylizeOptions(max_faces=3, follow_faces=True), "a")
    assert "max_faces" not in one and "faces" not in one and one["follow_faces"] is True
    assert "follow_faces" not in build_job_settings("/m/a.mp4", "/o", "1", StylizeOptions(), "a")
    for bad in (0, MAX_FACES_LIMIT + 1, True, 2.5):
        with pytest.raises(ValueError, match="out of range"):
            StylizeOptions(faces="all", max_faces=bad)
    # a result re-renders with what it was rendered with; one rendered before these existed gets defaults
    assert options_from_settings(sent, StylizeOptions()).max_faces == 3
    assert options_from_settings(sent, StylizeOptions()).follow_faces is True
    old = options_from_settings({"backend": "classic", "faces": "all"}, three)
    assert (old.max_faces, old.follow_faces) == (MAX_FACES_DEFAULT, False)


def test_cryptomatte_is_refused_where_the_sequencer_cannot_show_multilayer_exrs():
    """Blender 4.2.23's sequencer says "can't process EXR multilayer file" (measured); 5.0.1 shows it."""
    from vtoonify_addon.core.job_settings import cryptomatte_problem

    wanted = StylizeOptions(backend="classic", format="exr", mattes=True, cryptomatte=True)
    problem, fix = cryptomatte_problem(wanted, (4, 2, 23))
    assert "Blender 4.2" in problem and "multilayer" in problem and "--cryptomatte" in fix
    assert cryptomatte_problem(wanted, (5, 0, 1)) is None
    assert "Blender 4.3" in cryptomatte_problem(wanted, (4, 3, 0))[0]
    for shows_multilayer in ((4, 4, 0), (4, 5, 15)):  # measured: their sequencers show the engine's EXR
        assert cryptomatte_problem(wanted, shows_multilayer) is None
    assert cryptomatte_problem(StylizeOptions(format="exr", mattes=True), (4, 2, 23)) is None


def test_blender_4_gets_a_plain_rgba_beauty_and_the_engine_takes_it(tmp_path):
    """bpy 4.2.23 shows nothing for an EXR with matte layers: the add-on asks for matte files only."""
    from vtoonify_addon.core.job_settings import host_settings

    options = StylizeOptions(backend="classic", format="exr", mattes=True)
    assert host_settings(options, (4, 2, 23)) == {"matte_layers": False, "orientation": "stored"}
    assert host_settings(options, (5, 0, 1)) == {}
    assert host_settings(options, (4, 3, 0)) == {"matte_layers": False, "orientation": "stored"}
    for version in ((4, 4, 0), (4, 5, 15)):  # multilayer EXRs shown, display rotation applied (measured)
        assert host_settings(options, version) == {}
    assert host_settings(StylizeOptions(format="png", mattes=True), (4, 2, 23)) == {"orientation": "stored"}
    settings = {**build_job_settings("in.mp4", str(tmp_path), "1-3", options, "plate"),
                **host_settings(options, (4, 2, 23))}
    config = RenderConfig(**settings)
    assert config.matte_files and not config.matte_layers and config.orientation == "stored"
    from engine.pipeline.shot import job_key

    default = RenderConfig(**{**settings, "orientation": "display", "matte_layers": True})
    only_stored = RenderConfig(**{**settings, "matte_layers": True})
    assert len({job_key(c, "classic", {}) for c in (config, default, only_stored)}) == 3  # each in the key
    with pytest.raises(ConfigError, match="no-matte-layers"):
        RenderConfig(**{**settings, "matte_files": False})
