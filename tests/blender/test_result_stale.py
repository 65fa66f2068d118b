"""A landed result warns, in the panel, once it no longer lines up with its source: the scene frame
rate changed, the source moved or was trimmed (real engine render, classic backend)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]


@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


def _panel_text(layout_class) -> str:
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=layout_class(log)), bpy.context)
    return " ".join(text for kind, text in log if kind == "label")


def test_panel_warns_when_the_result_no_longer_lines_up(addon, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    source.frame_offset_end = 23  # 3 frames: a fast render
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    result = stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "output": str(tmp_path)},
                                   connected)
    scene.sequence_editor.active_strip = result
    layout = CheckingLayout
    assert stylize.result_stale(scene, result) is None
    assert "Out of date" not in _panel_text(layout)
    fps, base = scene.render.fps, scene.render.fps_base
    scene.render.fps = 30 if fps != 30 else 24
    try:
        problem, fix = stylize.result_stale(scene, result)
        assert f"frame rate is now {scene.render.fps / base:g} fps" in problem
        assert f"made at {fps / base:g} fps" in problem and "Re-render" in fix
        text = _panel_text(layout)  # the same words in the sidebar, with the fix
        assert "Out of date: the scene frame rate" in text and "Re-render" in text, text
        scene.sequence_editor.active_strip = source  # the source selected: its result's warning shows too
        text = _panel_text(layout)
        assert "Its VToonify result: Out of date: the scene frame rate" in text and "Re-render: press Stylize" in text
        scene.sequence_editor.active_strip = result
    finally:
        scene.render.fps = fps
    assert stylize.result_stale(scene, result) is None  # the rate set back: lines up again
    scene.sequence_editor.active_strip = source
    assert "Out of date" not in _panel_text(layout)
    source.frame_start += 10
    problem, fix = stylize.result_stale(scene, result)
    assert "moved by +10 frames" in problem and "move the result by +10" in fix
    result.frame_start += 10  # both moved: in line again
    assert stylize.result_stale(scene, result) is None
    result.frame_start -= 10
    source.frame_start -= 10
    source.frame_offset_end = 22  # trimmed: one more frame shows
    assert "trimmed" in stylize.result_stale(scene, result)[0]
    source.frame_offset_end = 23
    assert stylize.result_stale(scene, result) is None
    moved = tmp_path / "moved_project" / Path(bpy.path.abspath(source.filepath)).name
    moved.parent.mkdir()
    moved.write_bytes(Path(bpy.path.abspath(source.filepath)).read_bytes())
    source.filepath = str(moved)  # the project copied elsewhere and relinked: same file, still in line
    assert stylize.result_stale(scene, result) is None
    with open(moved, "ab") as handle:
        handle.write(b"\0" * 16)  # replaced in place by another export
    assert "was replaced" in stylize.result_stale(scene, result)[0]
    name = source.name
    source.name = "renamed"
    assert f"{name!r} is gone" in stylize.result_stale(scene, result)[0]


def _panel_log(layout_class) -> list:
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=layout_class(log)), bpy.context)
    return log


def test_panel_tells_a_result_off_its_repositioned_plate_and_match_placement_fixes_it(addon, connected,
                                                                                      trimmed_scene, tmp_path):
    """Moving or flipping the plate after its result landed leaves the stylized face off the real one:
    the sidebar says so with the result or the source selected and offers Match Placement, which puts
    the result and its mattes back (the mattes stay Non-Color data)."""
    scene, source = trimmed_scene
    source.frame_offset_end = 25  # 1 frame: a fast render
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    result = stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "mattes": True,
                                                   "output": str(tmp_path)}, connected)
    layout = CheckingLayout
    scene.sequence_editor.active_strip = result
    assert ("operator", "sequencer.vtoonify_match_placement") not in _panel_log(layout)
    result.color_saturation = 0.4  # the artist grades the result: no placement change, and it stays
    assert stylize.placement_drift_warning(scene, result) is None
    source.transform.offset_x += 64.0
    source.use_flip_y = True
    for active, lead in ((result, "Off its plate: the position/scale/rotation, flip of source strip 'plate'"),
                         (source, "Its VToonify result: Off its plate: the position/scale/rotation, flip")):
        scene.sequence_editor.active_strip = active
        log = _panel_log(layout)
        text = " ".join(t for kind, t in log if kind == "label")
        assert lead in text and ("operator", "sequencer.vtoonify_match_placement") in log, text
    assert bpy.ops.sequencer.vtoonify_match_placement() == {"FINISHED"}  # the source active: its result
    assert "takes the placement of plate again" in bpy.context.window_manager.vtoonify_status
    mattes = [s for s in stylize.result_group(scene, result) if str(s.get("vtoonify_role")).startswith("matte_")]
    assert mattes and stylize.placement_drift_warning(scene, result) is None
    for strip in (result, *mattes):
        assert (strip.transform.offset_x, strip.use_flip_y) == (source.transform.offset_x, True), strip.name
    assert {m.colorspace_settings.name for m in mattes} == {"Non-Color"}
    assert result.color_saturation == pytest.approx(0.4)
    scene.sequence_editor.active_strip = result
    assert "Off its plate" not in " ".join(t for kind, t in _panel_log(layout) if kind == "label")


def test_a_split_or_trimmed_result_stays_in_line_and_a_rerender_makes_it_whole(addon, connected, trimmed_scene,
                                                                               tmp_path):
    """The artist cuts the result (K) and trims a piece: its frames still sit over the source's, so no
    "moved" warning. A re-render makes it one strip again on the artist's channel, mattes right above
    (the pieces go, nothing is shuffled away); a duplicate placed elsewhere stays."""
    scene, source = trimmed_scene
    source.frame_offset_end = 23  # 104..106
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "png", "mattes": True, "output": str(tmp_path)}
    result = stylize.stylize_strip(scene, source, settings, connected)
    strips = _top(scene)
    mattes = sorted(s.channel for s in strips if str(s.get("vtoonify_role")).startswith("matte_"))
    assert result.channel == 3 and mattes[0] == 4
    right = result.split(frame=105, split_method="SOFT")
    right.frame_final_end = 106  # trimmed: only 105 shows
    assert {s.name: stylize.result_stale(scene, s) for s in (result, right)} == {result.name: None, right.name: None}
    result.frame_start += 2  # a real move still tells
    assert "moved +2 frames off its source" in stylize.result_stale(scene, result)[0]
    result.frame_start -= 2
    copy = strips.new_image("copy", bpy.path.abspath(result.directory) + result.elements[0].filename, 20, 300)
    for key in ("vtoonify_source", "vtoonify_role", "vtoonify_job"):
        copy[key] = result[key]  # what Shift+D gives: the same properties, elsewhere
    again = stylize.stylize_strip(scene, source, settings, connected)
    results = {s.name: (s.channel, s.frame_final_start, s.frame_final_end) for s in strips
               if s.get("vtoonify_role") == "result"}
    assert results == {again.name: (3, 104, 107), "copy": (20, 300, 301)}, results
    assert sorted(s.channel for s in strips if str(s.get("vtoonify_role")).startswith("matte_")) == mattes
    assert again.directory.rstrip("/").endswith("v002") and stylize.result_stale(scene, again) is None


def _top(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences
