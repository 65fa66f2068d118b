"""What the artist has selected and where the playhead is: Stylize renders the active strip only and
says which other selected strips it left alone; Preview is greyed, with the reason in its tooltip,
while the playhead is off the strip (no engine needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402
from stand_in import stand_in_operator  # noqa: E402

pytestmark = [pytest.mark.timeout(60), pytest.mark.blender]


def _strips(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def test_stylize_names_the_other_selected_strips_it_leaves_alone(addon, prefs, trimmed_scene, media_dir, tmp_path):
    scene, source = trimmed_scene
    prefs.output_dir, prefs.auto_start = str(tmp_path / "out"), True
    other = _strips(scene).new_movie("plate_b", str(media_dir / "529_2.mp4"), 5, 101)
    for strip in (source, other):
        strip.select = True
    reports: list = []
    op = stand_in_operator(addon, reports)
    try:
        assert not isinstance(op._begin(bpy.context), set), reports
        notes = bpy.context.window_manager.vtoonify_notes
        assert notes.startswith("only the active strip 'plate' is stylized; the other selected strip(s) 'plate_b'")
        other.select = False
        assert not isinstance(op._begin(bpy.context), set), reports
        assert bpy.context.window_manager.vtoonify_notes == ""
    finally:
        bpy.context.window_manager.vtoonify_notes = ""


def test_preview_is_greyed_while_the_playhead_is_off_the_strip(addon, prefs, trimmed_scene):
    scene, _source = trimmed_scene  # visible 104..124
    prefs.auto_start = True
    scene.frame_current = 110
    assert bpy.ops.sequencer.vtoonify_preview.poll()
    scene.frame_current = 125
    assert not bpy.ops.sequencer.vtoonify_preview.poll()
    assert bpy.ops.sequencer.vtoonify_stylize.poll()  # Stylize renders the whole strip wherever the playhead is
    with pytest.raises(RuntimeError, match=r"The playhead \(frame 125\) is not on strip 'plate' \(frames 104-124\): "
                                           "move the playhead onto the strip"):
        bpy.ops.sequencer.vtoonify_preview()


def test_a_preview_overlay_made_active_greys_stylize_and_preview(addon, prefs, trimmed_scene, media_dir):
    scene, _source = trimmed_scene
    prefs.auto_start = True
    scene.frame_current = 110
    overlay = addon.stylize.show_preview_strip(scene, _source, str(media_dir / "038648.jpg"), 110)
    scene.sequence_editor.active_strip = overlay  # it sits on top: the artist clicks it
    assert not bpy.ops.sequencer.vtoonify_stylize.poll() and not bpy.ops.sequencer.vtoonify_preview.poll()
    with pytest.raises(RuntimeError, match="The active strip is a VToonify Preview overlay: click its source strip"):
        bpy.ops.sequencer.vtoonify_stylize()


def test_the_panel_says_to_save_first_while_renders_would_go_beside_an_unsaved_file(addon, prefs, trimmed_scene,
                                                                                    tmp_path):
    assert not bpy.data.filepath, "this test needs an unsaved file"
    for output, shown in (("//vtoonify/", True), (str(tmp_path / "out"), False)):
        prefs.output_dir = output
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        text = " ".join(t for kind, t in log if kind == "label")
        assert ("Renders go to //vtoonify/ beside the .blend file: save it first" in text) == shown, text
