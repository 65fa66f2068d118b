"""Undo as an artist uses it: what the add-on lays from a timer (a preview overlay, a modal render's
result) is one undo step of its own, so Ctrl+Z takes back just that and Shift+Ctrl+Z brings it back,
never the artist's edit before it (the preview's reply is a photo on disk; the render uses the engine)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = [pytest.mark.timeout(120), pytest.mark.blender]


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def _previews(scene_name: str) -> list:
    return [s for s in _strips(bpy.data.scenes[scene_name]) if s.get("vtoonify_role") == "preview"]


def test_a_laid_preview_is_its_own_undo_step(addon, trimmed_scene, media_dir):
    scene, source = trimmed_scene
    scene_name, frame = scene.name, 110
    mark = addon.stylize.source_mark(scene, source)
    number = mark.numbers[frame - mark.frame_start]
    request = (number, (scene.session_uid, scene_name, mark, frame, "plate"))
    bpy.ops.ed.undo_push(message="before")
    scene.vtoonify.degree = 0.3  # the artist's last edit before the preview arrives
    bpy.ops.ed.undo_push(message="the artist's edit")
    arrived = SimpleNamespace(outcome=lambda: {"path": str(media_dir / "038648.jpg")})
    addon.operators._preview_arrived(SimpleNamespace(EngineError=RuntimeError), request, arrived)
    assert len(_previews(scene_name)) == 1, bpy.context.window_manager.vtoonify_status

    bpy.ops.ed.undo()  # every Python reference above is stale from here on
    assert _previews(scene_name) == []
    assert bpy.data.scenes[scene_name].vtoonify.degree == pytest.approx(0.3), "undo took the artist's edit too"
    bpy.ops.ed.redo()
    overlay, = _previews(scene_name)
    assert (overlay.frame_final_start, overlay.frame_final_end) == (frame, frame + 1)


def _timeline(scene) -> dict:
    """Every strip's name -> (channel, start, end, mute), and the F-curve paths of the scene's action."""
    editor = scene.sequence_editor
    every = editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all
    strips = {s.name: (s.channel, s.frame_final_start, s.frame_final_end, s.mute) for s in every}
    action = scene.animation_data.action if scene.animation_data is not None else None
    if action is None:
        return {"strips": strips, "curves": []}
    if hasattr(action, "layers"):
        curves = [fc.data_path for layer in action.layers for strip in layer.strips
                  for bag in strip.channelbags for fc in bag.fcurves]
    else:
        curves = [fc.data_path for fc in action.fcurves]
    return {"strips": strips, "curves": sorted(curves)}


def test_a_landed_modal_render_is_one_undo_step(addon, engine_prefs, trimmed_scene, tmp_path):
    """The modal render lands on a timer tick, minutes after the click, between the artist's own edits.
    Its undo step (Blender pushes one when the operator, which has the UNDO flag, returns FINISHED)
    holds only the landing: one Ctrl+Z removes the result and matte strips and their copied keys and
    leaves the plate and the rest of the timeline as they were (the artist's edit during the render
    included); Shift+Ctrl+Z brings the result back on the same files; a second Ctrl+Z takes back the
    artist's edit, not something of the render."""
    import time

    from stand_in import stand_in_operator

    scene, source = trimmed_scene
    scene_name = scene.name
    source.frame_offset_end = 23  # 104..106
    source.transform.offset_x = 40.0
    source.transform.keyframe_insert("offset_x", frame=104)
    other = _top(scene).new_movie("other", source.filepath, 6, 90)
    engine_prefs.mattes = True
    scene.vtoonify.backend = "classic"
    assert addon.operators.VTOON_OT_stylize.bl_options == {"UNDO"}  # what makes Blender push the step
    bpy.ops.ed.undo_push(message="before stylize")
    reports: list = []
    op = stand_in_operator(addon, reports)
    assert op._setup_session(bpy.context) is None, reports
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    outcome, deadline, edited = {"PASS_THROUGH"}, time.monotonic() + 120, False
    while outcome == {"PASS_THROUGH"} and time.monotonic() < deadline:
        outcome = op.modal(bpy.context, timer)
        if not edited and op._session.job is not None:  # the artist edits while the engine renders
            other.channel, edited = 7, True
            bpy.ops.ed.undo_push(message="Move Strips")
        time.sleep(0.03)
    assert edited and outcome == {"FINISHED"}, (reports, bpy.context.window_manager.vtoonify_status)
    bpy.ops.ed.undo_push(message=addon.operators.VTOON_OT_stylize.bl_label)  # what Blender does on FINISHED
    landed = _timeline(bpy.data.scenes[scene_name])
    added = {n for n in landed["strips"] if n not in ("plate", "other")}
    assert len(added) >= 2 and any(".matte_" in n for n in added), landed  # the result and its mattes
    assert any("plate.vtoonify" in p for p in landed["curves"]), "the result took no keys: nothing to undo"
    before = {"strips": {n: v for n, v in landed["strips"].items() if n not in added},
              "curves": [p for p in landed["curves"] if "plate.vtoonify" not in p]}
    assert before["strips"]["other"][0] == 7

    bpy.ops.ed.undo()  # Ctrl+Z: every Python reference above is stale from here on
    assert _timeline(bpy.data.scenes[scene_name]) == before
    bpy.ops.ed.redo()  # Shift+Ctrl+Z
    assert _timeline(bpy.data.scenes[scene_name]) == landed
    result = next(s for s in _strips(bpy.data.scenes[scene_name]) if s.get("vtoonify_role") == "result")
    assert os.path.isfile(os.path.join(bpy.path.abspath(result.directory), result.elements[0].filename))
    bpy.ops.ed.undo()
    bpy.ops.ed.undo()  # the artist's move
    back = _timeline(bpy.data.scenes[scene_name])
    assert back["strips"]["other"][0] == 6 and set(back["strips"]) == {"plate", "other"}


