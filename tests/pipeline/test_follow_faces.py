"""``--follow-faces``: each face's crop follows its face over the shot, positions stored once per shot.

The plates are real portraits of the shared media on a grey canvas (real faces, synthetic motion): one
slides 30 px right per frame; in another a still face jitters by one pixel; in a third a still face
stands beside one that slides left. Measured: where the stylized box sits against the true face,
that the stylized pixels stay registered to the plate, chunked == whole, and identical pixels for a
still face.
"""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest

from engine.cli import _config_from_args, build_parser
from engine.errors import ConfigError
from engine.face import find_landmarks
from engine.face.follow import eye_centre
from engine.io import open_source, read_image, write_png
from engine.io.colour import linear_to_srgb
from engine.io.cryptomatte import decode
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import prepare, render
from engine.pipeline.shot import job_key, job_settings, pixel_config

from .test_plate_registration import read_float as _read
from .test_plate_registration import registration

SMALL = (64, 64, 64, 64)
SLIDE = 30
"""Source px the sliding portrait moves right per frame."""
FRAMES = 8


def _portrait(media_dir, name: str) -> np.ndarray:
    with open_source(str(media_dir / name)) as src:
        return src.read(src.frame_numbers[0])


def _sequence(folder, stem: str, canvases: list[np.ndarray]) -> str:
    for frame, canvas in enumerate(canvases, 1):
        write_png(folder / f"{stem}.{frame:04d}.png", canvas)
    return str(folder / f"{stem}.####.png")


@pytest.fixture(scope="module")
def slide(media_dir, tmp_path_factory):
    """(pattern, eye centre (x, y) on frame 1): 800x400, the portrait 30 px further right each frame."""
    face = _portrait(media_dir, "077436.jpg")  # 500x375
    canvases = []
    for frame in range(FRAMES):
        canvas = np.full((400, 800, 3), 90, np.uint8)
        canvas[:375, 20 + SLIDE * frame:520 + SLIDE * frame] = face
        canvases.append(canvas)
    centre = eye_centre(find_landmarks(canvases[0]))
    return _sequence(tmp_path_factory.mktemp("slide"), "slide", canvases), centre


def _config(source: str, output, **extra) -> RenderConfig:
    return RenderConfig(source=source, output=str(output), backend="classic", padding=SMALL, **extra)


@pytest.fixture(scope="module")
def followed(slide, tmp_path_factory):
    out = tmp_path_factory.mktemp("followed")
    return out, render(_config(slide[0], out, follow_faces=True, mattes=True, cryptomatte=True))


def _solid_centre(path) -> tuple[float, float]:
    """Centre of the fully opaque part of an EXR's alpha, in plate pixels."""
    pixels, spec = _read(path)
    ys, xs = np.nonzero(pixels[..., 3] > 0.99)
    return spec.x + (xs.min() + xs.max() + 1) / 2, spec.y + (ys.min() + ys.max() + 1) / 2


def test_the_crop_follows_a_sliding_face_and_stays_registered_to_the_plate(followed, slide):
    out, result = followed
    pattern, (ex, ey) = slide
    sidecar = json.loads((out / "slide.vtoonify.json").read_text())
    scale, step = sidecar["crop"]["scale"], sidecar["follow"]["step"]
    tolerance = 0.75 * step / scale + 1.5  # snapping (with hysteresis) in resized px, back in plate px
    assert result.rendered == FRAMES and step == 8
    windows = set()
    for frame in range(1, FRAMES + 1):
        path = out / f"slide.{frame:04d}.exr"
        cx, cy = _solid_centre(path)
        truth = ex + SLIDE * (frame - 1)
        assert abs(cx - truth) < tolerance and abs(cy - ey) < tolerance, (frame, cx, truth, cy, ey)
        pixels, spec = _read(path)
        windows.add(spec.x)
        names = list(spec.channelnames)
        alpha = pixels[..., 3]
        skin = pixels[..., names.index("matte.skin")]
        assert (skin <= alpha + 1e-3).all() and skin.max() > 0.5
        ys, xs = np.nonzero(skin > 0.5)
        assert abs(spec.x + xs.mean() - truth) < 30  # the skin matte moves with the face
        crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
        assert decode(crypto, "face/skin").max() > 0.5
        # registration is the promise: the stylized face lies on the plate's face, wherever the crop is
        plate = open_source(pattern).read(frame).astype(np.float32) / 255.0
        full = np.zeros_like(plate)
        rgb = np.where(alpha[..., None] > 1e-4, pixels[..., :3] / np.maximum(alpha[..., None], 1e-4), 0.0)
        full[spec.y:spec.y + spec.height, spec.x:spec.x + spec.width] = linear_to_srgb(rgb)
        ys, xs = np.nonzero(alpha > 0.99)
        inner = (xs.min() + spec.x + 8, ys.min() + spec.y + 8, xs.max() + spec.x - 8, ys.max() + spec.y - 8)
        dx, dy = registration(full, plate, inner)
        assert abs(dx) < 0.25 and abs(dy) < 0.25, (frame, dx, dy)
        box = [float(v) for v in spec.getattribute("vtoonify/crop_box").split(",")]
        assert abs((box[0] + box[2]) / 2 - cx) < 1.0  # the header names the frame's own crop
    assert len(windows) == FRAMES  # the data window moved on every frame (30 px a frame)


