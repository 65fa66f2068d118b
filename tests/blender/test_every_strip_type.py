"""The sidebar panel and the operators' greyed-out reasons with every kind of strip active, with none,
and (5.0) with a sequencer scene that is not the window's scene."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402
from vse_scene import new_effect  # noqa: E402

pytestmark = pytest.mark.blender
HERE = Path(__file__).resolve().parent


def _effect(strips, name, kind, channel):
    return new_effect(strips, name, kind, channel, 1, 10)


def _add_every_type(scene, media_dir) -> dict:
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    made = {
        "IMAGE": strips.new_image("img", str(media_dir / "038648.jpg"), 1, 1),
        "META": strips.new_meta("meta", 4, 1),
        "SCENE": strips.new_scene("sc", bpy.data.scenes.new("vtoonify_inner"), 5, 1),
        "COLOR": _effect(strips, "col", "COLOR", 6),
        "TEXT": _effect(strips, "txt", "TEXT", 7),
    }
    try:
        made["SOUND"] = strips.new_sound("snd", str(media_dir / "529_2.mp4"), 8, 1)
    except RuntimeError:  # a bpy built without audio (4.2's wheel): no sound strips at all
        pass
    return made


def _draw(log):
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)


def test_panel_draws_and_stylize_says_why_for_every_strip_type(addon, prefs, trimmed_scene, media_dir):
    scene, movie = trimmed_scene
    prefs.auto_start = True
    made = dict(_add_every_type(scene, media_dir), MOVIE=movie)
    editor = scene.sequence_editor
    for kind, strip in [*made.items(), ("none", None)]:
        editor.active_strip = strip
        log: list = []
        _draw(log)
        labels = [text for k, text in log if k == "label"]
        if kind in {"MOVIE", "IMAGE"}:
            assert bpy.ops.sequencer.vtoonify_stylize.poll(), kind
            assert ("operator", "sequencer.vtoonify_stylize") in log
            continue
        assert "Select a movie, image or meta strip" in labels, kind
        with pytest.raises(RuntimeError) as refused:
            bpy.ops.sequencer.vtoonify_stylize()
        expected = {"none": "No active strip", "META": "meta strip shows no movie or image strip"}.get(
            kind, f"is a {kind.lower()} strip: select a movie, image or meta strip")
        assert expected in str(refused.value), (kind, str(refused.value))
        for op in ("vtoonify_version_step", "vtoonify_versions_purge"):
            with pytest.raises(RuntimeError, match="not a VToonify result: select a result strip"):
                getattr(bpy.ops.sequencer, op)()
    with pytest.raises(RuntimeError, match="No engine started by this Blender is running"):
        bpy.ops.sequencer.vtoonify_engine_stop()


def test_panel_follows_the_sequencer_scene_not_the_window_scene(addon, trimmed_scene, media_dir):
    scene, movie = trimmed_scene
    window = bpy.context.window_manager.windows[0]
    if not hasattr(window.workspace, "sequencer_scene"):
        pytest.skip("this Blender has no sequencer_scene (before 5.0)")
    bare = bpy.data.scenes.new("vtoonify_bare_window")  # no sequence editor: drawing it would fail
    window.scene, window.workspace.sequencer_scene = bare, scene
    try:
        assert bpy.types.VTOON_PT_stylize.poll(bpy.context)
        for strip in (movie, None):
            scene.sequence_editor.active_strip = strip
            log: list = []
            _draw(log)
            assert ("prop", "backend") in log and ("operator", "sequencer.vtoonify_stylize") in log
            assert (("label", "Select a movie, image or meta strip") in log) == (strip is None)
            assert bpy.ops.sequencer.vtoonify_stylize.poll() == (strip is not None)
    finally:
        window.workspace.sequencer_scene = None
        window.scene = scene
        bpy.data.scenes.remove(bare)


def _effect_on(strips, name, kind, channel, source):
    """An effect strip taking ``source`` as its input."""
    return new_effect(strips, name, kind, channel, 101, 10, input1=source)


@pytest.mark.parametrize("kind, timing", [("SPEED", True), ("GAUSSIAN_BLUR", False)])
def test_panel_says_an_effect_over_the_source_is_not_on_its_result(addon, trimmed_scene, kind, timing):
    """The result is laid over its source as it is: an effect strip fed by the source (a Speed Control's
    retiming, a blur) is not on it, which nothing said; the panel names the effect and the fix, for the
    source and for its result."""
    scene, movie = trimmed_scene
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    log: list = []
    _draw(log)
    assert not any("as input" in text for k, text in log if k == "label")  # no effect yet: nothing said
    effect = _effect_on(strips, "fx", kind, 4, movie)
    scene.sequence_editor.active_strip = movie
    log = []
    _draw(log)
    said = " ".join(text for k, text in log if k == "label")
    assert "effect strip 'fx'" in said and "'plate' as input" in said and "laid over 'plate' as it is" in said, said
    assert ("out of step with the speed change" in said) == timing, said
    assert "Add > Effect Strip" in said
    result = strips.new_image("plate_toon", str(Path(movie.filepath).with_suffix(".png")), 3, 101)
    result["vtoonify_source"] = movie.name  # what the add-on stamps on a result it lays
    scene.sequence_editor.active_strip = result
    log = []
    _draw(log)
    assert "effect strip 'fx'" in " ".join(text for k, text in log if k == "label")
    strips.remove(effect)
