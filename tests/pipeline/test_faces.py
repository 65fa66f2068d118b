"""Several faces per shot (``faces=all``): tracks, per-face crops, mattes, Cryptomatte ids, farm chunks.

The plate puts two real portraits of the shared media side by side (real faces, synthetic layout);
the right one moves 2 px left per frame, so linking has motion to follow.
"""

from __future__ import annotations

import json

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.face.tracks import choose_tracks, link_tracks, sample_frames
from engine.io import open_source, read_image, write_png
from engine.io.colour import linear_to_srgb
from engine.io.cryptomatte import decode
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import prepare, render
from engine.pipeline.shot import job_key

from .test_plate_registration import registration

SMALL = (64, 64, 64, 64)
FRAMES = 4


def _portrait(media_dir, name: str) -> np.ndarray:
    with open_source(str(media_dir / name)) as src:
        return src.read(src.frame_numbers[0])


@pytest.fixture(scope="module")
def two_faces(media_dir, tmp_path_factory) -> str:
    """A 4-frame PNG sequence 1008x384: one portrait left, one right (moving)."""
    folder = tmp_path_factory.mktemp("two_faces")
    left, right = _portrait(media_dir, "077436.jpg"), _portrait(media_dir, "038648.jpg")
    for frame in range(1, FRAMES + 1):
        canvas = np.full((384, 1008, 3), 90, np.uint8)
        canvas[:375, :500] = left
        shift = 2 * (frame - 1)
        canvas[20:353, 508 - shift:1008 - shift] = right
        write_png(folder / f"two.{frame:04d}.png", canvas)
    return str(folder / "two.####.png")


def _config(source: str, output, **extra) -> RenderConfig:
    return RenderConfig(source=source, output=str(output), backend="classic", faces="all", mattes=True,
                        cryptomatte=True, padding=SMALL, **extra)


def _read(path):
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        return inp.read_image(format="float"), inp.spec()
    finally:
        inp.close()


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
    assert [f["seen"] for f in faces] == [FRAMES, FRAMES]             # both linked on every sampled frame
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
    assert prepared.analysed
    for frames in ("1-2", "3-4"):
        chunk = render(RenderConfig(**{**config.to_dict(), "frames": frames}))
        assert not chunk.analysed                                       # the chunk reused the sidecar
    assert (tmp_path / "two.vtoonify.json").read_text() == (out / "two.vtoonify.json").read_text()
    for frame in range(1, FRAMES + 1):
        assert np.array_equal(read_image(tmp_path / f"two.{frame:04d}.exr"),
                              read_image(out / f"two.{frame:04d}.exr")), frame


def test_one_face_mode_keeps_its_key_sidecar_and_the_last_face(two_faces, tmp_path):
    one = RenderConfig(source=two_faces, output=str(tmp_path), backend="classic", padding=SMALL, frames="1")
    assert job_key(one, "classic", {}) == job_key(RenderConfig(**{**one.to_dict(), "max_faces": 3}), "classic", {})
    assert job_key(one, "classic", {}) != job_key(RenderConfig(**{**one.to_dict(), "faces": "all"}), "classic", {})
    render(one)
    sidecar = json.loads((tmp_path / "two.vtoonify.json").read_text())
    assert sidecar["version"] == 1 and "faces" not in sidecar
    assert max(x for x, _ in sidecar["landmarks"]) < 500              # the last face dlib finds: the left one
    assert "shows 2 faces" in sidecar["warnings"][0]


def test_crop_output_space_with_several_faces_is_refused():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="a crop output holds one face") as caught:
        RenderConfig(source="a.mp4", output="o", faces="all", output_space="crop")
    assert "--output-space plate" in caught.value.fix
