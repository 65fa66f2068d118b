"""The artist keeps editing while the modal render runs: the result lands only where it still shows
the frames it was rendered from, and the artist is told what happened.

Driven through the operator's own methods on a stand-in ``self`` (bpy has no event loop): setup,
an edit between timer ticks, ticks until the render ends; a real engine renders.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from stand_in import stand_in_operator  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]
TIMER = SimpleNamespace(type="TIMER", value="NOTHING")


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def _tick_until_done(op, deadline_s: float = 120.0):
    outcome, deadline = {"PASS_THROUGH"}, time.monotonic() + deadline_s
    while outcome == {"PASS_THROUGH"} and time.monotonic() < deadline:
        outcome = op.modal(bpy.context, TIMER)
        time.sleep(0.03)
    return outcome


def _tick_until_written(op, deadline_s: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not (op._session.job and op._session.job.tracker.written) and time.monotonic() < deadline:
        assert op.modal(bpy.context, TIMER) == {"PASS_THROUGH"}
        time.sleep(0.03)
    assert op._session.job.tracker.written and not op._session.job.tracker.finished, "the job should still run"


@pytest.fixture()
def short_render(addon, engine_prefs, trimmed_scene):
    """A 3-frame render (timeline 104..106) set up and connecting; yields (op, scene, source, reports)."""
    scene, source = trimmed_scene
    source.frame_offset_end = 23
    scene.vtoonify.backend = "classic"
    reports: list = []
    op = stand_in_operator(addon, reports)
    assert op._setup_session(bpy.context) is None, reports
    yield op, scene, source, reports
    bpy.context.window_manager.vtoonify_running = False
    bpy.context.window_manager.vtoonify_status = bpy.context.window_manager.vtoonify_notes = ""


def _version_files(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "renders" / "plate" / "v001").glob("*.png"))


def test_source_moved_during_the_render_takes_its_result_along(short_render, addon):
    op, scene, source, reports = short_render
    source.frame_start += 20  # the artist drags the strip 20 frames later meanwhile
    assert _tick_until_done(op) == {"FINISHED"}, reports
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert (result.frame_final_start, result.frame_final_end) == (124, 127)  # over the source's new frames
    assert "moved by +20 frames" in bpy.context.window_manager.vtoonify_notes
    assert addon.engines.live_jobs().labels() == []


def test_switching_scenes_during_the_render_lands_in_the_rendered_scene_and_says_so(short_render):
    op, scene, _source, reports = short_render
    window = bpy.context.window_manager.windows[0]
    other = bpy.data.scenes.new("vtoonify_other_shot")
    other.sequence_editor_create()
    window.scene = other  # 4.x: the Sequencer shows the window's scene
    if hasattr(window.workspace, "sequencer_scene"):
        window.workspace.sequencer_scene = other  # 5.0: the workspace's sequencer scene
    try:
        assert _tick_until_done(op) == {"FINISHED"}, reports
        assert [s.get("vtoonify_role") for s in _strips(scene)] == [None, "result"]
        assert _strips(other) == []
        assert f"the result is in scene {scene.name!r}" in bpy.context.window_manager.vtoonify_notes
    finally:
        window.scene = scene
        if hasattr(window.workspace, "sequencer_scene"):
            window.workspace.sequencer_scene = None
        bpy.data.scenes.remove(other)


def test_source_trimmed_during_the_render_gets_no_result_and_keeps_the_frames(short_render, tmp_path):
    op, scene, source, reports = short_render
    source.frame_offset_end = 24  # one frame shorter: the 3 rendered frames no longer fit it
    assert _tick_until_done(op) == {"CANCELLED"}
    (kind, message), = reports
    assert kind == {"ERROR"} and "trimmed or retimed during the render" in message
    assert "Fix: Stylize the strip again" in message and str(tmp_path / "renders" / "plate" / "v001") in message
    assert [s.name for s in _strips(scene)] == [source.name]
    assert _version_files(tmp_path) == ["plate.0004.png", "plate.0005.png", "plate.0006.png"]  # nothing lost


def test_renamed_source_still_gets_its_result(short_render):
    op, scene, source, reports = short_render
    source.name = "plate_renamed"
    assert _tick_until_done(op) == {"FINISHED"}, reports
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert result["vtoonify_source"] == "plate_renamed" and (result.frame_final_start, result.frame_final_end) == (
        104, 107)
    assert "renamed to 'plate_renamed'" in bpy.context.window_manager.vtoonify_notes


def test_scene_replaced_by_a_lookalike_during_the_render_gets_nothing(short_render, media_dir, tmp_path):
    """The scene is deleted and a new one of the same name, with a strip of the same name at the same
    place, appears: the result must not land on that other strip."""
    op, scene, source, reports = short_render
    name, strip_name = scene.name, source.name
    window = bpy.context.window_manager.windows[0]
    keep = bpy.data.scenes.new("vtoonify_keep_window")
    window.scene = keep
    bpy.data.scenes.remove(scene)
    twin = bpy.data.scenes.new(name)
    editor = twin.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    other = strips.new_movie(strip_name, str(media_dir / "529_2.mp4"), 2, 101)
    other.frame_offset_start, other.frame_offset_end = 3, 23
    try:
        assert _tick_until_done(op) == {"CANCELLED"}
        (kind, message), = reports
        assert kind == {"ERROR"} and f"scene {name!r} was deleted" in message
        assert [s.name for s in _strips(twin)] == [strip_name]
        assert len(_version_files(tmp_path)) == 3
    finally:
        bpy.data.scenes.remove(keep)


def test_deleted_source_is_told_and_its_frames_kept(short_render, tmp_path):
    op, scene, source, reports = short_render
    scene.sequence_editor.strips.remove(source) if hasattr(scene.sequence_editor, "strips") else \
        scene.sequence_editor.sequences.remove(source)
    assert _tick_until_done(op) == {"CANCELLED"}
    (kind, message), = reports
    assert kind == {"ERROR"} and "strip 'plate' was deleted during the render" in message
    assert _strips(scene) == [] and len(_version_files(tmp_path)) == 3


def test_undo_during_the_render_then_undo_redo_of_the_result(short_render, addon):
    """Ctrl+Z while the engine renders reloads every datablock: the result still lands on the right
    strip and frames, and afterwards undo/redo take it away and bring it back."""
    op, scene, source, reports = short_render
    scene_name, source_name = scene.name, source.name
    bpy.ops.ed.undo_push(message="render started")
    scene.vtoonify.degree = 0.9
    bpy.ops.ed.undo_push(message="an edit")
    bpy.ops.ed.undo()  # every Python reference above is stale from here on
    assert _tick_until_done(op) == {"FINISHED"}, reports
    scene = bpy.data.scenes[scene_name]
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert result["vtoonify_source"] == source_name and (result.frame_final_start, result.frame_final_end) == (
        104, 107)
    wm = bpy.context.window_manager
    assert not wm.vtoonify_running and addon.engines.live_jobs().labels() == []
    bpy.ops.ed.undo_push(message="Stylize with VToonify")  # what Blender pushes when the operator finishes
    bpy.ops.ed.undo()
    assert [s.name for s in _strips(bpy.data.scenes[scene_name])] == [source_name]
    bpy.ops.ed.redo()
    scene = bpy.data.scenes[scene_name]
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    first = os.path.join(bpy.path.abspath(result.directory), result.elements[0].filename)
    assert os.path.isfile(first) and result["vtoonify_source"] == source_name


@pytest.mark.parametrize("blender_cancels_first", [False, True])
def test_opening_a_file_during_the_render_cancels_it_and_lands_nothing(addon, engine_prefs, trimmed_scene,
                                                                      client_api, engine, tmp_path,
                                                                      blender_cancels_first, unsaved_after):
    """A file with the same scene and strip names is opened mid-render: the engine job is cancelled,
    its partial frames removed, nothing lands in the opened file, and its status line says why,
    whether the add-on's load handler or Blender dropping the modal operator (``cancel``) comes first."""
    scene, _source = trimmed_scene
    scene.vtoonify.backend = "classic"
    other = tmp_path / "other.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(other), copy=True)  # same names: a lookalike shot
    reports: list = []
    op = stand_in_operator(addon, reports)
    assert op._setup_session(bpy.context) is None, reports
    _tick_until_written(op)
    job_id, folder = op._session.job.tracker.job, op._prepared.output_dir
    if blender_cancels_first:
        op.cancel(bpy.context)
    bpy.ops.wm.open_mainfile(filepath=str(other))
    wm = bpy.context.window_manager
    assert "render of 'plate' was cancelled because another file was opened" in wm.vtoonify_status
    if not blender_cancels_first:
        assert op.modal(bpy.context, TIMER) == {"CANCELLED"}
    loaded = bpy.data.scenes["vtoonify_test"]  # the opened file's scene of the same name
    assert [s.name for s in _strips(loaded)] == ["plate"]
    deadline = time.monotonic() + 60
    while os.path.exists(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(folder), "partial frames left behind"
    with client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10) as client:
        assert client.status(job_id)["state"] == "cancelled"
    assert addon.engines.live_jobs().labels() == [] and not wm.vtoonify_running


