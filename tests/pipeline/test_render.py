"""End-to-end renders on real sample media: files read back, frame accuracy, narrow VToonify."""

from __future__ import annotations

import json

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

import engine
from engine.errors import FrameRangeError
from engine.io import open_source, read_image
from engine.pipeline.config import RenderConfig
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.preview import render_preview
from engine.pipeline.render import render

SMALL = (64, 64, 64, 64)  # crop padding that keeps test crops ~128 px (the default is 200)


def _spec(path):
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        return inp.spec()
    finally:
        inp.close()


def test_classic_exr_with_mattes_reads_back(media_dir, tmp_path, empty_models_dir):
    events = []
    config = RenderConfig(source=str(media_dir / "7154235.mp4"), output=str(tmp_path / "out"),
                          frames="1-3", start_number=1001 - 0, mattes=True, padding=SMALL)
    with pytest.raises(FrameRangeError):
        render(config, on_event=events.append)              # frames 1-3 do not exist once renumbered
    config = RenderConfig(**{**config.to_dict(), "frames": "1001-1003", "padding": SMALL, "start_number": 1001})
    result = render(config, on_event=events.append)
    assert result.backend == "classic"
    assert [e for e in events if e["event"] == "warning" and "classic" in e["message"]]
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == [1001, 1002, 1003]
    assert events[-1]["event"] == "progress" and events[-1]["done"] == events[-1]["total"] == 3
    sidecar = json.loads((tmp_path / "out" / "7154235.vtoonify.json").read_text())
    crop, (src_w, src_h) = sidecar["crop"], sidecar["source_size"]
    assert (src_w, src_h) == (640, 576)
    for frame in (1001, 1002, 1003):
        path = tmp_path / "out" / f"7154235.{frame}.exr"
        spec = _spec(path)
        names = list(spec.channelnames)
        assert names[:4] == ["R", "G", "B", "A"]
        assert {"matte.skin", "matte.l_eye", "matte.r_eye", "matte.nose"} <= set(names)
        assert spec.format == oiio.HALF
        assert (spec.full_width, spec.full_height) == (640, 576)
        sx, sy = src_w / crop["w"], src_h / crop["h"]
        assert spec.x == int(np.floor(crop["left"] * sx)) and spec.y == int(np.floor(crop["top"] * sy))
        assert spec.width < 640 and spec.height < 576     # the data window is the face box, not the plate
        assert spec.getattribute("vtoonify/frame") == frame
        assert spec.getattribute("vtoonify/backend") == "classic"
        assert spec.getattribute("compression") == "zip"
        pixels = read_image(path)
        alpha = pixels[..., 3]
        assert alpha.max() == pytest.approx(1.0, abs=1e-3) and alpha.min() < 0.05
        skin = pixels[..., names.index("matte.skin")]
        assert 0.02 < skin.mean() < 0.9                     # the tight test crop is mostly face, not all


def test_classic_png_without_weights_and_frame_count(media_dir, tmp_path, empty_models_dir):
    source = media_dir / "529_2.mp4"
    with open_source(str(source)) as src:
        count = len(src.frame_numbers)
    result = render(RenderConfig(source=str(source), output=str(tmp_path), format="png", padding=SMALL))
    files = sorted(tmp_path.glob("529_2.*.png"))
    assert len(files) == count == 29 == len(result.frames)
    assert [f.name for f in files][:2] == ["529_2.0001.png", "529_2.0002.png"]
    img = read_image(files[0])
    assert img.shape == (352, 376, 4)
    assert not list(tmp_path.glob(".*.tmp"))


def test_network_input_matches_official_preprocessing(narrow_models_dir, reference_dir):
    """cat(x, parsing_maps(x)/16) built by the backend equals the official numbers of the golden."""
    from engine.pipeline.backends import VToonifyBackend
    from engine.pipeline.selection import choose_files

    golden = torch.load(reference_dir / "bisenet_golden.pt", weights_only=True)
    case = next(c for c in golden["cases"] if c["name"] == "pipeline")
    x = case["inputs"]["x"]                                            # [2,3,64,48] = uint8/255*2-1
    crops = [np.round((f.permute(1, 2, 0).numpy() + 1) / 2 * 255).astype(np.uint8) for f in x]
    config = RenderConfig(source="unused.mp4", output="unused", models_dir=str(narrow_models_dir),
                          backend="vtoonify")
    config, files, _ = choose_files(config)
    backend = VToonifyBackend(config, files, ModelCache("cpu"))
    inputs = backend.network_input(crops)
    ref = case["outputs"]["vtoonify_input"]
    assert inputs.shape == ref.shape == (2, 22, 64, 48)
    assert torch.allclose(inputs[:, :3], x, atol=1e-6)
    assert torch.allclose(inputs, ref, atol=2e-4, rtol=1e-4)