def test_without_follow_the_crop_stays_where_the_face_was_first_seen(slide, tmp_path):
    pattern, (ex, _) = slide
    render(_config(pattern, tmp_path, frames="1,8"))
    first, last = _solid_centre(tmp_path / "slide.0001.exr"), _solid_centre(tmp_path / "slide.0008.exr")
    assert first == last and abs(first[0] - ex) < 10  # the official rule: one fixed crop (floored to 8)
    assert "follow" not in json.loads((tmp_path / "slide.vtoonify.json").read_text())


def test_crop_output_of_a_following_crop_keeps_its_size_and_names_its_box(slide, tmp_path):
    render(_config(slide[0], tmp_path, follow_faces=True, output_space="crop", frames="1,8"))
    (first, spec1), (last, spec8) = _read(tmp_path / "slide.0001.exr"), _read(tmp_path / "slide.0008.exr")
    assert first.shape == last.shape == (512, 512, 4)  # the 4x crop of a 128 px crop, every frame
    box1, box8 = ([float(v) for v in s.getattribute("vtoonify/crop_box").split(",")] for s in (spec1, spec8))
    scale = json.loads((tmp_path / "slide.vtoonify.json").read_text())["crop"]["scale"]
    assert abs(box8[0] - box1[0] - 7 * SLIDE) < 0.75 * 8 / scale + 1.5 and box8[1] == box1[1]


def test_the_sidecar_carries_every_frames_position_and_chunks_match_one_whole_render(followed, slide, tmp_path):
    out, _ = followed
    whole = json.loads((out / "slide.vtoonify.json").read_text())
    face = whole["follow"]["faces"][0]
    assert face["size"] == [128, 128] and face["seen"] == FRAMES
    lefts = [left for _, left, _ in face["runs"]]
    assert face["runs"][0][0] == 1 and lefts == sorted(lefts) and lefts[-1] - lefts[0] > 150
    assert all(v % 8 == 0 for r in face["runs"] for v in r[1:])
    config = _config(slide[0], tmp_path, follow_faces=True, mattes=True, cryptomatte=True)
    assert prepare(config).analysed
    for frames in ("1-3", "4-8"):
        assert not render(RenderConfig(**{**config.to_dict(), "frames": frames})).analysed
    assert (tmp_path / "slide.vtoonify.json").read_text() == (out / "slide.vtoonify.json").read_text()
    for frame in range(1, FRAMES + 1):
        assert np.array_equal(read_image(tmp_path / f"slide.{frame:04d}.exr"),
                              read_image(out / f"slide.{frame:04d}.exr")), frame
    # hand-edited positions off the grid are never trusted: analysed again, to the same positions
    path = tmp_path / "slide.vtoonify.json"
    edited = json.loads(path.read_text())
    edited["follow"]["faces"][0]["runs"][1][1] += 3
    path.write_text(json.dumps(edited))
    assert prepare(config).analysed
    assert path.read_text() == (out / "slide.vtoonify.json").read_text()


