"""Variable-frame-rate phone footage: the engine's frame N is the picture Blender shows at media frame N,
and a stylized VFR strip's result shows the plate's picture at every timeline frame.

Each clip's pictures carry their index in five bands (``make_vfr_clip.py``); Blender's sequencer
renders say which picture it shows at each frame, the engine (its own Python) says which picture it
calls each frame number. Three phone timings, measured on bpy 4.2.23 and 5.0.1: a low-light slowdown
(30 -> 20 fps: Blender's strip is 60 fps), dropped frames on a 30 fps grid, and jittery millisecond
stamps (FFmpeg guesses the average rate: some pictures fall between frames).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
np = pytest.importorskip("numpy")
from vse_scene import add_rate_adjusted_movie, all_strips, shown_scene, top_strips  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", REPO / ".venv" / "bin" / "python"))

TIMINGS = {  # (timescale, duration of each picture in ticks)
    "slowdown": (600, [20] * 8 + [30] * 8 + [20] * 8),
    "dropped": (600, [20, 20, 40, 20, 20, 60, 20, 20, 20, 40] + [20] * 10),
    "jitter": (1000, [33, 34, 33, 50, 33, 100, 33, 20, 33, 34, 33, 67, 33, 33, 50, 20, 33, 34]),
}

ENGINE_SIDE = """
import json, sys
from engine.io import open_source
with open_source(sys.argv[1]) as source:
    codes = [sum(1 << b for b in range(5) if source.read(n)[20, b * 75 + 37].mean() > 127)
             for n in source.frame_numbers]
    grid = source.frame_grid.to_dict() if source.frame_grid else None
    print(json.dumps({"numbers": source.frame_numbers, "codes": codes, "fps": source.fps, "grid": grid}))
"""


def _engine_python(*args: str, timeout: int = 120) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("BLENDER_USER_RESOURCES", None)
    proc = subprocess.run([str(ENGINE_PYTHON), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=str(HERE))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def make_vfr_clip(media_dir: Path, path: Path, timing: str) -> Path:
    timescale, durations = TIMINGS[timing]
    _engine_python(str(HERE / "make_vfr_clip.py"), str(media_dir / "529_2.mp4"), str(path), str(timescale),
                   ",".join(map(str, durations)))
    return path


def engine_frames(path: Path) -> dict:
    return json.loads(_engine_python("-c", ENGINE_SIDE, str(path)))


def shown_code(scene, frame: int, show: set[str], path: Path) -> int:
    """The picture index Blender's sequencer render of ``frame`` spells, only ``show`` unmuted."""
    for strip in all_strips(scene.sequence_editor):
        strip.mute = strip.name not in show
    scene.frame_set(frame)
    scene.render.filepath = str(path)
    with bpy.context.temp_override(scene=scene):
        bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        rgba = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(rgba)
    finally:
        bpy.data.images.remove(image)
    top = rgba.reshape(height, width, 4)[::-1]
    return sum(1 << b for b in range(5) if top[20, b * 75 + 37, :3].mean() > 0.5)


@pytest.fixture()
def vse(addon):
    """A fresh 376x352 (the clip's size: codes read in place), 24 fps scene shown in the window."""
    with shown_scene("vtoonify_vfr", 376, 352) as scene:
        yield scene


@pytest.mark.parametrize("timing", sorted(TIMINGS))
def test_engine_numbers_a_vfr_clip_as_blender_shows_it(vse, media_dir, tmp_path, timing):
    clip = make_vfr_clip(media_dir, tmp_path / f"{timing}.mp4", timing)
    engine = engine_frames(clip)
    strip = top_strips(vse.sequence_editor).new_movie("plate", str(clip), 1, 1)
    length = round(strip.frame_final_end - strip.frame_start)
    # descending: every render seeks (as in test_registration.py)
    shown = {t: shown_code(vse, t, {strip.name}, tmp_path / "s.png") for t in reversed(range(1, 1 + length))}
    assert engine["numbers"] == list(range(1, length + 1))  # as many frames as the strip is long
    assert engine["codes"] == [shown[t] for t in range(1, 1 + length)]  # frame N = the picture Blender shows
    assert engine["fps"] == pytest.approx(strip.fps)
    pictures = len(TIMINGS[timing][1])
    assert engine["grid"]["pictures"] == pictures and engine["grid"]["frames"] == length > pictures
    assert engine["grid"]["repeats"] == sum(a == b for a, b in zip(engine["codes"], engine["codes"][1:]))
    assert engine["grid"]["unshown"] == pictures - len(set(engine["codes"]))


@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


@pytest.mark.slow
@pytest.mark.parametrize("adjusted", [False, True], ids=["one-to-one", "rate-adjusted"])
def test_stylized_vfr_strip_shows_the_plate_picture_at_every_frame(addon, connected, vse, media_dir, tmp_path,
                                                                    adjusted):
    """A trimmed strip of the low-light clip (60 fps in Blender: pictures held 2 and 3 frames; or, added
    with "adjust playback rate" to the 24 fps scene, 2.5 media frames a timeline frame), stylized through
    the add-on by a real engine (classic): the result shows the plate's picture at every timeline frame."""
    clip = make_vfr_clip(media_dir, tmp_path / "phone.mp4", "slowdown")
    if adjusted:
        source = add_rate_adjusted_movie(vse, clip, 2, 1)
        source.frame_offset_start, source.frame_offset_end = 2, 6  # 56 media frames / 2.5 = 22 long: 3..16
    else:
        source = top_strips(vse.sequence_editor).new_movie("plate", str(clip), 2, 1)
        source.frame_offset_start, source.frame_offset_end = 11, 29  # 56 frames long: 12..27
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    result = stylize.stylize_strip(vse, source, {"backend": "classic", "format": "png",
                                                 "output": str(tmp_path / "out")}, connected)
    frames = range(source.frame_final_start, source.frame_final_end)
    assert (result.frame_final_start, result.frame_final_end) == (frames.start, frames.stop)
    assert "variable frame rate: 24 pictures on a 60 fps grid" in result.get("vtoonify_label", "")
    shown = {t: shown_code(vse, t, {source.name}, tmp_path / "s.png") for t in reversed(frames)}
    stylized = {t: shown_code(vse, t, {result.name}, tmp_path / "r.png") for t in frames}
    assert [stylized[t] for t in frames] == [shown[t] for t in frames]
    assert len(set(shown.values())) >= 6  # the strip really moves through the clip
    print(f"VFR strip ({bpy.app.version_string}, adjusted={adjusted}): {[shown[t] for t in frames]}")