def test_real_frame_network_input_matches_official(media_dir, reference_dir, narrow_models_dir):
    """PyAV frame 1 -> official crop parameters -> scaled crop equals the official crop image, and
    the backend's network input for it is cat(x, parsing_maps(x)/16) of that official crop."""
    from engine.face import crop_parameters, find_landmarks, scale_and_crop

    golden = json.loads((reference_dir / "preprocess_golden.json").read_text())
    entry = next(e for e in golden["entries"] if e["source"].endswith("529_2.mp4"))
    with open_source(str(media_dir / "529_2.mp4")) as src:
        frame = src.read(1)
    landmarks = find_landmarks(frame)
    crop = crop_parameters(landmarks, frame.shape[:2], (200, 200, 200, 200))
    assert list(crop.as_tuple()) == list(entry["crop_params"]["as_tuple"])
    ours = scale_and_crop(frame, crop)
    ref = np.round(read_image(reference_dir / "preprocess" / "529_2_crop.png")[..., :3] * 255).astype(np.uint8)
    assert ours.shape == ref.shape
    assert np.abs(ours.astype(np.float32) - ref).mean() < 0.5

    from engine.models import load_face_parser, parsing_maps
    from engine.pipeline.backends import VToonifyBackend
    from engine.pipeline.selection import choose_files

    config, files, _ = choose_files(RenderConfig(source="unused.mp4", output="unused", backend="vtoonify",
                                                 models_dir=str(narrow_models_dir)))
    backend = VToonifyBackend(config, files, ModelCache("cpu"))
    x = torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255 * 2 - 1    # ToTensor + Normalize(.5,.5)
    expected = torch.cat((x, parsing_maps(load_face_parser(narrow_models_dir / "faceparsing.pth"), x) / 16), 1)
    assert torch.allclose(backend.network_input([ours]), expected, atol=2e-4, rtol=1e-4)


def test_narrow_vtoonify_d_renders_every_frame(media_dir, narrow_models_dir, tmp_path):
    source = media_dir / "908.mp4"
    with open_source(str(source)) as src:
        count = len(src.frame_numbers)
    cache = ModelCache("cpu")
    events = []
    config = RenderConfig(source=str(source), output=str(tmp_path), models_dir=str(narrow_models_dir),
                          backend="vtoonify", padding=(32, 32, 32, 32), mattes=True, batch=4)
    result = render(config, on_event=events.append, models=cache)
    files = sorted(tmp_path.glob("908.*.exr"))
    assert len(files) == count == len(result.frames)
    assert result.backend == "vtoonify"
    assert cache.stats()["loads"] == {"vtoonify:vtoonify_d_cartoon/vtoonify_s_d_c.pt": 1,
                                      "faceparsing:" + narrow_models_dir.name + "/faceparsing.pth": 1}
    sidecar = json.loads((tmp_path / "908.vtoonify.json").read_text())
    crop, (src_w, src_h) = sidecar["crop"], sidecar["source_size"]
    sx, sy = src_w / crop["w"], src_h / crop["h"]
    for index in (0, count - 1):
        spec = _spec(files[index])
        assert list(spec.channelnames[:4]) == ["R", "G", "B", "A"]
        assert "matte.hair" in spec.channelnames and "matte.skin" in spec.channelnames
        assert (spec.full_width, spec.full_height) == (src_w, src_h)
        assert (spec.x, spec.y) == (int(np.floor(crop["left"] * sx)), int(np.floor(crop["top"] * sy)))
        assert spec.x + spec.width == min(src_w, int(np.ceil(crop["right"] * sx)))
        assert spec.getattribute("vtoonify/frame") == index + 1
        assert spec.getattribute("vtoonify/backend") == "vtoonify"
        assert spec.getattribute("vtoonify/checkpoint") == "vtoonify_s_d_c.pt"
        assert spec.getattribute("vtoonify/style_id") == "26"
        assert spec.getattribute("vtoonify/degree") == "0.5"
        assert spec.getattribute("vtoonify/source") == str(source)
        assert spec.getattribute("vtoonify/version") == engine.__version__
        box = [float(v) for v in spec.getattribute("vtoonify/crop_box").split(",")]
        assert box == pytest.approx([crop["left"] * sx, crop["top"] * sy, crop["right"] * sx, crop["bottom"] * sy],
                                    abs=1e-3)
    # style code = exemplar 26's W+ (colour-transfer model), stored once for the whole shot
    wplus = torch.load(tmp_path / sidecar["style_code"], weights_only=True)
    assert wplus.shape == (1, 18, 512)