def test_a_still_face_keeps_one_crop_and_gives_identical_pixels(media_dir, tmp_path):
    face = _portrait(media_dir, "077436.jpg")
    jitter = [0, 1, 0, 1, 1, 0]  # dlib's landmarks move with it; the crop must not
    canvases = []
    for dx in jitter:
        canvas = np.full((400, 640, 3), 90, np.uint8)
        canvas[10:385, 60 + dx:560 + dx] = face
        canvases.append(canvas)
    pattern = _sequence(tmp_path, "still", canvases)
    render(_config(pattern, tmp_path / "out", follow_faces=True, format="png"))
    sidecar = json.loads((tmp_path / "out" / "still.vtoonify.json").read_text())
    assert len(sidecar["follow"]["faces"][0]["runs"]) == 1
    frames = [read_image(tmp_path / "out" / f"still.{f:04d}.png") for f in range(1, 7)]
    assert np.array_equal(frames[0], frames[2]) and np.array_equal(frames[0], frames[5])
    assert np.array_equal(frames[1], frames[3]) and np.array_equal(frames[1], frames[4])
    alpha = [np.nonzero(f[..., 3].max(axis=0))[0] for f in frames]
    assert all(np.array_equal(a, alpha[0]) for a in alpha)  # the crop box holds still


def test_every_face_follows_its_own_face(media_dir, tmp_path):
    still, moving = _portrait(media_dir, "077436.jpg"), _portrait(media_dir, "038648.jpg")
    canvases = []
    for frame in range(5):
        canvas = np.full((384, 1100, 3), 90, np.uint8)
        canvas[:375, :500] = still
        x = 590 - 20 * frame
        canvas[20:353, x:x + 500] = moving
        canvases.append(canvas)
    truth = eye_centre(find_landmarks(canvases[0][:, 540:]))[0] + 540  # the moving face on frame 1
    pattern = _sequence(tmp_path, "pair", canvases)
    out = tmp_path / "out"
    render(_config(pattern, out, faces="all", follow_faces=True, mattes=True, cryptomatte=True))
    sidecar = json.loads((out / "pair.vtoonify.json").read_text())
    assert sidecar["version"] == 2 and [f["name"] for f in sidecar["faces"]] == ["face01", "face02"]
    first, second = sidecar["follow"]["faces"]
    assert len(first["runs"]) == 1 and len(second["runs"]) > 2  # face01 stands still, face02 walks left
    scale = sidecar["faces"][1]["crop"]["scale"]
    for frame in range(1, 6):
        pixels, spec = _read(out / f"pair.{frame:04d}.exr")
        names = list(spec.channelnames)
        crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
        coverage = decode(crypto, "face02")
        xs = np.nonzero(coverage > 0.99)[1]
        centre = spec.x + (xs.min() + xs.max() + 1) / 2
        expected = truth - 20 * (frame - 1)
        assert abs(centre - expected) < 0.75 * 8 / scale + 1.5, (frame, centre, expected)
        skin = pixels[..., names.index("matte.face02_skin")]
        assert skin[coverage == 0].max() == 0.0 and skin.max() > 0.5
        boxes = dict(item.split(":") for item in spec.getattribute("vtoonify/faces").split(";"))
        box = [float(v) for v in boxes["face02"].split(",")]
        assert abs((box[0] + box[2]) / 2 - centre) < 1.5


def test_the_per_frame_face_search_reports_progress_before_any_frame_renders(slide, tmp_path):
    events: list[dict] = []
    result = prepare(_config(slide[0], tmp_path / "out", follow_faces=True), on_event=events.append)
    assert result.analysed
    searched = [e for e in events if e.get("event") == "progress" and e.get("phase") == "analysis"]
    assert searched[0]["done"] == 0 and searched[-1]["done"] == searched[-1]["total"] == FRAMES
    assert searched[-1]["frame"] == FRAMES and searched[-1]["eta_s"] == 0.0 and searched[-1]["fps"] > 0
    assert all(a["done"] < b["done"] for a, b in itertools.pairwise(searched))
    assert set(searched[0]) == {"event", "phase", "done", "total", "frame", "fps", "eta_s", "skipped", "backend"}
    assert len({e["backend"] for e in searched}) == 1  # the backend the job resolved to, the same on every event
    events.clear()  # the sidecar is reused: no search, no analysis progress
    assert not prepare(_config(slide[0], tmp_path / "out", follow_faces=True), on_event=events.append).analysed
    assert not [e for e in events if e.get("phase") == "analysis"]


