"""The add-on's frame mapping agrees with what Blender itself shows, frame by frame.

An image strip of 29 numbered files makes Blender's choice visible: ``strip_elem_from_frame(t)``
names the file shown at timeline frame ``t``.
"""

from __future__ import annotations

import re

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = pytest.mark.blender


@pytest.fixture()
def image_strip(addon, tmp_path):
    for n in range(1001, 1030):
        (tmp_path / f"plate.{n}.png").write_bytes(b"")
    scene = bpy.data.scenes.new("vtoonify_map")
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strip = strips.new_image("seq", str(tmp_path / "plate.1001.png"), 1, 101)
    for n in range(1002, 1030):
        strip.elements.append(f"plate.{n}.png")
    yield scene, strip
    bpy.data.scenes.remove(scene)


@pytest.mark.parametrize("setup", [
    {},
    {"frame_offset_start": 3, "frame_offset_end": 5},
    {"animation_offset_start": 2, "animation_offset_end": 1, "frame_offset_start": 1},
    {"use_reverse_frames": True, "frame_offset_start": 3, "frame_offset_end": 5},
    {"strobe": 3.0, "frame_offset_start": 4},
    {"frame_offset_end": -4},  # right handle dragged 4 frames past the media: Blender holds the last file
    {"frame_offset_start": -3, "frame_offset_end": -2},  # both handles past the media
])
def test_mapping_matches_blender(addon, image_strip, setup):
    scene, strip = image_strip
    for key, value in setup.items():
        setattr(strip, key, value)
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
    source, numbers, _start = stylize.strip_source(scene, strip)
    assert source.endswith("plate.####.png")
    shown = [int(re.search(r"(\d+)\.png$", strip.strip_elem_from_frame(t).filename).group(1))
             for t in range(strip.frame_final_start, strip.frame_final_end)]
    assert numbers == shown


def test_an_image_strip_of_two_sequences_is_refused(addon, tmp_path):
    """Files of two takes picked into one strip: the engine reads one pattern, so it would render
    take1's pictures where Blender shows take2's. Refused, naming the file and the fix."""
    for name in ("take1_0001.png", "take2_0001.png", "take2_0002.png"):
        (tmp_path / name).write_bytes(b"")
    scene = bpy.data.scenes.new("vtoonify_two_takes")
    try:
        editor = scene.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        strip = strips.new_image("takes", str(tmp_path / "take1_0001.png"), 1, 1)
        strip.elements.append("take2_0001.png")
        strip.elements.append("take2_0002.png")
        stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
        with pytest.raises(stylize.StripError, match=re.escape("'take2_0001.png' is not in 'take1_####.png'")):
            stylize.strip_source(scene, strip)
    finally:
        bpy.data.scenes.remove(scene)


def test_movie_strip_mapping_uses_source_numbers_from_one(addon, trimmed_scene):
    scene, strip = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
    source, numbers, start = stylize.strip_source(scene, strip)
    assert source.endswith("529_2.mp4") and start == 1
    assert numbers == list(range(4, 25))


def test_relative_output_needs_a_saved_blend(addon, trimmed_scene, tmp_path):
    scene, strip = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["prepare_job"])
    options = __import__(addon.__name__ + ".core.job_settings", fromlist=["StylizeOptions"]).StylizeOptions()
    assert not bpy.data.filepath
    with pytest.raises(stylize.StripError, match="not saved"):
        stylize.prepare_job(scene, strip, options, "//vtoonify/")
    prepared = stylize.prepare_job(scene, strip, options, str(tmp_path / "renders"))
    assert prepared.output_dir == str(tmp_path / "renders" / "plate" / "v001")  # a fresh version per job
    (tmp_path / "renders" / "plate" / "v001").mkdir(parents=True)
    assert stylize.prepare_job(scene, strip, options, str(tmp_path / "renders")).output_dir.endswith("v002")
    assert prepared.settings["frames"] == "4-24" and prepared.settings["start_number"] == 1
    assert prepared.frame_start == 104 and len(prepared.source_numbers) == 21


def test_movie_strip_extended_past_its_end_holds_the_last_frame(addon, trimmed_scene):
    scene, strip = trimmed_scene
    strip.frame_offset_end = -4  # 529_2.mp4 has 29 frames: timeline 130..133 are past its end
    assert strip.frame_final_end == 134
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
    _source, numbers, _start = stylize.strip_source(scene, strip)
    assert numbers == list(range(4, 30)) + [29, 29, 29, 29]
    prepared = stylize.prepare_job(scene, strip, __import__(addon.__name__ + ".core.job_settings",
                                                            fromlist=["x"]).StylizeOptions(), "/tmp/unused-vt")
    assert prepared.settings["frames"] == "4-29"  # never asks the engine for frames the clip lacks