def test_narrow_toonify_runs_the_psp_style_path(media_dir, narrow_models_dir, tmp_path):
    result = render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="1-2",
                                 models_dir=str(narrow_models_dir), style="narrow48", backend="vtoonify",
                                 padding=(32, 32, 32, 32), format="png"))
    assert result.backend == "vtoonify" and len(result.outputs) == 2
    sidecar = json.loads((tmp_path / "529_2.vtoonify.json").read_text())
    assert sidecar["style"]["backbone"] == "toonify"
    wplus = torch.load(tmp_path / sidecar["style_code"], weights_only=True)
    assert wplus.shape == (1, 18, 48) and torch.isfinite(wplus).all()


def test_preview_writes_before_and_after(media_dir, tmp_path, empty_models_dir):
    config = RenderConfig(source=str(media_dir / "651.mp4"), output=str(tmp_path / "job"), padding=SMALL)
    info = render_preview(config, 5, str(tmp_path / "preview"))
    after, before = read_image(info["path"]), read_image(info["source_path"])
    assert after.shape[:2] == before.shape[:2] == (360, 392)
    changed = np.abs(after[..., :3] - before[..., :3]).max(axis=2) > 0.05
    assert info["frame"] == 5 and 0.01 < changed.mean() < 0.5     # the face box changed, the rest did not
    assert not (tmp_path / "job").exists()                   # a preview never writes into the job folder


def test_png_mattes_are_separate_grey_sequences(media_dir, tmp_path, empty_models_dir):
    result = render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="2",
                                 format="png", png_bits=16, mattes=True, matte_classes="skin,l_eye",
                                 padding=SMALL))
    assert set(result.matte_patterns) == {"skin", "l_eye"}
    skin = read_image(tmp_path / "529_2.matte_skin.0002.png")
    eye = read_image(tmp_path / "529_2.matte_l_eye.0002.png")
    assert skin.shape[:2] == eye.shape[:2] == (352, 376)
    assert 0.0 < eye.mean() < skin.mean() < 0.5
    beauty = oiio.ImageInput.open(str(tmp_path / "529_2.0002.png"))
    assert beauty.spec().format == oiio.UINT16 and beauty.spec().nchannels == 4
    beauty.close()


