"""Phone footage with a display rotation: the engine's frame N is the picture Blender's sequencer shows.

The engine applies the display matrix on read (as OpenCV and players do), so its output frames are in
display orientation. Blender 5.0's movie strips apply it too; were one of them not to, every result
strip would sit turned over its plate. This renders the sequencer's frame and compares it with the
engine's frame 1, read by the engine's own Python.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = pytest.mark.blender
REPO = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", REPO / ".venv" / "bin" / "python"))

ENGINE_SIDE = """
import sys, av
from engine.io import open_source, write_png
plate, rotated, frame_png = sys.argv[1:4]
with av.open(plate) as src, av.open(rotated, "w") as out:
    stream = out.add_stream_from_template(src.streams.video[0])
    stream.set_display_rotation(90)
    for packet in src.demux(video=0):
        if packet.dts is not None:
            packet.stream = stream
            out.mux(packet)
with open_source(rotated) as source:
    write_png(frame_png, source.read(1))
"""


def _pixels(path) -> np.ndarray:
    image = bpy.data.images.load(str(path))
    try:
        width, height = image.size
        rgba = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(rgba)
        return rgba.reshape(height, width, 4)[::-1, :, :3]  # Blender's rows run bottom-up
    finally:
        bpy.data.images.remove(image)


@pytest.mark.xfail(bpy.app.version < (5, 0, 0), strict=True,
                   reason="known: bpy 4.2.23's sequencer ignores a movie's display rotation (shows 376x352 where "
                          "the engine and Blender 5.0 read 352x376), so a rotated phone clip's result does not "
                          "sit over its plate there; see README, Blender add-on")
def test_a_rotated_phone_clip_shows_in_the_sequencer_as_the_engine_reads_it(media_dir, tmp_path):
    rotated, engine_png = tmp_path / "phone.mp4", tmp_path / "engine.png"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("BLENDER_USER_RESOURCES", None)
    subprocess.run([str(ENGINE_PYTHON), "-c", ENGINE_SIDE, str(media_dir / "529_2.mp4"), str(rotated),
                    str(engine_png)], env=env, check=True, timeout=120)
    scene = bpy.data.scenes.new("vtoonify_rotation")
    try:
        editor = scene.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 5.0 | 4.2
        strip = strips.new_movie("phone", str(rotated), 1, 1)
        assert (strip.elements[0].orig_width, strip.elements[0].orig_height) == (352, 376)  # turned: portrait
        scene.render.resolution_x, scene.render.resolution_y = 352, 376
        scene.render.resolution_percentage = 100
        scene.frame_start = scene.frame_end = scene.frame_current = 1
        scene.view_settings.view_transform = "Standard"
        scene.render.image_settings.file_format = "PNG"
        scene.render.filepath = str(tmp_path / "blender.png")
        with bpy.context.temp_override(scene=scene):
            bpy.ops.render.render(write_still=True)
    finally:
        bpy.data.scenes.remove(scene)
    shown, engine = _pixels(tmp_path / "blender.png"), _pixels(engine_png)
    assert shown.shape == engine.shape == (376, 352, 3)
    assert np.abs(shown - engine).mean() < 3 / 255  # codec-level differences only
    assert np.abs(shown - engine[::-1, ::-1]).mean() > 30 / 255  # a half turn would be plainly visible