def _retime(scene, strip, speed_percent: float | None, key_frame: int | None = None) -> None:
    """Strip > Retiming: add the keys (at ``key_frame``, else the strip's first frame), then Set Speed
    unless ``speed_percent`` is None, as the artist does in a Sequencer area."""
    window = bpy.context.window_manager.windows[0]
    previous, area = window.scene, window.screen.areas[0]
    old_type, area.type = area.type, "SEQUENCE_EDITOR"
    workspace = window.workspace
    previous_vse = getattr(workspace, "sequencer_scene", None)
    window.scene = scene
    if hasattr(workspace, "sequencer_scene"):
        workspace.sequencer_scene = scene
    editor = scene.sequence_editor
    for other in (editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all):
        other.select = other == strip
    editor.active_strip = strip
    try:
        region = next(r for r in area.regions if r.type == "WINDOW")
        with bpy.context.temp_override(window=window, area=area, region=region, scene=scene):
            frame = int(strip.frame_final_start) if key_frame is None else key_frame
            assert bpy.ops.sequencer.retiming_key_add(timeline_frame=frame) == {"FINISHED"}
            if speed_percent is not None:
                assert bpy.ops.sequencer.retiming_segment_speed_set(speed=speed_percent) == {"FINISHED"}
    finally:
        area.type = old_type
        window.scene = previous
        if hasattr(workspace, "sequencer_scene"):
            workspace.sequencer_scene = previous_vse


def test_a_retimed_movie_is_refused_with_the_fix(addon, prefs, trimmed_scene):
    """Set Speed 200 %: Blender shows every other media frame, which the RNA does not tell (the keys
    sit where a trimmed 1x strip's would), so the strip is refused instead of stylized wrong."""
    scene, strip = trimmed_scene
    prefs.auto_start = True  # an engine could answer: only the retiming greys the button
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
    _retime(scene, strip, 200.0)
    assert len(strip.retiming_keys) >= 2
    with pytest.raises(stylize.StripError) as refused:
        stylize.strip_source(scene, strip)
    assert re.search(r"has \d+ retiming keys", refused.value.message) and "Reset Retiming" in refused.value.fix
    scene.sequence_editor.active_strip = strip  # the button is grey before any click, its tooltip says why
    assert not bpy.ops.sequencer.vtoonify_stylize.poll() and not bpy.ops.sequencer.vtoonify_preview.poll()
    with pytest.raises(RuntimeError) as greyed:
        bpy.ops.sequencer.vtoonify_stylize()
    assert re.search(r"The movie strip 'plate' has \d+ retiming keys, whose speed the add-on cannot read\. Fix: "
                     r"Strip > Retiming > Reset Retiming \(if the speed never changed\), or stylize a render of "
                     r"it$", str(greyed.value)), str(greyed.value)
    strip.retiming_keys.reset()
    assert bpy.ops.sequencer.vtoonify_stylize.poll()


def test_retiming_keys_that_keep_the_speed_are_refused_saying_why_and_reset_keeps_the_frames(addon, trimmed_scene):
    """A key added and never moved leaves the speed at 1x, but the RNA gives a key only its timeline
    frame, so that cannot be told from a real speed change: the refusal says exactly that, and
    Reset Retiming (its fix) makes the same strip render the same frames as before the keys."""
    scene, strip = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
    before = stylize.strip_source(scene, strip)
    _retime(scene, strip, None, key_frame=110)
    keys = len(strip.retiming_keys)
    assert keys >= 3 and (strip.frame_final_start, strip.frame_final_end) == (104, 125)  # nothing moved
    with pytest.raises(stylize.StripError) as refused:
        stylize.strip_source(scene, strip)
    assert f"has {keys} retiming keys" in refused.value.message
    assert "only a key's place on the timeline, not the movie frame it holds" in refused.value.message
    assert "even an unchanged one" in refused.value.message
    assert refused.value.fix.startswith("if the speed was never changed, remove the keys with Strip > Retiming > "
                                        "Reset Retiming")
    strip.retiming_keys.reset()  # what Strip > Retiming > Reset Retiming does
    assert stylize.strip_source(scene, strip) == before


def test_a_retimed_image_sequence_renders_the_files_blender_shows(addon, image_strip):
    scene, strip = image_strip
    if not hasattr(strip, "retiming_keys"):
        pytest.skip(f"Blender {bpy.app.version_string} does not retime image strips")
    _retime(scene, strip, 200.0)
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["strip_source"])
    source, numbers, start = stylize.strip_source(scene, strip)
    shown = [int(re.search(r"(\d+)\.png$", strip.strip_elem_from_frame(t).filename).group(1))
             for t in range(strip.frame_final_start, strip.frame_final_end)]
    assert source.endswith("plate.####.png") and start == 1001
    assert numbers == shown and shown[:3] == [1001, 1003, 1005]  # really every other file