def _top(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def _result_on(scene, stem, number: int, media_dir):
    """A result strip as a landing lays it, on version ``number`` of ``stem`` (v001 and v002 made)."""
    import shutil

    for n in (1, 2):
        folder = stem / f"v{n:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media_dir / "038648.jpg", folder / "plate.0004.jpg")
    result = _top(scene).new_image("plate.vtoonify", str(stem / f"v{number:03d}" / "plate.0004.jpg"), 3, 104)
    result["vtoonify_source"], result["vtoonify_role"] = "plate", "result"
    scene.sequence_editor.active_strip = result
    return result


def _shown(scene_name: str) -> str:
    result = next(s for s in _strips(bpy.data.scenes[scene_name]) if s.get("vtoonify_role") == "result")
    return os.path.basename(os.path.normpath(bpy.path.abspath(result.directory)))


def test_undo_after_purge_brings_the_purged_version_back(addon, trimmed_scene, media_dir, tmp_path):
    """v001 landed, a re-render's step shows v002, Purge removes v001: Ctrl+Z to the v001 step shows
    v001's own files again (brought back from the session's bin), Shift+Ctrl+Z shows v002; closing
    the file (here: File > New) deletes what the purge set aside, and only that."""
    scene, _source = trimmed_scene
    scene_name, stem = scene.name, tmp_path / "renders" / "plate"
    result = _result_on(scene, stem, 1, media_dir)
    bpy.ops.ed.undo_push(message="v001 landed")
    result.directory = str(stem / "v002") + os.sep  # what a re-render's landing does
    bpy.ops.ed.undo_push(message="v002 landed")
    assert bpy.ops.sequencer.vtoonify_versions_purge() == {"FINISHED"}
    assert sorted(p.name for p in stem.iterdir()) == [".purged", "v002"]
    assert "Undo can bring one back" in bpy.context.window_manager.vtoonify_status

    bpy.ops.ed.undo()
    assert _shown(scene_name) == "v001"
    assert (stem / "v001" / "plate.0004.jpg").read_bytes() == (media_dir / "038648.jpg").read_bytes()
    bpy.ops.ed.redo()
    assert _shown(scene_name) == "v002" and (stem / "v001").is_dir()

    bpy.context.scene.sequence_editor.active_strip = next(
        s for s in _strips(bpy.data.scenes[scene_name]) if s.get("vtoonify_role") == "result")
    assert bpy.ops.sequencer.vtoonify_versions_purge() == {"FINISHED"}
    assert not (stem / "v001").exists()
    bpy.ops.wm.read_homefile()  # the file closes: its undo history, and the bin, end
    assert sorted(p.name for p in stem.iterdir()) == ["v002"]


_CRASHING_BLENDER = """
import os, sys
sys.path.insert(0, sys.argv[1])  # the installed add-on's folder: its bpy-free core, as the add-on runs it
from core.version_bin import VersionBin
VersionBin("crashed0001", records_dir=sys.argv[2], alive=lambda pid: True).set_aside(sys.argv[3], [1])
os._exit(9)  # Blender crashed: the file never closed, the bin was never emptied
"""


def test_the_next_session_deletes_the_purge_bin_a_crashed_blender_left(addon, tmp_path):
    """A Blender that purged v001 and then crashed leaves ``.purged/<its session>``; the next start of
    the add-on deletes that bin (and nothing of a running session's bin, nor an unmarked folder)."""
    import importlib
    import subprocess
    import sys

    version_undo = importlib.import_module(addon.__name__ + ".version_undo")
    records = version_undo.records_dir()
    assert records and records.startswith(bpy.utils.user_resource("EXTENSIONS")), records
    stem = tmp_path / "renders" / "plate"
    for name in ("v001", "v002", ".purged/not-ours/v009"):
        (stem / name).mkdir(parents=True)
        (stem / name / "plate.0001.png").write_bytes(b"x")
    proc = subprocess.run([sys.executable, "-c", _CRASHING_BLENDER, os.path.dirname(addon.__file__), records,
                           str(stem)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 9, proc.stderr
    assert (stem / ".purged" / "crashed0001" / "v001" / "plate.0001.png").is_file()

    bpy.ops.preferences.addon_disable(module=addon.__name__)
    bpy.ops.preferences.addon_enable(module=addon.__name__)  # the next session's start
    assert sorted(p.name for p in (stem / ".purged").iterdir()) == ["not-ours"]
    assert (stem / ".purged" / "not-ours" / "v009" / "plate.0001.png").is_file()
    assert sorted(p.name for p in stem.iterdir()) == [".purged", "v002"]
    assert not os.path.exists(os.path.join(records, "crashed0001.json"))
