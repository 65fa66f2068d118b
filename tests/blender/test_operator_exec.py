"""The real Stylize operator (EXEC path, background mode) against the real engine fixture: the
result strip's frame k is, pixel for pixel, the engine's own render of the source frame that the
source strip shows at that timeline frame; the workspace's sequencer scene is the one edited; one
undo step removes the render."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from stand_in import stand_in_operator  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def _pixels(path) -> np.ndarray:
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        out = np.empty(len(image.pixels), dtype=np.float32)
        image.pixels.foreach_get(out)
        return out.reshape(image.size[1], image.size[0], image.channels)
    finally:
        bpy.data.images.remove(image)


def _engine_render(repo, source, frames: str, out_dir) -> None:
    """The engine CLI's own render with the settings the panel defaults give (classic, PNG, plate)."""
    python = os.environ.get("VTOONIFY_ENGINE_PYTHON", str(repo / ".venv" / "bin" / "python"))
    env = dict(os.environ, PYTHONPATH=str(repo))
    env.pop("BLENDER_USER_RESOURCES", None)
    proc = subprocess.run([python, "-m", "engine", "render", str(source), "-o", str(out_dir),
                           "--frames", frames, "--format", "png", "--backend", "classic", "--name", "plate",
                           "--device", "cpu"], capture_output=True, text=True, timeout=240, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_exec_operator_result_frames_are_the_engine_render_of_the_right_source_frames(
        engine_prefs, trimmed_scene, media_dir, repo_root, tmp_path, png_text):
    scene, source = trimmed_scene
    source.use_reverse_frames = True  # timeline 104..108 show media frames 26, 25, 24, 23, 22 (1-based)
    source.frame_offset_end = 21
    scene.vtoonify.backend = "classic"
    bpy.ops.ed.undo_push(message="before stylize")
    # undo=True: run as the UI runs it (Python calls skip undo pushes by default)
    assert bpy.ops.sequencer.vtoonify_stylize("EXEC_DEFAULT", True) == {"FINISHED"}, \
        bpy.context.window_manager.vtoonify_status
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert (result.frame_final_start, result.frame_final_end) == (104, 109)
    assert result.channel == source.channel + 1
    directory = bpy.path.abspath(result.directory)
    assert os.path.normpath(directory) == str(tmp_path / "renders" / "plate" / "v001")

    reference = tmp_path / "engine_cli"
    _engine_render(repo_root, media_dir / "529_2.mp4", "22-26", reference)
    expected_numbers = [26, 25, 24, 23, 22]
    cli = {n: _pixels(reference / f"plate.{n:04d}.png") for n in expected_numbers}
    assert np.abs(cli[26] - cli[22]).max() > 0.05, "source frames too alike for this check to mean anything"
    for k, number in enumerate(expected_numbers):
        shown = os.path.join(directory, os.path.basename(result.strip_elem_from_frame(104 + k).filename))
        assert int(png_text(shown)["vtoonify/frame"]) == number
        np.testing.assert_allclose(_pixels(shown), cli[number], atol=1.5 / 255,
                                   err_msg=f"timeline frame {104 + k} is not the engine's frame {number}")

    # Shift+R (Repeat Last) would run the whole render again, blocking, on the main thread: it skips it
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window, area=window.screen.areas[0]):
        try:
            bpy.ops.screen.repeat_last()
        except RuntimeError:  # nothing else to repeat in this session
            pass
    assert not (tmp_path / "renders" / "plate" / "v002").exists(), "Repeat Last rendered again"

    # one undo step takes the render back, and only the render
    scene_name, source_name = scene.name, source.name
    bpy.ops.ed.undo()
    scene = bpy.data.scenes[scene_name]
    assert [s.name for s in _strips(scene)] == [source_name]


def test_operators_edit_the_workspace_sequencer_scene(engine_prefs, trimmed_scene):
    """5.0: the Sequencer edits the workspace's sequencer_scene, which may not be the window's scene."""
    scene, _source = trimmed_scene
    window = bpy.context.window_manager.windows[0]
    if not hasattr(window.workspace, "sequencer_scene"):
        pytest.skip("this Blender has no sequencer_scene (before 5.0)")
    bare = bpy.data.scenes.new("vtoonify_window_scene")  # no sequence editor at all
    window.scene, window.workspace.sequencer_scene = bare, scene
    try:
        assert bpy.context.scene == bare and bpy.context.sequencer_scene == scene
        scene.frame_current = 110  # the sequencer scene's playhead: media frame 10
        bare.frame_current = 1  # the window scene's playhead is off the strip: Preview follows the other
        assert bpy.ops.sequencer.vtoonify_stylize.poll() and bpy.ops.sequencer.vtoonify_preview.poll()
        assert bpy.types.VTOON_PT_stylize.poll(bpy.context)
        scene.vtoonify.backend = "classic"
        assert bpy.ops.sequencer.vtoonify_preview() == {"FINISHED"}
        assert "source frame 10" in bpy.context.window_manager.vtoonify_status
    finally:
        window.workspace.sequencer_scene = None
        window.scene = scene
        bpy.data.scenes.remove(bare)