def test_search_progress_is_throttled_but_always_reports_the_first_and_last_frame():
    from engine.pipeline.following import SearchProgress

    now, sent = [0.0], []
    report = SearchProgress(sent.append, 100, interval_s=0.5, clock=lambda: now[0])
    for done in range(1, 101):
        now[0] += 0.125  # 8 frames a second: one event every 4 frames
        report(done, 1000 + done)
    assert [e["done"] for e in sent] == [0, 1] + list(range(5, 100, 4)) + [100]
    assert sent[-1]["fps"] == 8.0 and sent[-1]["frame"] == 1100 and sent[1]["eta_s"] == 12.4


def test_the_cli_bars_name_the_face_search():
    import io

    from engine.progress import OpenJDProgress, ProgressBar

    stream = io.StringIO()
    ProgressBar(stream)({"event": "progress", "phase": "analysis", "done": 4, "total": 4, "fps": 2.0, "eta_s": 0.0})
    assert "4/4 frames searched for faces" in stream.getvalue()
    stream = io.StringIO()
    openjd = OpenJDProgress(stream)
    for done in range(5):
        openjd({"event": "progress", "phase": "analysis", "done": done, "total": 4})
    openjd({"event": "progress", "done": 0, "total": 4})
    assert stream.getvalue().splitlines() == ["openjd_status: shot analysis: faces searched in 0/4 frames",
                                              "openjd_status: shot analysis: faces searched in 4/4 frames",
                                              "openjd_progress: 0.0"]


def test_follow_reaches_the_job_key_only_when_on_and_the_cli_sets_it(tmp_path):
    off = _config("a.####.png", tmp_path)
    on = RenderConfig(**{**off.to_dict(), "follow_faces": True})
    assert "follow_faces" not in job_settings(off, "classic", {})
    assert job_settings(on, "classic", {})["follow_faces"] is True
    assert job_key(off, "classic", {}) != job_key(on, "classic", {})
    assert job_key(off, "classic", {}) == job_key(RenderConfig(**{**off.to_dict(), "follow_faces": False}),
                                                  "classic", {})
    args = build_parser().parse_args(["render", "a.####.png", "-o", str(tmp_path), "--follow-faces"])
    assert _config_from_args(args).follow_faces is True
    assert RenderConfig.from_dict({"source": "a.png", "output": "o", "follow_faces": True}).follow_faces
    with pytest.raises(ConfigError) as refused:
        RenderConfig(**{**on.to_dict(), "smooth_parsing": True, "backend": "auto"})  # may resolve to the model
    assert "--smooth-parsing" in refused.value.message and "--follow-faces" in refused.value.fix
    assert "--backend classic" in refused.value.fix
    # classic parses no faces and ignores --smooth-parsing (warned, not in the job key): the pair renders
    classic = RenderConfig(**{**on.to_dict(), "smooth_parsing": True, "backend": "classic"})
    backend = SimpleNamespace(name="classic", precision="fp32")
    assert pixel_config(classic, backend) == pixel_config(on, backend)