def test_style_code_mixes_the_exemplar_as_the_official_pipeline(narrow_models_dir, reference_dir, tmp_path,
                                                                 monkeypatch):
    """W+ = zplus2wplus(pSp) with latents 0-6 from the exemplar (all 18 with colour transfer): the
    golden's own intermediates. pSp itself is checked by its golden; here its output is the golden's z+."""
    from engine.face import CropParams
    from engine.pipeline.backends import VToonifyBackend
    from engine.pipeline.selection import choose_files

    golden = torch.load(reference_dir / "vtoonify_d_golden.pt", weights_only=True)
    case = next(c for c in golden["cases"] if c["name"] == "pipeline_exstyle_mix")
    models = tmp_path / "models"
    (models / "vtoonify_d_cartoon").mkdir(parents=True)
    for name in ("encoder.pt", "faceparsing.pth"):
        (models / name).symlink_to(narrow_models_dir / name)
    for name in ("vtoonify_s_d.pt", "vtoonify_s_d_c.pt"):   # any-exemplar model, and its colour-transfer twin
        (models / "vtoonify_d_cartoon" / name).symlink_to(
            narrow_models_dir / "vtoonify_d_cartoon" / "vtoonify_s_d_c.pt")
    codes = {f"style_{i}.jpg": np.zeros((1, 18, 512), np.float32) for i in range(5)}
    codes["style_3.jpg"] = case["inputs"]["zplus_exstyle"].numpy()
    np.save(models / "vtoonify_d_cartoon" / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)

    frame = np.zeros((64, 64, 3), np.uint8)
    for color_transfer, expected in ((False, case["intermediates"]["s_w"]),
                                     (True, case["intermediates"]["exstyle_wplus"])):
        config, files, _ = choose_files(RenderConfig(source="unused.mp4", output="unused", backend="vtoonify",
                                                     models_dir=str(models), style_id=3,
                                                     color_transfer=color_transfer))
        backend = VToonifyBackend(config, files, ModelCache("cpu"))
        monkeypatch.setattr(backend, "_encode_face", lambda rgb, landmarks=None: case["inputs"]["zplus_psp"])
        crop = CropParams(h=64, w=64, top=0, bottom=64, left=0, right=64, scale=1.0)
        wplus = backend.style_code(frame, np.zeros((68, 2), int), crop)
        assert torch.allclose(wplus, expected, atol=1e-4, rtol=1e-4), color_transfer


def test_a_crop_preview_is_compared_with_the_same_crop(media_dir, tmp_path, empty_models_dir):
    """output_space crop: the source PNG is the face crop at the stylized crop's size, not the whole
    plate (a 500x375 plate next to a 4x crop: clients drew it squashed into the crop's shape)."""
    config = RenderConfig(source=str(media_dir / "077436.jpg"), output=str(tmp_path / "job"), output_space="crop")
    info = render_preview(config, 1, str(tmp_path / "preview"))
    after, before = read_image(info["path"]), read_image(info["source_path"])
    assert after.shape[:2] == before.shape[:2] and after.shape[:2] != (375, 500)
    # the same picture: the stylized crop follows its source crop far closer than the squashed plate
    plate = read_image(media_dir / "077436.jpg")[..., :3]
    rows = np.linspace(0, plate.shape[0] - 1, after.shape[0]).astype(int)
    cols = np.linspace(0, plate.shape[1] - 1, after.shape[1]).astype(int)
    squashed = plate[rows][:, cols]

    def corr(a, b):
        return float(np.corrcoef(a[..., :3].mean(axis=2).ravel(), b[..., :3].mean(axis=2).ravel())[0, 1])

    assert corr(after, before) > 0.9 and corr(after, before) > corr(after, squashed) + 0.15, \
        (corr(after, before), corr(after, squashed))


def test_a_cancel_during_the_encoder_load_stops_before_the_psp_pass_and_writes_no_style_code(
        media_dir, narrow_models_dir, tmp_path, monkeypatch):
    """The 1.2 GB encoder.pt load and the pSp pass take seconds each on one thread (6.3 s and 4.8 s measured
    on a busy 2-core machine) and nothing looked at cancel between them: a service job cancelled during
    the load ran the pass, wrote its style code and sidecar, and was abandoned only after 10 s. Now the job
    stops right after the load, and writes nothing."""
    import threading

    import engine.models as models
    from engine.errors import JobCancelled
    from engine.models.psp import StyleEncoder

    cancel = threading.Event()
    real_load = models.load_style_encoder

    def load_then_cancel(path, *args, **kwargs):
        encoder = real_load(path, *args, **kwargs)
        cancel.set()  # the user cancels while the encoder loads
        return encoder

    passes = []
    real_forward = StyleEncoder.forward
    monkeypatch.setattr(models, "load_style_encoder", load_then_cancel)
    monkeypatch.setattr(StyleEncoder, "forward", lambda self, x: passes.append(1) or real_forward(self, x))
    with pytest.raises(JobCancelled):
        render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path / "out"), frames="1-2",
                            models_dir=str(narrow_models_dir), style="narrow48", backend="vtoonify",
                            padding=(32, 32, 32, 32), format="png"), cancel=cancel)
    assert passes == []
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