def test_modal_path_connects_off_thread_polls_and_adds_the_strip(addon, engine_prefs, trimmed_scene, tmp_path):
    """The modal operator's timer ticks, driven by hand (bpy has no event loop): every tick is quick,
    the first ones while the worker connects, the last one lays the result strip."""
    import time
    from types import SimpleNamespace

    scene, source = trimmed_scene
    source.frame_offset_end = 23  # 104..106
    scene.vtoonify.backend = "classic"
    reports: list = []
    op = stand_in_operator(addon, reports)
    wm = bpy.context.window_manager
    t0 = time.monotonic()
    assert op._setup_session(bpy.context) is None, reports
    assert time.monotonic() - t0 < 0.5 and wm.vtoonify_running
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    slowest, outcome, deadline = 0.0, {"PASS_THROUGH"}, time.monotonic() + 120
    while outcome == {"PASS_THROUGH"} and time.monotonic() < deadline:
        t0 = time.monotonic()
        outcome = op.modal(bpy.context, timer)
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)
    assert outcome == {"FINISHED"}, (reports, wm.vtoonify_status)
    assert slowest < 0.5, f"a modal tick blocked for {slowest:.2f}s"
    assert not wm.vtoonify_running and "added" in wm.vtoonify_status
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert (result.frame_final_start, result.frame_final_end) == (104, 107)


def test_esc_cancels_the_render_unless_it_stops_playback(addon, engine_prefs, trimmed_scene, tmp_path, esc_events):
    """Esc cancels a running render (its frames are removed) like the panel's Cancel button; while
    playback runs, Esc stops the playback as always and the render goes on."""
    import time
    from types import SimpleNamespace

    scene, _source = trimmed_scene
    scene.vtoonify.backend = "classic"
    reports: list = []
    op = stand_in_operator(addon, reports)
    assert op._setup_session(bpy.context) is None, reports
    esc, stray = esc_events  # over the Sequencer; over the 3D viewport
    outcome, deadline = {"PASS_THROUGH"}, time.monotonic() + 120
    while not (op._session.job and op._session.job.tracker.written) and time.monotonic() < deadline:
        outcome = op.modal(bpy.context, SimpleNamespace(type="TIMER", value="NOTHING"))
        time.sleep(0.05)
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window, screen=window.screen):
        assert bpy.ops.screen.animation_play() == {"FINISHED"}
        try:
            assert op.modal(bpy.context, esc) == {"PASS_THROUGH"}  # Blender's Esc: stop playback
            assert not op._session.cancel_requested and not op._session.job.tracker.finished
        finally:
            bpy.ops.screen.animation_cancel(restore_frame=True)
    assert op.modal(bpy.context, stray) == {"PASS_THROUGH"}  # a stray Esc in the viewport: render goes on
    assert not op._session.cancel_requested and "Esc over the Sequencer" in bpy.context.window_manager.vtoonify_status
    assert op.modal(bpy.context, esc) == {"RUNNING_MODAL"}  # no playback, over the Sequencer: the render's
    assert op._session.cancel_requested and "cancelling" in bpy.context.window_manager.vtoonify_status
    while outcome == {"PASS_THROUGH"} and time.monotonic() < deadline:
        outcome = op.modal(bpy.context, SimpleNamespace(type="TIMER", value="NOTHING"))
        time.sleep(0.05)
    assert outcome == {"CANCELLED"}
    assert bpy.context.window_manager.vtoonify_status == "VToonify: cancelled"
    assert not bpy.context.window_manager.vtoonify_running
    assert len(_strips(scene)) == 1
    renders = tmp_path / "renders"
    assert not renders.exists() or not [p for p in renders.rglob("*") if p.is_file()]


def test_auto_falling_back_to_classic_is_told_after_the_render(engine_prefs, trimmed_scene, tmp_path, capsys):
    """No model files: ``auto`` renders with the classic backend, and the artist is told so (panel note,
    a WARNING report in the status bar, a printed line in batch mode), not just "added"."""
    scene, source = trimmed_scene
    source.frame_offset_end = 24  # 2 frames: 104, 105
    (tmp_path / "no-models").mkdir()
    engine_prefs.models_dir = str(tmp_path / "no-models")
    scene.vtoonify.backend = "auto"
    assert bpy.ops.sequencer.vtoonify_stylize() == {"FINISHED"}
    wm = bpy.context.window_manager
    assert "added" in wm.vtoonify_status
    assert "rendered with the classic backend (auto was asked for)" in wm.vtoonify_notes
    printed = capsys.readouterr().out
    assert "classic backend" in printed
    assert "/2 frames" in printed  # batch mode (blender -b) prints progress lines
