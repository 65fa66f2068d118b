"""Engine outputs as Blender reads them: Cryptomatte keyed by name in the compositor, each face of a
two-face shot over its own plate pixels in the sequencer, and the source timecode a frame carries.

The engine renders with its own Python (classic backend, no model files); Blender (this bpy) keys,
composites and renders; OIIO (``host_media.py layers``) reads both sides' files back as float32, so
the comparisons below set Blender's output against the engine's own layers, not against our decoder.
Measured on bpy 5.0.1 and 4.2.23: every key equals the engine's coverage to float precision, and the
node's eyedropper names a picked id through the file's manifest.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
np = pytest.importorskip("numpy")
from vse_scene import all_strips, shown_scene, top_strips  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", REPO / ".venv" / "bin" / "python"))
FACES = ("face01", "face02")
SEQUENCER_MULTILAYER = (4, 4)
"""The sequencer of 4.2 and 4.3 shows no multilayer EXR (the add-on then sends plain RGBA, no Cryptomatte)."""


def _registration():
    spec = importlib.util.spec_from_file_location("vtoonify_registration", HERE / "registration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.registration


def _engine(*args, timeout: int = 240) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("BLENDER_USER_RESOURCES", None)
    env["VTOONIFY_MODELS"] = str(HERE / "no-such-models")  # the classic backend: no model files needed
    proc = subprocess.run([str(ENGINE_PYTHON), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=str(HERE))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def _render(source, out, *options) -> Path:
    _engine("-m", "engine", "render", source, "-o", out, "--backend", "classic", "--padding", "64,64,64,64",
            *options)
    return Path(out)


def read_layers(paths: list[Path], scratch: Path) -> list[dict]:
    """Each EXR's channels (float32 [H, W]) and header, read by OIIO in the engine's Python."""
    npz = scratch / f"layers_{len(list(scratch.glob('layers_*')))}.npz"
    headers = json.loads(_engine(HERE / "host_media.py", "layers", npz, *paths))
    data = np.load(npz)
    return [{"header": headers[str(p)], **{name: data[f"{i}:{name}"] for name in headers[str(p)]["channels"]}}
            for i, p in enumerate(paths)]


def face_boxes(header: dict) -> dict[str, tuple[int, int, int, int]]:
    """``vtoonify/faces`` (plate px) -> each face's pixel box x0, y0, x1, y1 (as the engine rounds it)."""
    boxes = {}
    for item in header["attributes"]["vtoonify/faces"].split(";"):
        name, values = item.split(":")
        left, top, right, bottom = (float(v) for v in values.split(","))
        boxes[name] = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
    return boxes


def key_in_compositor(exr: Path, size: tuple[int, int], names: list[str], out_dir: Path) -> tuple[str, list[Path]]:
    """Blender's Cryptomatte node (source Image; its layer found from the header) keys each name in
    turn; the node's Matte is rendered at ``size`` (the EXR's data window: a multilayer image reports
    no size before the compositor reads it) to a 32-bit EXR. Returns (the layer it found, the EXRs)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    image = bpy.data.images.load(str(exr), check_existing=False)
    width, height = size
    paths = []
    with shown_scene(f"keys_{exr.stem}", width, height, file_format="OPEN_EXR", color_depth="32") as scene:
        if hasattr(scene, "compositing_node_group"):  # 5.0: the compositor is a node group of the scene
            tree = bpy.data.node_groups.new(f"keys_{exr.stem}", "CompositorNodeTree")
            scene.compositing_node_group = tree
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            target = tree.nodes.new("NodeGroupOutput").inputs[0]
        else:  # 4.2
            scene.use_nodes = True
            tree = scene.node_tree
            for node in list(tree.nodes):
                tree.nodes.remove(node)
            target = tree.nodes.new("CompositorNodeComposite").inputs["Image"]
        node = tree.nodes.new("CompositorNodeCryptomatteV2")
        node.source = "IMAGE"
        node.image = image
        tree.links.new(node.outputs["Matte"], target)
        layer = node.layer_name
        for name in names:
            node.matte_id = name
            scene.render.filepath = str(out_dir / f"{exr.stem}.{name.replace('/', '_')}.exr")
            bpy.ops.render.render(write_still=True)
            paths.append(Path(scene.render.filepath))
        if hasattr(scene, "compositing_node_group"):
            bpy.data.node_groups.remove(tree)
    bpy.data.images.remove(image)
    return layer, paths


def pick_in_compositor(exr: Path, ids: list[float]) -> list[str]:
    """The Cryptomatte node's matte id after each picked pixel value (its eyedropper's ``add``): Blender
    names a picked id through the file's manifest."""
    image = bpy.data.images.load(str(exr), check_existing=False)
    picked = []
    with shown_scene(f"pick_{exr.stem}", 64, 64) as scene:
        if hasattr(scene, "compositing_node_group"):
            tree = bpy.data.node_groups.new(f"pick_{exr.stem}", "CompositorNodeTree")
            scene.compositing_node_group = tree
        else:
            scene.use_nodes = True
            tree = scene.node_tree
        node = tree.nodes.new("CompositorNodeCryptomatteV2")
        node.source = "IMAGE"
        node.image = image
        for value in ids:
            node.add = (value, 0.0, 0.0)
            picked.append(node.matte_id)
        if hasattr(scene, "compositing_node_group"):
            bpy.data.node_groups.remove(tree)
    bpy.data.images.remove(image)
    return picked


