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
