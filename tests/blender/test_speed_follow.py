"""A Speed Control fed by the source: where Blender allows it exactly, the result goes through the same
retiming, so the result frame under the playhead is the stylization of exactly the source frame the
Speed Control shows there (read from frame-index bands in Blender's own sequencer renders, classic
backend, a real engine); where it does not, no copy and the panel's warning says why."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
import test_registration as registration  # noqa: E402
from checking_layout import CheckingLayout  # noqa: E402
from vse_scene import all_strips, new_effect, top_strips  # noqa: E402

ENGINE_PYTHON, _codes, render, stylize = (
    registration.ENGINE_PYTHON,
    registration._codes,
    registration.render,
    registration.stylize,
)
coded_clip, connected, vse = registration.coded_clip, registration.connected, registration.vse  # shared fixtures
pytestmark = [pytest.mark.timeout(300), pytest.mark.blender, pytest.mark.slow]

_FRAMES = """
import sys, av
with av.open(sys.argv[1]) as clip:
    for index, frame in enumerate(clip.decode(video=0)):
        if index < 12:  # enough to see frames repeat and skip; fewer to render
            frame.to_image().save(f"{sys.argv[2]}/coded.{index + 1:04d}.png")
"""


@pytest.fixture(scope="module")
def coded_frames(coded_clip, tmp_path_factory):
    """The coded clip as a PNG sequence coded.0001.png... (the same frame-index bands)."""
    out = tmp_path_factory.mktemp("coded_frames")
    subprocess.run([str(ENGINE_PYTHON), "-c", _FRAMES, str(coded_clip), str(out)], check=True, timeout=120)
    return sorted(p.name for p in out.iterdir()), out


def _speed(strips, source, channel: int, start: int, length: int):
    return new_effect(strips, "slowmo", "SPEED", channel, start, length, input1=source)


def _copies(scene) -> list:
    return [s for s in all_strips(scene.sequence_editor) if s.get("vtoonify_role") == "speed"]


def _source(kind, scene, coded_clip, coded_frames):
    strips = top_strips(scene.sequence_editor)
    if kind == "movie":
        return strips.new_movie("plate", str(coded_clip), 2, 1, fit_method="FIT")
    names, folder = coded_frames
    source = strips.new_image("plate", str(folder / names[0]), 2, 1, fit_method="FIT")
    for name in names[1:]:
        source.elements.append(name)
    return source


@pytest.mark.parametrize(("kind", "control"), [("movie", "MULTIPLY"), ("images", "MULTIPLY")])
def test_the_result_follows_the_sources_speed_control_frame_for_frame(
    addon, connected, vse, coded_clip, coded_frames, tmp_path, kind, control
):
    vse.render.resolution_x, vse.render.resolution_y = 376, 352  # 1:1 with the clip: codes read in place
    vse.render.fps, vse.render.fps_base = 15, 1.0  # the clip's rate: no playback-rate adjustment
    source = _source(kind, vse, coded_clip, coded_frames)
    length = source.frame_final_end - source.frame_final_start  # 29 movie frames, 12 images
    speed = _speed(top_strips(vse.sequence_editor), source, 3, 1, length)
    speed.speed_control, speed.speed_factor, speed.blend_alpha = control, 0.5, 0.9  # 0.5x: in-between frames
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    panel = __import__(addon.__name__ + ".stylize", fromlist=["effect_inputs_warning"])
    if kind == "movie" and bpy.app.version[:2] != (4, 2):
        assert not _copies(vse) and not result.mute
        problem, fix = panel.effect_inputs_warning(vse, source)
        assert "slowmo" in problem and "Speed Control" in fix
        assert "frame off" in panel.retime.copy_blocker(vse, source, speed, result)
        return
    (copy,) = _copies(vse)
    assert result.mute and copy.input_1 == result and copy.channel > max(speed.channel, result.channel)
    assert (copy.frame_final_start, copy.frame_final_end) == (speed.frame_final_start, speed.frame_final_end)
    assert (copy.speed_control, copy.speed_factor, copy.blend_alpha) == (control, 0.5, speed.blend_alpha)
    frames = range(speed.frame_final_start, speed.frame_final_end)
    # descending: every source render seeks (5.0.1 can show the previous frame on a forward step)
    shown = {t: _codes(render(vse, t, {speed.name}, tmp_path / "s.png")) for t in reversed(frames)}
    stylized = {t: _codes(render(vse, t, {copy.name}, tmp_path / "r.png")) for t in frames}
    assert [stylized[t] for t in frames] == [shown[t] for t in frames]
    assert len(set(shown.values())) > 4 and len(set(shown.values())) < len(frames)  # slowed: frames repeat
    assert panel.effect_inputs_warning(vse, source) is None  # followed: no warning left
    vse.sequence_editor.active_strip = copy  # what the editor clicks: it stands for the result
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    assert ("label", "v001 of 1") in log, log
    assert bpy.ops.sequencer.vtoonify_version_step(step=-1) == {"CANCELLED"}  # v001 is the oldest
    assert bpy.ops.sequencer.vtoonify_select_result() == {"FINISHED"}
    assert {s.name for s in all_strips(vse.sequence_editor) if s.select} == {source.name, result.name, copy.name}

    if kind == "movie":
        return
    stylize(addon, vse, source, connected, tmp_path / "out")  # a re-render keeps one copy, over the new version
    (copy,) = _copies(vse)
    assert copy.input_1.name == result.name and copy.input_1.directory.rstrip("/\\").endswith("v002")


def test_a_trimmed_source_keeps_the_warning(addon, connected, vse, coded_clip, coded_frames, tmp_path):
    """A Speed Control shows frames trimmed off its input too, which are not rendered: no copy, the
    result stays unmuted over the source, and the panel still names the effect and the fix."""
    vse.render.fps, vse.render.fps_base = 15, 1.0
    source = _source("images", vse, coded_clip, coded_frames)
    source.frame_offset_start, source.frame_offset_end = 3, 6  # 3 of 12 frames: 4..6
    speed = _speed(top_strips(vse.sequence_editor), source, 3, 4, 6)
    speed.speed_control = "MULTIPLY"
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    assert not result.mute and not _copies(vse)
    panel = __import__(addon.__name__ + ".stylize", fromlist=["effect_inputs_warning"])
    problem, fix = panel.effect_inputs_warning(vse, source)
    assert "slowmo" in problem and "untrimmed" in fix
    assert "trimmed" in panel.retime.copy_blocker(vse, source, speed, result)


def _panel_text(strip) -> tuple[str, list]:
    """The sidebar drawn with ``strip`` active: its labels joined, and its log."""
    bpy.context.scene.sequence_editor.active_strip = strip
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    return " ".join(text for kind, text in log if kind == "label"), log


def test_a_speed_control_changed_after_landing_is_said_and_followed_again_without_rendering(
    addon, connected, vse, coded_clip, coded_frames, tmp_path
):
    """The artist changes, mutes or deletes the source's Speed Control (or the copy) after the result
    landed: the panel says the result is off its speed (for the result and the source), and Follow
    Source Speed lays the copy again from the effect as it is now, or removes it and unmutes the result,
    with no new version rendered."""
    vse.render.resolution_x, vse.render.resolution_y = 376, 352
    vse.render.fps, vse.render.fps_base = 15, 1.0
    source = _source("images", vse, coded_clip, coded_frames)
    speed = _speed(top_strips(vse.sequence_editor), source, 3, 1, 12)
    speed.speed_control, speed.speed_factor = "MULTIPLY", 0.5
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    panel = __import__(addon.__name__ + ".stylize", fromlist=["speed_drift_warning"])
    (copy,) = _copies(vse)
    assert panel.speed_drift_warning(vse, result) is None
    assert "Off its speed" not in _panel_text(result)[0]
    follow = bpy.ops.sequencer.vtoonify_follow_speed

    speed.speed_factor, speed.blend_alpha = 0.25, 0.7  # 1: the artist slows it further
    problem, fix = panel.speed_drift_warning(vse, result)
    assert "the opacity, speed factor of 'slowmo' changed" in problem and "Follow Source Speed" in fix
    said, log = _panel_text(source)
    assert "Its VToonify result: Off its speed" in said and ("operator", "sequencer.vtoonify_follow_speed") in log
    assert follow() == {"FINISHED"}
    (copy,) = _copies(vse)
    assert (copy.speed_factor, round(copy.blend_alpha, 4), copy.input_1) == (0.25, 0.7, result) and result.mute
    assert panel.speed_drift_warning(vse, result) is None and "Off its speed" not in _panel_text(copy)[0]
    frames = range(1, 6)  # 0.25x: each source frame 4 times; the copy shows the same ones
    shown = [_codes(render(vse, t, {speed.name}, tmp_path / "s.png")) for t in reversed(frames)][::-1]
    assert [_codes(render(vse, t, {copy.name}, tmp_path / "r.png")) for t in frames] == shown

    top_strips(vse.sequence_editor).remove(copy)  # 2: the copy deleted: the result stays muted, nothing shows
    assert "its Speed Control copy was deleted" in panel.speed_drift_warning(vse, result)[0]
    vse.sequence_editor.active_strip = result
    assert follow() == {"FINISHED"} and len(_copies(vse)) == 1 and result.mute

    speed.mute = True  # 3: muted, then deleted: the source shows at its own timing
    assert "'slowmo' was muted" in panel.speed_drift_warning(vse, result)[0]
    top_strips(vse.sequence_editor).remove(speed)
    assert "'slowmo' was deleted" in panel.speed_drift_warning(vse, result)[0]
    vse.sequence_editor.active_strip = _copies(vse)[0]  # clicking the copy itself
    assert follow() == {"FINISHED"}
    assert not _copies(vse) and not result.mute and "vtoonify_muted_for_speed" not in result
    assert panel.speed_drift_warning(vse, result) is None and "Off its speed" not in _panel_text(result)[0]
    assert result.directory.rstrip("/\\").endswith("v001") and sorted(
        p.name for p in (tmp_path / "out").rglob("v0*")
    ) == ["v001"]  # never re-rendered
