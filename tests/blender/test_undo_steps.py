"""Undo as an artist uses it: what the add-on lays from a timer (a preview overlay) is one undo step
of its own, so Ctrl+Z takes back just that and Shift+Ctrl+Z brings it back, never the artist's edit
before it (no engine: the preview's reply is a photo on disk)."""

from __future__ import annotations

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
