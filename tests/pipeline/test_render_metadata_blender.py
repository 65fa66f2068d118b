"""An independent decoder reads our Cryptomatte: Blender's compositor keys objects by name from our EXR.

Runs the bpy venv (``.venv-blender``, see tests/blender/conftest.py; or ``VTOONIFY_BPY_PYTHON``) as a
subprocess: it finds the ``CryptoFace`` layer from the header alone, keys ``face/skin`` and ``face/nose``
and writes each matte to a float EXR, read back here.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.io import read_image
from engine.io.cryptomatte import cryptomatte_layers
from engine.io.exr import write_exr

REPO = Path(__file__).resolve().parents[2]


def _bpy_python() -> str | None:
    candidates = [os.environ.get("VTOONIFY_BPY_PYTHON", ""), str(REPO / ".venv-blender" / "bin" / "python")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


BLENDER_SCRIPT = textwrap.dedent("""
    import sys
    import bpy

    source, out_dir = sys.argv[1], sys.argv[2]
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 48, 32, 100
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    tree = bpy.data.node_groups.new("keys", "CompositorNodeTree")
    scene.compositing_node_group = tree
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    node = tree.nodes.new("CompositorNodeCryptomatteV2")
    node.source = "IMAGE"
    node.image = bpy.data.images.load(source)
    output = tree.nodes.new("NodeGroupOutput")
    tree.links.new(node.outputs["Matte"], output.inputs[0])
    print("LAYER", node.layer_name)
    for name in ("face/skin", "face/nose"):
        node.matte_id = name
        scene.render.filepath = f"{out_dir}/{name.replace('/', '_')}.exr"
        bpy.ops.render.render(write_still=True)
""")


@pytest.mark.slow
def test_blender_keys_our_cryptomatte_by_name(tmp_path):
    bpy_python = _bpy_python()
    if bpy_python is None:
        pytest.skip("no bpy venv (.venv-blender or VTOONIFY_BPY_PYTHON)")
    h, w = 32, 48
    alpha = np.ones((h, w), np.float32)
    skin = np.zeros((h, w), np.float32)
    nose = np.zeros((h, w), np.float32)
    skin[:, :24], skin[:, 24:32], nose[:, 24:32] = 1.0, 0.25, 0.75
    mattes = {"skin": skin, "nose": nose}
    channels, meta = cryptomatte_layers(mattes, alpha)
    rgba = np.dstack([np.full((h, w, 3), 0.5, np.float32), alpha])
    write_exr(tmp_path / "crypto.exr", rgba, mattes=mattes, metadata=meta, float_channels=channels)
    script = tmp_path / "key.py"
    script.write_text(BLENDER_SCRIPT)
    run = subprocess.run([bpy_python, str(script), str(tmp_path / "crypto.exr"), str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "LAYER CryptoFace" in run.stdout                  # found from the header metadata alone
    for name, matte in mattes.items():
        keyed = read_image(tmp_path / f"face_{name}.exr")[:, :, 0]
        np.testing.assert_allclose(keyed, matte, atol=1e-6)
