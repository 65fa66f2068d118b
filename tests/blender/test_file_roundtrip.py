"""Save, reopen, move: a result strip keeps pointing at its own frames through the .blend's life.

Rendered into ``//vtoonify/`` beside a saved .blend, the strips hold ``//`` paths; reopened, the
result, its stored settings and the scene's VToonify options are all there; the project folder copied
elsewhere and opened from there shows the copy's frames, not the original's.
"""

from __future__ import annotations

import os
import shutil

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


def _result(scene_name: str):
    return next(s for s in _strips(bpy.data.scenes[scene_name]) if s.get("vtoonify_role") == "result")


def test_saved_reopened_and_moved_project_keeps_its_result(addon, connected, trimmed_scene, media_dir, tmp_path,
                                                            unsaved_after):
    scene, source = trimmed_scene
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(media_dir / "529_2.mp4", project / "529_2.mp4")
    source.filepath = "//529_2.mp4"  # relative once saved: the whole project moves together
    source.frame_offset_end = 23  # 104..106
    scene.vtoonify.degree, scene.vtoonify.style_id = 0.7, 3
    bpy.ops.wm.save_as_mainfile(filepath=str(project / "shot.blend"))
    source.filepath = "//529_2.mp4"
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "output": "//vtoonify/"}, connected)
    scene_name, frames = scene.name, sorted(p.name for p in (project / "vtoonify" / "plate" / "v001").iterdir())
    assert _result(scene_name).directory == "//vtoonify/plate/v001/"
    bpy.ops.wm.save_mainfile()

    bpy.ops.wm.open_mainfile(filepath=str(project / "shot.blend"))
    result = _result(scene_name)
    assert result.directory == "//vtoonify/plate/v001/" and result["vtoonify_source"] == "plate"
    assert '"backend": "classic"' in result["vtoonify_job"]  # the settings it was rendered with
    settings = bpy.data.scenes[scene_name].vtoonify
    assert (round(settings.degree, 3), settings.style_id) == (0.7, 3)
    assert (result.frame_final_start, result.frame_final_end) == (104, 107)
    assert os.path.isfile(os.path.join(bpy.path.abspath(result.directory), result.elements[0].filename))

    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(project, moved)
    shutil.rmtree(project)  # only the copy exists now
    bpy.ops.wm.open_mainfile(filepath=str(moved / "shot.blend"))
    result = _result(scene_name)
    folder = os.path.normpath(bpy.path.abspath(result.directory))
    assert folder == str(moved / "vtoonify" / "plate" / "v001")
    assert sorted(os.listdir(folder)) == frames
    assert stylize.result_versions(result) == (str(moved / "vtoonify" / "plate"), [1], 1)