@pytest.mark.slow
def test_the_vtoonify_step_shifts_the_output_exactly_and_a_still_face_repeats_its_pixels(narrow_models_dir,
                                                                                          media_dir, tmp_path):
    import torch

    from engine.face.follow import downsampling_factor
    from engine.models import load_vtoonify

    # VToonify-T (no instance statistics over the crop): a crop moved by the step gives exactly the
    # moved output away from the borders; half a step does not (VToonify-D is only near: its AdaIN)
    model = load_vtoonify(narrow_models_dir / "vtoonify_t_narrow48" / "vtoonify.pt")
    step = downsampling_factor(model.encoder)
    assert step == 8
    torch.manual_seed(2)
    wide = torch.rand(1, 22, 64, 256 + step) * 2 - 1
    style = torch.randn(1, 18, model.style_channels) * 0.5
    errors = {}
    with torch.no_grad():
        base = model(wide[..., :256], style)[0]
        for shift in (step, step // 2):
            moved = model(wide[..., shift:256 + shift], style)[0]
            errors[shift] = float((moved[..., 448:576] - base[..., 448 + 4 * shift:576 + 4 * shift]).abs().max())
    assert errors[step] < 1e-6 and errors[step // 2] > 100 * errors[step], errors
    # end to end: a still face whose landmarks jitter keeps one crop and repeats its pixels exactly
    face = _portrait(media_dir, "077436.jpg")
    canvases = []
    for dx in (0, 1, 0, 1):
        canvas = np.full((400, 640, 3), 90, np.uint8)
        canvas[10:385, 60 + dx:560 + dx] = face
        canvases.append(canvas)
    pattern = _sequence(tmp_path, "still", canvases)
    render(RenderConfig(source=pattern, output=str(tmp_path / "out"), models_dir=str(narrow_models_dir),
                        style="narrow48", backend="vtoonify", padding=(32, 32, 32, 32), follow_faces=True))
    sidecar = json.loads((tmp_path / "out" / "still.vtoonify.json").read_text())
    assert sidecar["follow"]["step"] == 8 and len(sidecar["follow"]["faces"][0]["runs"]) == 1
    frames = [read_image(tmp_path / "out" / f"still.{f:04d}.exr") for f in range(1, 5)]
    assert np.array_equal(frames[0], frames[2]) and np.array_equal(frames[1], frames[3])


def test_faces_that_cross_keep_their_ids_while_the_front_one_hides_the_other(media_dir, tmp_path):
    """Two faces walk past each other, the right one in front: the left one is hidden for a few frames.
    Linked by their last boxes only, face01 took the front face after the crossing (an identity swap) and
    the hidden face came back as a third face; each face's motion carried on keeps them apart."""
    import cv2

    left = _portrait(media_dir, "077436.jpg")[60:360, 100:390]
    right = cv2.resize(_portrait(media_dir, "038648.jpg"), None, fx=1.7, fy=1.7)[60:360, 120:410]
    frames, width, travel = 12, 900, 590
    xs = [round(20 + travel * i / (frames - 1)) for i in range(frames)]  # the left face's tile, moving right
    canvases = []
    for x in xs:
        canvas = np.full((330, width, 3), 90, np.uint8)
        canvas[15:315, x:x + 290] = left
        canvas[15:315, width - 290 - x:width - x] = right  # mirrored path, drawn in front
        canvases.append(canvas)
    alone = np.full((330, width, 3), 90, np.uint8)
    alone[15:315, xs[0]:xs[0] + 290] = left
    left_eye = eye_centre(find_landmarks(alone))[0] - xs[0]
    alone = np.full((330, width, 3), 90, np.uint8)
    alone[15:315, width - 290 - xs[0]:width - xs[0]] = right
    right_eye = eye_centre(find_landmarks(alone))[0] - (width - 290 - xs[0])
    pattern = _sequence(tmp_path, "cross", canvases)
    out = tmp_path / "out"
    render(_config(pattern, out, faces="all", follow_faces=True, mattes=True, cryptomatte=True))
    sidecar = json.loads((out / "cross.vtoonify.json").read_text())
    assert [f["name"] for f in sidecar["faces"]] == ["face01", "face02"]  # not a third face after the crossing
    for frame in (1, 2, 3, frames - 2, frames - 1, frames):  # both faces in sight
        pixels, spec = _read(out / f"cross.{frame:04d}.exr")
        names = list(spec.channelnames)
        crypto = pixels[..., [names.index(f"CryptoFace{layer:02d}.{c}") for layer in range(3) for c in "RGBA"]]
        x = xs[frame - 1]
        for name, truth in (("face01", x + left_eye), ("face02", width - 290 - x + right_eye)):
            covered = np.nonzero(decode(crypto, name) > 0.5)[1]
            assert abs(spec.x + covered.mean() - truth) < 30, (frame, name, spec.x + covered.mean(), truth)