@pytest.fixture(scope="module")
def two_face_plates(media_dir, tmp_path_factory) -> Path:
    """1008x384 PNG frames 1-4: a still portrait left (face01), one moving 2 px left a frame right (face02)."""
    folder = tmp_path_factory.mktemp("two_faces")
    _engine(HERE / "host_media.py", "two-faces", media_dir, folder)
    return folder


def test_compositor_keys_each_face_by_name_on_every_frame_as_the_engine_matted_it(two_face_plates, tmp_path):
    out = _render(two_face_plates / "two.####.png", tmp_path / "out", "--faces", "all", "--mattes", "--cryptomatte")
    frames = [out / f"two.{f:04d}.exr" for f in range(1, 5)]
    engine = read_layers(frames, tmp_path)
    keyed = []
    for exr, frame in zip(frames, engine):
        layer, paths = key_in_compositor(exr, frame["header"]["window"][2:], list(FACES), tmp_path / "keys")
        assert layer == "CryptoFace"                                    # found from the header alone
        keyed.extend(paths)
    blender = read_layers(keyed, tmp_path)
    centres = {name: [] for name in FACES}
    for f, frame in enumerate(engine):
        header = frame["header"]
        x, y, w, h = header["window"]
        assert header["display"] == [0, 0, 1008, 384] and (w, h) != (1008, 384)   # a face-sized data window
        crypto = [c for c in header["channels"] if c.startswith("CryptoFace")]
        assert crypto == [f"CryptoFace{i:02d}.{c}" for i in range(3) for c in "RGBA"]
        assert {header["formats"][header["channels"].index(c)] for c in crypto} == {"float"}
        boxes = face_boxes(header)
        assert boxes["face01"][2] < 500 < boxes["face02"][0]            # face01 is the left portrait
        alpha = frame["A"]
        total = np.zeros_like(alpha)
        for name, matte in zip(FACES, blender[2 * f:2 * f + 2]):
            key = matte["R"]
            assert key.shape == (h, w)          # Blender reads the data window as the image (no offset)
            x0, y0, x1, y1 = boxes[name]
            inside = np.zeros_like(alpha, bool)
            inside[y0 - y:y1 - y, x0 - x:x1 - x] = True
            own = np.where(inside, alpha, 0.0)  # the engine's matte of this face: its share of the alpha
            assert np.abs(key - own).max() < 2e-3, (f + 1, name)         # half-float alpha vs float coverage
            solid, mine = key > 0.5, own > 0.5
            assert (solid & mine).sum() / (solid | mine).sum() > 0.999, (f + 1, name)
            for cls in ("skin", "nose"):                                 # its class mattes lie within its key
                plane = frame[f"matte.{name}_{cls}"]
                assert plane[~inside].max() == 0.0 and plane[inside].max() > 0.5 and (plane <= key + 2e-3).all()
            ys, xs = np.nonzero(key > 0.99)
            centres[name].append((xs.mean() + x, ys.mean() + y))
            total += key
        assert np.abs(total - alpha).max() < 2e-3                        # the two ids together are the alpha
    # the eyedropper: a pixel's rank-0 id (read from the file, not hashed here) is named by the manifest
    x, y = engine[0]["header"]["window"][:2]
    ids = [float(engine[0]["CryptoFace00.R"][round(cy) - y, round(cx) - x])
           for cx, cy in (centres["face01"][0], centres["face02"][0])]
    assert pick_in_compositor(frames[0], ids) == ["face01", "face01,face02"]
    for name in FACES:  # fixed crops: each id stays on its own face, frame after frame (never swapped)
        spread = np.ptp(np.array(centres[name]), axis=0)
        assert spread.max() < 0.5, (name, centres[name])
    assert centres["face01"][0][0] < 500 < centres["face02"][0][0]


