"""Several faces per shot (``faces=all``): tracks, per-face crops, mattes, Cryptomatte ids, farm chunks.

The plate puts two real portraits of the shared media side by side (real faces, synthetic layout);
the right one enters on frame 2 and moves 2 px left per frame, so linking has an entrance and motion.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.face.tracks import choose_tracks, link_tracks, sample_frames
from engine.io import open_source, read_image, write_png
from engine.io.colour import linear_to_srgb
from engine.io.cryptomatte import decode
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import prepare, render
from engine.pipeline.shot import job_key

from .test_plate_registration import read_float as _read
from .test_plate_registration import registration

SMALL = (64, 64, 64, 64)
FRAMES = 4


def _portrait(media_dir, name: str) -> np.ndarray:
    with open_source(str(media_dir / name)) as src:
        return src.read(src.frame_numbers[0])


@pytest.fixture(scope="module")
def two_faces(media_dir, tmp_path_factory) -> str:
    """A 4-frame PNG sequence 1008x384: one portrait left, one right (from frame 2, moving)."""
    folder = tmp_path_factory.mktemp("two_faces")
    left, right = _portrait(media_dir, "077436.jpg"), _portrait(media_dir, "038648.jpg")
    for frame in range(1, FRAMES + 1):
        canvas = np.full((384, 1008, 3), 90, np.uint8)
        canvas[:375, :500] = left
        shift = 2 * (frame - 1)
        if frame > 1:
            canvas[20:353, 508 - shift:1008 - shift] = right
        write_png(folder / f"two.{frame:04d}.png", canvas)
    return str(folder / "two.####.png")


def _config(source: str, output, **extra) -> RenderConfig:
    return RenderConfig(source=source, output=str(output), backend="classic", faces="all", mattes=True,
                        cryptomatte=True, padding=SMALL, **extra)


@pytest.fixture(scope="module")
def full_render(two_faces, tmp_path_factory):
    out = tmp_path_factory.mktemp("faces_full")
    result = render(_config(two_faces, out))
    return out, result


# -- linking (pure) ------------------------------------------------------------------------------------

def _face(box):
    return box, np.zeros((68, 2), np.int64)


def test_tracks_follow_motion_and_ids_go_by_first_appearance_then_left_to_right():
    a, b, c = (100, 50, 200, 150), (400, 60, 480, 140), (700, 40, 800, 140)
    detections = [
        (10, [_face(b), _face(a)]),                                   # dlib order is not left to right
        (20, [_face((130, 50, 230, 150)), _face((405, 60, 485, 140))]),  # a moved 30 px (IoU 0.54)
        (30, [_face((360, 20, 540, 200)), _face(c), _face((160, 50, 260, 150))]),  # b zoomed: IoU 0.198,
    ]                                                                  # linked by its centre
    tracks, notes = choose_tracks(link_tracks(detections), 8, {10: 0, 20: 1, 30: 2})
    assert notes == []
    assert [t.first.box for t in tracks] == [a, b, c]                 # face01 left, face02 right, face03 late
    assert [[s.frame for s in t.sightings] for t in tracks] == [[10, 20, 30], [10, 20, 30], [30]]
    assert tracks[0].last.box == (160, 50, 260, 150) and tracks[1].last.box == (360, 20, 540, 200)
    kept, notes = choose_tracks(link_tracks(detections), 2, {10: 0, 20: 1, 30: 2})
    assert [t.first.box for t in kept] == [a, b] and "3 faces" in notes[0]


def test_crossing_faces_keep_their_tracks_while_the_one_in_front_hides_the_other():
    """dlib's boxes (one jittery) of two faces walking past each other: face 2 (in front, moving left)
    hides face 1 on frames 9-12. Compared with the last box only, face 2's box on frame 12 lies nearer
    where face 1 was last seen, face 1 took it (an identity swap) and came back as a third face."""
    from engine.face.follow import link_to_seeds

    boxes = {6: [(666, 98, 820, 253), (270, 81, 425, 236)], 7: [(631, 98, 786, 253), (304, 81, 459, 236)],
             9: [(562, 98, 717, 253)], 10: [(528, 98, 683, 253)], 11: [(494, 116, 648, 270)],
             12: [(459, 98, 614, 253)], 14: [(373, 98, 528, 253), (562, 81, 717, 236)]}
    detections = [(frame, [_face(b) for b in found]) for frame, found in boxes.items()]
    tracks = link_tracks(detections)
    assert [[s.box[0] for s in t.sightings] for t in tracks] == [[270, 304, 562], [666, 631, 562, 528, 494, 459, 373]]
    frames = list(range(6, 15))
    seeds = [(6, (270, 81, 425, 236)), (6, (666, 98, 820, 253))]
    marked = {frame: [(b, np.full((68, 2), b[0])) for b in found] for frame, found in boxes.items()}
    first, second = link_to_seeds(frames, marked, seeds)
    assert {f: int(p[0, 0]) for f, p in first.items()} == {6: 270, 7: 304, 14: 562}
    assert {f: int(p[0, 0]) for f, p in second.items()} == {6: 666, 7: 631, 9: 562, 10: 528, 11: 494, 12: 459, 14: 373}


def test_overlapping_faces_paint_the_larger_on_top_and_hold_out_the_one_behind():
    from engine.face import CropParams
    from engine.pipeline.backends import Stylized
    from engine.pipeline.multiface import composite_faces, paint_order
    from engine.pipeline.placement import plan_plate_placement

    crops = [CropParams(h=200, w=200, top=40, bottom=120, left=40, right=120, scale=1.0),    # big, face01
             CropParams(h=200, w=200, top=64, bottom=96, left=96, right=128, scale=1.0)]     # small, overlaps
    results = [Stylized(np.full((4 * (c.bottom - c.top), 4 * (c.right - c.left), 3), v, np.float32),
                        {"skin": np.ones((4 * (c.bottom - c.top), 4 * (c.right - c.left)), np.float32)})
               for c, v in zip(crops, (0.25, 0.75))]
    placements = [plan_plate_placement(c, (200, 200), 1.0, r.rgb.shape[1::-1]) for c, r in zip(crops, results)]
    assert paint_order(placements) == [1, 0]                            # the small face first, the big on top
    frame = composite_faces(["face01", "face02"], results, placements, ("skin",))
    assert frame.window == (40, 40, 128, 120)                           # the union of the two boxes
    inside_both = (80 - 40, 110 - 40)                                   # (y, x) where both are solid
    assert frame.rgba[inside_both] == pytest.approx([0.25, 0.25, 0.25, 1.0])
    assert frame.coverage["face01"][inside_both] == 1.0 and frame.coverage["face02"][inside_both] == 0.0
    assert frame.mattes["face02_skin"][inside_both] == 0.0 and list(frame.mattes) == ["face01_skin", "face02_skin"]
    only_small = (80 - 40, 126 - 40)
    assert frame.coverage["face02"][only_small] > 0 and frame.coverage["face01"][only_small] == 0
    assert np.abs(frame.coverage["face01"] + frame.coverage["face02"] - frame.rgba[..., 3]).max() < 1e-6


def test_sampled_frames_span_the_shot_from_the_first_face():
    assert sample_frames(list(range(1, 101)), 9, 4) == [10, 40, 70, 100]
    assert sample_frames([1, 2, 3], 1, 16) == [2, 3]


# -- classic renders on the two-face plate ------------------------------------------------------------

def test_two_faces_get_stable_ids_own_crops_and_a_version_2_sidecar(full_render):
    out, result = full_render
    sidecar = json.loads((out / "two.vtoonify.json").read_text())
    assert sidecar["version"] == 2 and result.rendered == FRAMES
    faces = sidecar["faces"]
    assert [f["name"] for f in faces] == ["face01", "face02"] and [f["id"] for f in faces] == [1, 2]
    assert faces[0]["box"][2] < 500 < faces[1]["box"][0]              # face01 is the left portrait
    assert [f["frame"] for f in faces] == [1, 2]                       # face02 enters on frame 2: its crop
    assert [f["seen"] for f in faces] == [FRAMES, FRAMES - 1]          # linked on every frame it is in
    assert faces[0]["crop"]["scale"] != faces[1]["crop"]["scale"]     # each its own official crop rule
    assert sidecar["crop"] == faces[0]["crop"] and sidecar["face_frame"] == faces[0]["frame"] == 1


def test_each_face_is_placed_over_its_own_face_with_its_mattes_and_cryptomatte_id(full_render, two_faces):
    out, _ = full_render
    sidecar = json.loads((out / "two.vtoonify.json").read_text())
    pixels, spec = _read(out / "two.0003.exr")
    names = list(spec.channelnames)
    w, h = sidecar["source_size"]
    # data window = union of the two face boxes (each computed as a one-face job places its crop)
    boxes = []
    for face in sidecar["faces"]:
        c = face["crop"]
        sx, sy = w / c["w"], h / c["h"]
        boxes.append((int(np.floor(c["left"] * sx)), int(np.floor(c["top"] * sy)),
                      min(w, int(np.ceil(c["right"] * sx))), min(h, int(np.ceil(c["bottom"] * sy)))))
    union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    assert (spec.x, spec.y, spec.x + spec.width, spec.y + spec.height) == union
    assert (spec.full_width, spec.full_height) == (w, h)
    manifest = json.loads(next(a.value for a in spec.extra_attribs if a.name.endswith("/manifest")))
    assert sorted(manifest) == ["face01", "face02"]
    crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
    alpha = pixels[..., 3]
    full = np.zeros((h, w, 3), np.float32)
    plate = open_source(two_faces).read(3).astype(np.float32) / 255.0
    rgb = np.where(alpha[..., None] > 1e-4, pixels[..., :3] / np.maximum(alpha[..., None], 1e-4), 0.0)
    full[spec.y:spec.y + spec.height, spec.x:spec.x + spec.width] = linear_to_srgb(rgb)
    total = np.zeros_like(alpha)
    for face, (x0, y0, x1, y1) in zip(sidecar["faces"], boxes):
        coverage = decode(crypto, face["name"])
        total += coverage
        inside = np.zeros_like(alpha, bool)
        inside[y0 - spec.y:y1 - spec.y, x0 - spec.x:x1 - spec.x] = True
        assert coverage[~inside].max() == 0.0 and coverage[inside].max() > 0.99
        skin = pixels[..., names.index(f"matte.{face['name']}_skin")]
        assert skin[~inside].max() == 0.0 and 0.05 < skin[inside].mean() < 0.95
        ys, xs = np.nonzero(coverage > 0.99)                        # this face's solid part, inside the feather
        inner = (xs.min() + spec.x + 8, ys.min() + spec.y + 8, xs.max() + spec.x - 8, ys.max() + spec.y - 8)
        dx, dy = registration(full, plate, inner)
        # face02 is small (a 42 px window): a one-face job of that portrait alone measures (0.54, -0.27)
        limit = 0.25 if face["name"] == "face01" else 0.75
        assert abs(dx) < limit and abs(dy) < limit, f"{face['name']} sits ({dx:.2f}, {dy:.2f}) px off its face"
    assert np.abs(total - alpha).max() < 2e-3                           # the ids together are the alpha


def test_farm_chunks_match_one_full_render(full_render, two_faces, tmp_path):
    out, _ = full_render
    config = _config(two_faces, tmp_path)
    prepared = prepare(config)
    assert prepared.analysed and prepared.to_dict()["faces"] == [
        {"name": "face01", "frame": 1, "style_code": None}, {"name": "face02", "frame": 2, "style_code": None}]
    for frames in ("1-2", "3-4"):
        chunk = render(RenderConfig(**{**config.to_dict(), "frames": frames}))
        assert not chunk.analysed                                       # the chunk reused the sidecar
    assert (tmp_path / "two.vtoonify.json").read_text() == (out / "two.vtoonify.json").read_text()
    for frame in range(1, FRAMES + 1):
        assert np.array_equal(read_image(tmp_path / f"two.{frame:04d}.exr"),
                              read_image(out / f"two.{frame:04d}.exr")), frame
    # a hand-edited face crop is never trusted: the shot is analysed again, to the same faces
    path = tmp_path / "two.vtoonify.json"
    edited = json.loads(path.read_text())
    edited["faces"][1]["crop"]["left"] += 8
    path.write_text(json.dumps(edited))
    assert prepare(config).analysed
    assert path.read_text() == (out / "two.vtoonify.json").read_text()


def test_one_face_mode_keeps_its_key_sidecar_and_the_last_face(two_faces, tmp_path):
    one = RenderConfig(source=two_faces, output=str(tmp_path), backend="classic", padding=SMALL, frames="1")
    assert job_key(one, "classic", {}) == job_key(RenderConfig(**{**one.to_dict(), "max_faces": 3}), "classic", {})
    assert job_key(one, "classic", {}) != job_key(RenderConfig(**{**one.to_dict(), "faces": "all"}), "classic", {})
    render(one)
    sidecar = json.loads((tmp_path / "two.vtoonify.json").read_text())
    assert sidecar["version"] == 1 and "faces" not in sidecar
    assert max(x for x, _ in sidecar["landmarks"]) < 500 and sidecar["face_frame"] == 1  # frame 1's one face
    _, spec = _read(tmp_path / "two.0001.exr")
    assert spec.getattribute("vtoonify/faces") is None and "matte.skin" not in spec.channelnames


def test_crop_output_space_with_several_faces_is_refused():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="a crop output holds one face") as caught:
        RenderConfig(source="a.mp4", output="o", faces="all", output_space="crop")
    assert "--output-space plate" in caught.value.fix


@pytest.mark.slow
def test_narrow_vtoonify_gives_each_face_its_own_style_code_and_chunks_reuse_them(two_faces, narrow_models_dir,
                                                                                   tmp_path):
    from engine.pipeline.modelcache import ModelCache

    def config(out, frames):
        return RenderConfig(source=two_faces, output=str(out), frames=frames, models_dir=str(narrow_models_dir),
                            style="narrow48", backend="vtoonify", faces="all", mattes=True, cryptomatte=True,
                            padding=(32, 32, 32, 32))

    full = render(config(tmp_path / "full", "3-4"))
    assert full.backend == "vtoonify" and full.rendered == 2
    sidecar = json.loads((tmp_path / "full" / "two.vtoonify.json").read_text())
    codes = [torch.load(tmp_path / "full" / f["style_code"], weights_only=True) for f in sidecar["faces"]]
    assert [f["style_code"] for f in sidecar["faces"]] == ["two.vtoonify.face01.style.pt",
                                                           "two.vtoonify.face02.style.pt"]
    assert all(c.shape == (1, 18, 48) and torch.isfinite(c).all() for c in codes)
    assert (codes[0] - codes[1]).abs().max() > 1e-3                    # pSp of two different faces
    pixels, spec = _read(tmp_path / "full" / "two.0004.exr")
    names = list(spec.channelnames)
    assert {"matte.face01_hair", "matte.face01_skin", "matte.face02_hair", "matte.face02_skin"} <= set(names)
    crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
    split = 500 - spec.x                                                # the portraits meet at x = 500
    assert decode(crypto, "face01")[:, split:].max() == 0.0 and decode(crypto, "face01").max() > 0.99
    assert decode(crypto, "face02")[:, :split].max() == 0.0 and decode(crypto, "face02").max() > 0.99
    # face02's pixels are its crop through ITS network (face01's code gives other pixels there)
    from engine.face import CropParams, scale_and_crop
    from engine.io import srgb_to_linear
    from engine.pipeline.placement import place_rgba, plan_plate_placement
    from engine.pipeline.selection import make_backend
    from engine.pipeline.shot import ShotAnalysis

    cache = ModelCache("cpu")
    backend, _ = make_backend(config(tmp_path / "full", "3-4"), cache)
    backend.prepare(ShotAnalysis.from_dict(sidecar), codes)
    crop = CropParams.from_dict(sidecar["faces"][1]["crop"])
    face02 = decode(crypto, "face02") > 0.999
    for net, expect_match in ((1, True), (0, False)):
        result = backend.stylize([scale_and_crop(open_source(two_faces).read(4), crop)], face=net)[0]
        placement = plan_plate_placement(crop, tuple(sidecar["source_size"]), 1.0, result.rgb.shape[1::-1])
        x0, y0, x1, y1 = placement.window
        own = np.zeros_like(pixels[..., :4])
        own[y0 - spec.y:y1 - spec.y, x0 - spec.x:x1 - spec.x] = place_rgba(srgb_to_linear(result.rgb), placement)
        error = np.abs(own[face02][:, :3] - pixels[face02][:, :3]).max()
        assert (error < 4e-3) == expect_match, (net, error)             # half-float rounding only
    prepare(config(tmp_path / "chunks", "3-4"), models=cache)
    chunk = render(config(tmp_path / "chunks", "4"), models=cache)
    assert not chunk.analysed and cache.stats()["loads"].get("encoder:" + narrow_models_dir.name + "/encoder.pt") == 1
    assert np.array_equal(read_image(tmp_path / "chunks" / "two.0004.exr"),
                          read_image(tmp_path / "full" / "two.0004.exr"))


def test_cli_png_with_matte_files_per_face_and_one_line_errors(two_faces, tmp_path, empty_models_dir):
    from .test_cli import run_cli

    env = {"VTOONIFY_MODELS": str(empty_models_dir)}
    out = tmp_path / "png"
    job = [two_faces, "-o", out, "--frames", "3", "--faces", "all", "--max-faces", "2", "--format", "png",
           "--mattes", "--matte-files", "--matte-classes", "skin", "--padding", "64,64,64,64"]
    prepared = run_cli("prepare", *job, env_extra=env)                 # a farm's once-per-job step
    assert prepared.returncode == 0, prepared.stderr
    assert "shot analysed: 2 faces (face01 from frame 1, face02 from frame 2)" in prepared.stdout
    done = run_cli("render", *job, env_extra=env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["two.0003.png", "two.matte_face01_skin.0003.png",
                                                         "two.matte_face02_skin.0003.png"]
    beauty = read_image(out / "two.0003.png")
    for name, side in (("face01", slice(0, 500)), ("face02", slice(500, None))):
        skin = read_image(out / f"two.matte_{name}_skin.0003.png")
        assert skin.shape[:2] == beauty.shape[:2] == (384, 1008)
        other = slice(500, None) if side.start == 0 else slice(0, 500)
        assert skin[:, side].max() > 0.9 and skin[:, other].max() == 0.0
    refused = run_cli("render", two_faces, "-o", tmp_path / "crop", "--faces", "all", "--output-space", "crop",
                      env_extra=env)
    assert refused.returncode == 2 and "a crop output holds one face" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "crop").exists()


def test_submit_fields_pass_through_and_bad_values_name_the_field():
    from engine.errors import ConfigError

    settings = {"source": "a.mp4", "output": "o", "faces": "all", "max_faces": 3}
    config = RenderConfig.from_dict(settings)
    assert (config.faces, config.max_faces) == ("all", 3) and RenderConfig.unknown_keys(settings) == []
    with pytest.raises(ConfigError, match="max_faces"):
        RenderConfig.from_dict({**settings, "max_faces": "3"})
    with pytest.raises(ConfigError, match="unknown faces mode 'every'"):
        RenderConfig.from_dict({**settings, "faces": "every"})
    with pytest.raises(ConfigError, match="max faces 0"):
        RenderConfig.from_dict({**settings, "max_faces": 0})


def test_ids_and_mattes_stay_with_their_faces_on_every_frame(full_render):
    """Never swapped: face01's id and mattes stay on the still left portrait, face02's on the right one,
    whose nose matte moves with it (2 px left a frame) inside its fixed crop (the skin matte fills the
    tight crop, so its edge is the crop's, not the face's)."""
    out, _ = full_render
    nose_x = {"face01": [], "face02": []}
    for frame in range(1, FRAMES + 1):
        pixels, spec = _read(out / f"two.{frame:04d}.exr")
        names = list(spec.channelnames)
        crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
        split = 500 - spec.x                                            # the portraits meet at x = 500
        for name, own, other in (("face01", slice(0, split), slice(split, None)),
                                 ("face02", slice(split, None), slice(0, split))):
            coverage = decode(crypto, name)
            skin = pixels[..., names.index(f"matte.{name}_skin")]
            assert coverage[:, other].max() == 0.0 and skin[:, other].max() == 0.0, (frame, name)
            if name == "face01" or frame > 1:                           # face02 enters on frame 2
                assert coverage[:, own].max() > 0.99 and skin[:, own].max() > 0.5, (frame, name)
                assert (skin <= coverage + 2e-3).all()
                nose = pixels[..., names.index(f"matte.{name}_nose")]
                nose_x[name].append(spec.x + (np.nonzero(nose > 0.5)[1]).mean())
    assert np.ptp(nose_x["face01"]) < 0.25                               # the still face's matte holds still
    steps = np.diff(nose_x["face02"])
    assert (np.abs(steps + 2.0) < 0.5).all(), steps                      # the moving face's matte follows it
