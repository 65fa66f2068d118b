"""Farm chunks of a VToonify-T shot that differ only in controls the model ignores (style id, degree,
colour transfer) share one job: they resume each other's folder and give the same pixels. A VToonify-D
job, whose pixels do depend on the degree, still refuses a chunk with another degree.

Real ``engine render`` runs (the CLI's own code, in this process) of the narrow models of
``narrow_models_dir`` on frames 1-2 of media/529_2.mp4.
"""

from __future__ import annotations

import json

import numpy as np

from engine.cli import main
from engine.io.image import read_image

COMMON = ("--backend", "vtoonify", "--device", "cpu", "--format", "png", "--output-space", "crop",
          "--padding", "32")


def _render(capsys, media_dir, models, out, frames: str, *flags) -> tuple[int, str]:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", frames,
                 "--models", str(models), *COMMON, *flags])
    return code, capsys.readouterr().err


def _job_key(out) -> str:
    return json.loads((out / "529_2.vtoonify.json").read_text())["job_key"]


def test_toonify_chunks_differing_only_in_ignored_controls_share_the_job(
        capsys, media_dir, narrow_models_dir, tmp_path):
    toonify = ("--style", "narrow48")
    farm, plain = tmp_path / "farm", tmp_path / "plain"
    code, err = _render(capsys, media_dir, narrow_models_dir, farm, "1", *toonify,
                        "--style-id", "3", "--degree", "0.8", "--color-transfer")
    assert code == 0, err
    assert "VToonify-T model ignores --style-id 3, --degree 0.8, --color-transfer" in err
    # the next chunk with the panel's defaults joins it (and renders frame 2 only)
    code, err = _render(capsys, media_dir, narrow_models_dir, farm, "1-2", *toonify, "--resume")
    assert code == 0, err
    code, err = _render(capsys, media_dir, narrow_models_dir, plain, "1-2", *toonify)
    assert code == 0, err
    assert _job_key(farm) == _job_key(plain)  # the defaults' key, as before this change
    recorded = json.loads((farm / "529_2.vtoonify.json").read_text())["job_settings"]
    assert (recorded["style_id"], recorded["degree"], recorded["color_transfer"]) == (26, 0.5, False)
    for n in (1, 2):
        a, b = read_image(farm / f"529_2.{n:04d}.png"), read_image(plain / f"529_2.{n:04d}.png")
        assert a.shape == b.shape and np.array_equal(a, b), n


def test_vtoonify_d_chunk_with_another_degree_is_still_refused(capsys, media_dir, narrow_models_dir, tmp_path):
    out = tmp_path / "out"
    code, err = _render(capsys, media_dir, narrow_models_dir, out, "1", "--style", "cartoon")
    assert code == 0, err
    code, err = _render(capsys, media_dir, narrow_models_dir, out, "1-2", "--style", "cartoon",
                        "--degree", "0.8", "--resume")
    assert code == 2
    assert "belongs to a job with other settings" in err and "degree: prepare/sidecar has 0.5" in err, err
    assert "this task resolves 0.8" in err and not (out / "529_2.0002.png").exists()


def test_backbone_auto_and_the_backbone_it_resolves_to_share_the_job(capsys, media_dir, narrow_models_dir, tmp_path):
    """A farm chunk with ``--backbone auto`` and one naming the backbone auto resolves to render the same
    pixels: they join one job (one key), in either order, and the default key is the one it always was."""
    for style, backbone in (("narrow48", "toonify"), ("cartoon", "dualstylegan")):
        farm, plain = tmp_path / f"farm-{style}", tmp_path / f"plain-{style}"
        code, err = _render(capsys, media_dir, narrow_models_dir, farm, "1", "--style", style, "--backbone", "auto")
        assert code == 0, err
        auto_key = _job_key(farm)
        code, err = _render(capsys, media_dir, narrow_models_dir, farm, "1-2", "--style", style,
                            "--backbone", backbone, "--resume")
        assert code == 0, err
        code, err = _render(capsys, media_dir, narrow_models_dir, plain, "1-2", "--style", style,
                            "--backbone", backbone)
        assert code == 0, err
        assert _job_key(farm) == _job_key(plain) == auto_key, style
        for n in (1, 2):
            a, b = read_image(farm / f"529_2.{n:04d}.png"), read_image(plain / f"529_2.{n:04d}.png")
            assert a.shape == b.shape and np.array_equal(a, b), (style, n)


def test_a_job_keyed_by_an_earlier_engine_with_an_explicit_backbone_still_resumes(
        capsys, media_dir, narrow_models_dir, tmp_path, monkeypatch):
    """Earlier engines hashed ``--backbone toonify`` as given; such a folder resumes under its own key."""
    import dataclasses

    import engine.pipeline.shot as shot

    current = shot.pixel_config
    monkeypatch.setattr(shot, "pixel_config", lambda config, backend: dataclasses.replace(
        current(config, backend), backbone=config.backbone))          # as earlier engines keyed it
    out = tmp_path / "out"
    flags = ("--style", "narrow48", "--backbone", "toonify")
    code, err = _render(capsys, media_dir, narrow_models_dir, out, "1", *flags)
    assert code == 0, err
    old_key = _job_key(out)
    monkeypatch.setattr(shot, "pixel_config", current)
    code, err = _render(capsys, media_dir, narrow_models_dir, out, "1-2", *flags, "--resume")
    assert code == 0, err
    assert _job_key(out) == old_key
    from engine.pipeline.outputs import job_stamp

    assert [job_stamp(out / f"529_2.{n:04d}.png") for n in (1, 2)] == [old_key, old_key]
    # a chunk with --backbone auto was never part of that old job: refused, as before
    code, err = _render(capsys, media_dir, narrow_models_dir, out, "3", "--style", "narrow48", "--resume")
    assert code == 2 and "belongs to a job with other settings" in err, err