def test_each_face_of_a_two_face_render_sits_on_its_plate_pixels_in_the_sequencer(two_face_plates, tmp_path):
    """As the add-on renders for Blender: full data window; multilayer with Cryptomatte from 4.4, plain
    RGBA beside matte files on 4.2/4.3. The sequencer composites the EXR over the PNG plate; per face, the edges
    of the stylized face are phase-correlated with the plate's (measured on 4.2.23 and 5.0.1: face01
    (0.05, 0.02) px, face02 at most (-0.17, -0.08) px)."""
    registration = _registration()
    layered = bpy.app.version[:2] >= SEQUENCER_MULTILAYER
    extra = ["--cryptomatte"] if layered else ["--matte-files", "--no-matte-layers"]
    out = _render(two_face_plates / "two.####.png", tmp_path / "out", "--faces", "all", "--mattes",
                  "--data-window", "full", "--frames", "3-4", *extra)
    with shown_scene("faces_over_plate", 1008, 384, color_mode="RGBA", color_depth="16") as scene:
        strips = top_strips(scene.sequence_editor)
        plate = strips.new_image("plate", str(two_face_plates / "two.0003.png"), 1, 3)
        plate.elements.append("two.0004.png")
        result = strips.new_image("result", str(out / "two.0003.exr"), 2, 3)
        result.elements.append("two.0004.exr")
        result.blend_type = "ALPHA_OVER"
        for frame in (3, 4):
            renders = {}
            for show in ("plate", "result"):
                for strip in all_strips(scene.sequence_editor):
                    strip.mute = strip.name != show
                scene.frame_set(frame)
                scene.render.filepath = str(tmp_path / f"{show}_{frame}.png")
                bpy.ops.render.render(write_still=True)
                image = bpy.data.images.load(scene.render.filepath, check_existing=False)
                pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
                image.pixels.foreach_get(pixels)
                renders[show] = pixels.reshape(384, 1008, 4)[::-1]
                bpy.data.images.remove(image)
            header = read_layers([out / f"two.{frame:04d}.exr"], tmp_path)[0]["header"]
            for name, (x0, y0, x1, y1) in face_boxes(header).items():
                one = renders["result"].copy()
                keep = np.zeros(one.shape[:2], bool)
                keep[y0:y1, x0:x1] = True
                one[~keep] = 0.0                                       # this face alone
                assert (one[..., 3] > 0.99).sum() > 1000, (frame, name)
                dx, dy, _ = registration(renders["plate"], one)["all"]
                print(f"{bpy.app.version_string} frame {frame} {name}: ({dx:.3f}, {dy:.3f}) px")
                limit = 0.25 if name == "face01" else 0.4  # face02's window is 68 px (measured: under 0.2)
                assert abs(dx) < limit and abs(dy) < limit, (frame, name, dx, dy)


def test_blender_keys_the_class_mattes_and_carries_the_source_timecode_text(media_dir, tmp_path):
    """A farm chunk (frames 10-12) of a 24 fps MOV whose tmcd starts at 01:00:10:05: frame N is labelled
    start + N - 1. Blender reads no EXR ``timeCode`` (no image or strip property holds one; its EXR reader
    keeps only text headers), so the label a Blender user sees is the ``vtoonify/timecode`` text, which
    the sequencer passes to its own renders with Metadata > Use Strip Metadata (4.2: of plain RGBA EXRs
    only, as its sequencer shows no multilayer EXR)."""
    mov = tmp_path / "tc24.mov"
    _engine(HERE / "host_media.py", "tc-mov", media_dir / "7154235.mp4", mov, "01:00:10:05", "24", 12)
    out = _render(mov, tmp_path / "out", "--frames", "10-12", "--mattes", "--cryptomatte", "--matte-classes",
                  "skin,nose")
    exr = out / "tc24.0010.exr"
    size = read_layers([exr], tmp_path)[0]["header"]["window"][2:]
    layer, keys = key_in_compositor(exr, size, ["face/skin", "face/nose", "face/skin,face/nose"], tmp_path / "keys")
    assert layer == "CryptoFace"
    shown = exr  # 4.2/4.3's sequencer shows no multilayer EXR: there the add-on asks for plain RGBA
    if bpy.app.version[:2] < SEQUENCER_MULTILAYER:
        shown = _render(mov, tmp_path / "plain", "--frames", "10") / "tc24.0010.exr"
    with shown_scene("timecode", 320, 288, file_format="OPEN_EXR") as scene:
        strip = top_strips(scene.sequence_editor).new_image("tc", str(shown), 1, 1)
        assert not [p.identifier for p in strip.bl_rna.properties if "timecode" in p.identifier.lower()]
        scene.render.metadata_input = "STRIPS"
        scene.frame_set(1)
        scene.render.filepath = str(tmp_path / "vse.exr")
        bpy.ops.render.render(write_still=True)
    engine, skin, nose, both, vse = read_layers([exr, *keys, tmp_path / "vse.exr"], tmp_path)
    attributes = engine["header"]["attributes"]
    assert attributes["smpte:TimeCode"] == "01:00:10:14" and attributes["framesPerSecond"] == "24/1"
    assert attributes["vtoonify/timecode"] == "01:00:10:14"
    for key, plane in ((skin, engine["matte.skin"]), (nose, engine["matte.nose"]),
                       (both, engine["matte.skin"] + engine["matte.nose"])):
        assert key["R"].shape == plane.shape and plane.max() > 0.5
        assert np.abs(key["R"] - plane).max() < 2e-3                     # half-float mattes vs float coverage
    assert vse["header"]["attributes"]["vtoonify/timecode"] == "01:00:10:14"