def test_a_render_that_ends_during_a_grab_lands_after_it(short_render, addon, monkeypatch):
    """The artist is dragging strips (a modal transform) when the engine finishes: nothing is laid
    under the drag (the grab's overlap handling would push the result around, and the render's undo
    step would hold the half-moved strips); the status says it waits, and it lands on the first tick
    after the drag ends."""
    op, scene, source, reports = short_render
    assert addon.operators._modal_operators(bpy.context) == []  # the real window's list (nothing modal here)
    grabbing = ["SEQUENCER_OT_vtoonify_stylize", "TRANSFORM_OT_seq_slide"]
    monkeypatch.setattr(addon.operators, "_modal_operators", lambda _context: grabbing)
    deadline = time.monotonic() + 120
    while not (op._session.job and op._session.job.tracker.finished) and time.monotonic() < deadline:
        assert op.modal(bpy.context, TIMER) == {"PASS_THROUGH"}
        time.sleep(0.03)
    for _ in range(3):  # finished, the drag goes on: it waits
        assert op.modal(bpy.context, TIMER) == {"PASS_THROUGH"}
    wm = bpy.context.window_manager
    assert wm.vtoonify_status == ("VToonify: rendered; the result lands as soon as the current edit "
                                  "(TRANSFORM_OT_seq_slide) ends") and wm.vtoonify_running
    assert [s.name for s in _strips(scene)] == [source.name]
    grabbing.pop()  # the drag ends
    assert op.modal(bpy.context, TIMER) == {"FINISHED"}, reports
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert (result.frame_final_start, result.frame_final_end) == (104, 107) and not wm.vtoonify_running
