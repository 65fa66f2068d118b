"""Phone footage with a display rotation: the engine's frame N is the picture Blender's sequencer shows.

The engine applies the display matrix on read (as OpenCV and players do), so its output frames are in
display orientation. Blender's movie strips apply it too from 4.4 (4.2 and 4.3 show it as stored);
were one of them not to, every result strip would sit turned over its plate. This renders the
sequencer's frame and compares it with the engine's frame 1, read by the engine's own Python.
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
import sys
from engine.io import open_source, write_png
from rotated_clip import rotated_copy
plate, rotated, frame_png, orientation = sys.argv[1:5]
rotated_copy(plate, rotated, 90)
with open_source(rotated, orientation=orientation) as source:
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


def test_a_rotated_phone_clip_shows_in_the_sequencer_as_the_engine_reads_it(addon, media_dir, tmp_path):
    """Blender 4.4+ turns a phone clip by its display rotation, 4.2/4.3 show it as stored: with the
    orientation the add-on asks for on this Blender, the engine's frame is the sequencer's."""
    settings = __import__(f"{addon.__name__}.core.job_settings", fromlist=["_"])
    orientation = settings.host_settings(settings.StylizeOptions(), bpy.app.version).get("orientation", "display")
    shown_size = (352, 376) if orientation == "display" else (376, 352)  # the clip is 376x352 as stored
    rotated, engine_png = tmp_path / "phone.mp4", tmp_path / "engine.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    env.pop("BLENDER_USER_RESOURCES", None)
    subprocess.run([str(ENGINE_PYTHON), "-c", ENGINE_SIDE, str(media_dir / "529_2.mp4"), str(rotated),
                    str(engine_png), orientation], env=env, check=True, timeout=120)
    scene = bpy.data.scenes.new("vtoonify_rotation")
    try:
        editor = scene.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 5.0 | 4.2
        strip = strips.new_movie("phone", str(rotated), 1, 1)
        assert (strip.elements[0].orig_width, strip.elements[0].orig_height) == shown_size
        scene.render.resolution_x, scene.render.resolution_y = shown_size
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
    assert shown.shape == engine.shape == (shown_size[1], shown_size[0], 3)
    assert np.abs(shown - engine).mean() < 3 / 255  # codec-level differences only
    assert np.abs(shown - engine[::-1, ::-1]).mean() > 30 / 255  # a half turn would be plainly visible

