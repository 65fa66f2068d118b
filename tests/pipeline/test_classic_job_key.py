"""Farm chunks of a classic-backend shot that differ only in the VToonify model's controls (style, style id,
degree, exemplar photo, colour transfer, parsing-map smoothing) share one job: the classic look takes none of
them, so they resume each other's folder and give the same pixels, each warned that classic ignores what it asked for.
A folder an earlier engine keyed with those values as asked still resumes.

Real ``engine render`` runs (the CLI's own code, in this process) of the classic backend on frames 1-2 of
media/529_2.mp4, cropped to the face."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import OpenImageIO as oiio

from engine.cli import main
from engine.io.image import read_image
from engine.pipeline.config import RenderConfig
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.outputs import job_stamp
from engine.pipeline.selection import make_backend
from engine.pipeline.shot import job_key, legacy_job_keys, pixel_config

COMMON = ("--backend", "classic", "--format", "png", "--output-space", "crop", "--padding", "32")


def _render(capsys, media_dir, out, frames: str, *flags) -> tuple[int, str]:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", frames, *COMMON, *flags])
    return code, capsys.readouterr().err


def _job_key(out) -> str:
    return json.loads((out / "529_2.vtoonify.json").read_text())["job_key"]


def _model_flags(media_dir) -> tuple[str, ...]:
    return (
        "--style",
        "arcane",
        "--style-id",
        "3",
        "--degree",
        "0.8",
        "--color-transfer",
        "--exstyle-image",
        str(media_dir / "038648.jpg"),
        "--smooth-parsing",
    )


def test_classic_chunks_differing_only_in_model_controls_share_the_job(capsys, media_dir, tmp_path):
    farm, plain = tmp_path / "farm", tmp_path / "plain"
    code, err = _render(capsys, media_dir, farm, "1", *_model_flags(media_dir))
    assert code == 0, err
    for flag in ("--style arcane", "--style-id", "--degree", "--color-transfer", "--exstyle-image"):
        assert f"{flag} sets up the VToonify model, and --backend classic uses none" in err, (flag, err)
    assert "--smooth-parsing smooths the VToonify model's parsing maps, and --backend classic" in err, err
    # the next chunk with the panel's defaults joins it (and renders frame 2 only)
    code, err = _render(capsys, media_dir, farm, "1-2", "--resume")
    assert code == 0, err
    code, err = _render(capsys, media_dir, plain, "1-2")
    assert code == 0, err
    assert _job_key(farm) == _job_key(plain)  # the defaults' key, as before this change
    recorded = json.loads((farm / "529_2.vtoonify.json").read_text())["job_settings"]
    assert (recorded["style"], recorded["style_id"], recorded["degree"]) == ("cartoon", 26, 0.5)
    assert (recorded["color_transfer"], recorded["exstyle_image"], recorded["smooth_parsing"]) == (False, None, False)
    for n in (1, 2):
        a, b = read_image(farm / f"529_2.{n:04d}.png"), read_image(plain / f"529_2.{n:04d}.png")
        assert a.shape == b.shape and np.array_equal(a, b), n


def test_classic_pixels_do_not_depend_on_smooth_parsing(capsys, media_dir, tmp_path):
    """Both frames rendered with --smooth-parsing (frame 2 is the one a smoother would warp frame 1's parsing
    into) equal a plain run's, and the two runs are one job."""
    smooth, plain = tmp_path / "smooth", tmp_path / "plain"
    code, err = _render(capsys, media_dir, smooth, "1-2", "--smooth-parsing")
    assert code == 0, err
    code, err = _render(capsys, media_dir, plain, "1-2")
    assert code == 0, err
    assert _job_key(smooth) == _job_key(plain)
    for n in (1, 2):
        a, b = read_image(smooth / f"529_2.{n:04d}.png"), read_image(plain / f"529_2.{n:04d}.png")
        assert a.shape == b.shape and np.array_equal(a, b), n


def test_a_classic_folder_keyed_with_the_model_controls_by_an_earlier_engine_still_resumes(capsys, media_dir, tmp_path):
    """Earlier engines hashed the model controls of a classic job as asked: their sidecar and frames carry
    that key, and a resume with the same flags reuses them instead of refusing the folder."""
    out = tmp_path / "out"
    flags = _model_flags(media_dir)
    code, err = _render(capsys, media_dir, out, "1", *flags)
    assert code == 0, err
    config = RenderConfig(
        source=str(media_dir / "529_2.mp4"),
        output=str(out),
        frames="1",
        backend="classic",
        format="png",
        output_space="crop",
        padding=(32, 32, 32, 32),
        style="arcane",
        style_id=3,
        degree=0.8,
        color_transfer=True,
        exstyle_image=str(media_dir / "038648.jpg"),
        smooth_parsing=True,
    )
    cache = ModelCache("cpu")
    backend, _ = make_backend(config, cache)
    model_controls = ("style", "style_id", "degree", "color_transfer", "exstyle_image", "smooth_parsing")
    asked = {k: getattr(config, k) for k in model_controls}
    earlier = job_key(dataclasses.replace(pixel_config(config, backend), **asked), "classic", {}, "cpu")
    assert earlier != _job_key(out) and earlier in legacy_job_keys(config, backend, cache)
    # rewrite the folder as an earlier engine left it: its key in the sidecar and in the frame's stamp
    sidecar_path = out / "529_2.vtoonify.json"
    sidecar = json.loads(sidecar_path.read_text())
    sidecar_path.write_text(json.dumps({**sidecar, "job_key": earlier}))
    frame = out / "529_2.0001.png"
    image = oiio.ImageBuf(str(frame))
    image.specmod().attribute("vtoonify/job", earlier)
    assert image.write(str(tmp_path / "old.png"))
    (tmp_path / "old.png").replace(frame)
    before = frame.read_bytes()

    code, err = _render(capsys, media_dir, out, "1-2", *flags, "--resume")
    assert code == 0, err
    assert json.loads(sidecar_path.read_text())["job_key"] == earlier
    assert frame.read_bytes() == before  # frame 1 kept, frame 2 rendered into the same job
    assert job_stamp(out / "529_2.0002.png") == earlier
