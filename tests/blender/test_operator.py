"""The Stylize operator: clear report when the engine is unreachable; auto-start brings it up."""

from __future__ import annotations

import os
import sys

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import prefs_proxy  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def test_unreachable_engine_cancels_with_clear_message(prefs, trimmed_scene, tmp_path):
    scene, _source = trimmed_scene
    prefs.connection_file = str(tmp_path / "no-engine.json")
    prefs.auto_start = False
    prefs.output_dir = str(tmp_path / "out")
    # an ERROR report makes bpy.ops raise, carrying the report text (the operator returned CANCELLED)
    # greyed out, and the tooltip / the error says why (no connection file, Auto-start off)
    assert not bpy.ops.sequencer.vtoonify_stylize.poll()
    with pytest.raises(RuntimeError, match=r"engine is not running.*Auto-start"):
        bpy.ops.sequencer.vtoonify_stylize()
    assert len(_strips(scene)) == 1
    assert not (tmp_path / "out").exists()


def test_stale_connection_file_reports_unreachable(prefs, trimmed_scene, tmp_path):
    scene, _source = trimmed_scene
    conn = tmp_path / "stale.json"
    conn.write_text('{"host": "127.0.0.1", "port": 9, "token": "x", "pid": 999999, "protocol": 1}')
    prefs.connection_file = str(conn)
    prefs.auto_start = False
    prefs.output_dir = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match=r"(?i)engine|connect|refused"):
        bpy.ops.sequencer.vtoonify_stylize()
    assert "Traceback" not in bpy.context.window_manager.vtoonify_status
    assert len(_strips(scene)) == 1


def test_bad_engine_python_is_reported(prefs, trimmed_scene, tmp_path):
    prefs.connection_file = str(tmp_path / "none.json")
    prefs.auto_start = True
    prefs.engine_python = str(tmp_path / "missing-python")
    prefs.output_dir = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match=r"Python interpreter .* not found"):
        bpy.ops.sequencer.vtoonify_stylize()


def test_engine_python_that_is_a_folder_or_not_executable_says_the_fix(prefs, trimmed_scene, tmp_path):
    """The venv folder picked instead of its interpreter, or a file that cannot run: the preferences
    show the problem under the field, and Stylize's error names the exact fix."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o644)
    prefs.connection_file = str(tmp_path / "none.json")
    prefs.auto_start = True
    prefs.output_dir = str(tmp_path / "out")
    prefs.engine_python = str(venv)
    with pytest.raises(RuntimeError, match=rf"is a folder, not the Python program\nFix: set Engine Python to {python}"):
        bpy.ops.sequencer.vtoonify_stylize()
    prefs.engine_python = str(python)
    with pytest.raises(RuntimeError, match=r"is not executable\nFix: pick the venv's python program"):
        bpy.ops.sequencer.vtoonify_stylize()
    log: list = []
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    shown = " ".join(text for kind, text in log if kind == "label")  # lines wrapped at the drawn width
    assert "is not executable" in shown and "chmod +x" in shown, shown
    python.chmod(0o755)  # fixed: the warning goes
    log.clear()
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    assert not any("executable" in text or text.startswith("Fix:") for kind, text in log if kind == "label")
    assert not (tmp_path / "out").exists()


def test_output_folder_inside_a_file_and_wrong_engine_folder_say_the_fix(prefs, trimmed_scene, tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    prefs.connection_file = str(tmp_path / "none.json")
    prefs.auto_start = True
    prefs.engine_python = os.environ.get("VTOONIFY_ENGINE_PYTHON", sys.executable)
    prefs.output_dir = str(tmp_path / "notes.txt" / "renders")
    with pytest.raises(RuntimeError, match=r"notes.txt is a file\nFix: set Output Folder"):
        bpy.ops.sequencer.vtoonify_stylize()
    log: list = []
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    assert "notes.txt is a file" in " ".join(text for kind, text in log if kind == "label")  # wrapped lines
    prefs.output_dir = str(tmp_path / "out")
    prefs.engine_root = str(tmp_path)  # a folder, but not the one holding engine/
    with pytest.raises(RuntimeError, match=r"holds no engine package\nFix: set Engine Folder"):
        bpy.ops.sequencer.vtoonify_stylize()
    log.clear()
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    assert "holds no engine package" in " ".join(text for kind, text in log if kind == "label")  # wrapped lines


@pytest.mark.slow
def test_auto_start_brings_engine_up_and_adds_strip(prefs, client_api, addon, trimmed_scene, tmp_path, repo_root,
                                                    unsaved_after):
    scene, source = trimmed_scene
    source.frame_offset_end = 21  # 5 frames: 104..108 keeps the render short
    conn = tmp_path / "auto.json"
    prefs.connection_file = str(conn)
    prefs.auto_start = True
    prefs.engine_python = os.environ.get("VTOONIFY_ENGINE_PYTHON", str(repo_root / ".venv" / "bin" / "python"))
    prefs.engine_root = str(repo_root)
    prefs.engine_args = "--device cpu"
    prefs.output_dir = "//vtoonify/"  # the default: beside the saved .blend
    prefs.output_format = "png"
    scene.vtoonify.backend = "classic"
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    try:
        result = bpy.ops.sequencer.vtoonify_stylize()
        assert result == {"FINISHED"}, bpy.context.window_manager.vtoonify_status
        strips = _strips(scene)
        assert len(strips) == 2
        added = next(s for s in strips if s.name != source.name)
        assert (added.frame_final_start, added.frame_final_end) == (104, 109)
        assert added.channel == source.channel + 1
        assert added.directory == "//vtoonify/plate/v001/"  # relative: the project folder can move
        assert bpy.path.abspath(added.directory).rstrip("/") == str(tmp_path / "vtoonify" / "plate" / "v001")
        assert sorted(p.name for p in (tmp_path / "vtoonify" / "plate" / "v001").glob("*.png")) == [
            f"plate.{n:04d}.png" for n in range(4, 9)]
        # the add-on owns the engine it started: disabling the add-on shuts it down
        started = addon.engines.current().running()
        assert len(started) == 1 and client_api.read_connection_file(str(conn)) is not None
        bpy.ops.preferences.addon_disable(module=addon.__name__)
        bpy.ops.preferences.addon_enable(module=addon.__name__)  # `prefs` is stale from here on
        assert started[0].poll() is not None, "unregister left the auto-started engine running"
        assert client_api.read_connection_file(str(conn)) is None  # clean shutdown removed its file
    finally:
        info = client_api.read_connection_file(str(conn))
        if info is not None:
            client = client_api.EngineClient.connect(info, timeout_s=10)
            client.shutdown()
            client.close()
