"""PNG frames are placed into the plate in linear light (as EXR) since 751c9bb; earlier engines placed them
in sRGB, and their toon lines differ by up to 33/255. A PNG folder such an engine started is never resumed
onto (a step in the lines mid-shot, exit 0); EXR folders, whose pixels did not change, still resume."""

from __future__ import annotations

import json

import pytest
from farm_helpers import frame_files

import engine.pipeline.shot as shot_module
from engine.cli import main
from engine.errors import EXIT_OK, EXIT_USER_ERROR, ConfigError
from engine.pipeline.config import RenderConfig
from engine.pipeline.outputs import job_stamp
from engine.pipeline.shot import job_key, srgb_placed_refusal


@pytest.fixture
def older_engine(monkeypatch):
    """Render as the engine before linear PNG placement keyed its jobs: no ``placement`` in the settings
    it hashed and recorded, so its sidecar and frame stamps are that engine's."""
    settings = shot_module.job_settings

    def before_linear_png(*args, **kwargs):
        return {k: v for k, v in settings(*args, **kwargs).items() if k != "placement"}

    def use(on: bool) -> None:
        if on:
            monkeypatch.setattr(shot_module, "job_settings", before_linear_png)
        else:
            monkeypatch.setattr(shot_module, "job_settings", settings)

    return use


def _pngs(out):
    return frame_files(out, "*.png")


def _job(media_dir, out, fmt):
    return [str(media_dir / "529_2.mp4"), "-o", str(out), "--backend", "classic", "--format", fmt]


def _older_engines_folder(media_dir, tmp_path, monkeypatch, older_engine, fmt):
    """Frame 1 of 529_2 in ``fmt`` as an engine before linear placement wrote it; returns (folder, job)."""
    monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path / "no-models"))
    out = tmp_path / "out"
    job = _job(media_dir, out, fmt)
    older_engine(True)
    assert main(["render", *job, "--frames", "1"]) == EXIT_OK
    older_engine(False)
    return out, job


def test_an_older_engines_png_folder_is_refused_for_resume_and_overwrite_renders_it_again(
    media_dir, tmp_path, monkeypatch, capsys, older_engine
):
    out, job = _older_engines_folder(media_dir, tmp_path, monkeypatch, older_engine, "png")
    sidecar = (out / "529_2.vtoonify.json").read_text()
    assert "placement" not in json.loads(sidecar)["job_settings"]
    capsys.readouterr()

    assert main(["render", *job, "--frames", "1-2", "--resume"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "were rendered by an earlier engine, which placed PNG frames into the plate in sRGB" in err, err
    assert "render the whole shot again: run once with --overwrite instead of --resume" in err, err
    assert [p.name for p in _pngs(out)] == ["529_2.0001.png"]
    assert (out / "529_2.vtoonify.json").read_text() == sidecar
    older = json.loads(sidecar)
    del older["job_settings"]  # as engines before recorded settings wrote it: the key alone tells
    (out / "529_2.vtoonify.json").write_text(json.dumps(older))
    assert main(["render", *job, "--frames", "1-2", "--resume"]) == EXIT_USER_ERROR
    assert "placed PNG frames into the plate in sRGB" in capsys.readouterr().err

    assert main(["render", *job, "--frames", "2"]) == EXIT_USER_ERROR  # neither flag: refused the same way
    err = capsys.readouterr().err
    assert "placed PNG frames into the plate in sRGB" in err and "run once with --overwrite to delete" in err, err

    assert main(["render", *job, "--frames", "1-2", "--overwrite"]) == EXIT_OK
    now = json.loads((out / "529_2.vtoonify.json").read_text())
    assert now["job_settings"]["placement"] == "linear"
    assert [job_stamp(p) for p in _pngs(out)] == [now["job_key"]] * 2
    assert main(["render", *job, "--frames", "1-3", "--resume"]) == EXIT_OK  # today's folder resumes
    assert len(_pngs(out)) == 3


def test_an_older_engines_exr_folder_still_resumes(media_dir, tmp_path, monkeypatch, older_engine):
    out, job = _older_engines_folder(media_dir, tmp_path, monkeypatch, older_engine, "exr")
    first = (out / "529_2.0001.exr").read_bytes()
    assert main(["render", *job, "--frames", "1-2", "--resume"]) == EXIT_OK
    assert len(frame_files(out)) == 2 and (out / "529_2.0001.exr").read_bytes() == first


def test_only_png_plate_keys_changed():
    """EXR and crop-space PNG keys are those of earlier engines; a PNG plate key is not."""
    for fmt, space, same in (("exr", "plate", True), ("png", "crop", True), ("png", "plate", False)):
        config = RenderConfig(source="/plates/a.mp4", output="/out", format=fmt, output_space=space)
        assert (job_key(config, "classic", {}) == job_key(config, "classic", {}, linear_png=False)) is same


def test_the_refusal_names_the_protocols_fields_and_leaves_farm_words_to_the_cli(tmp_path):
    error = srgb_placed_refusal(RenderConfig(source="/a.mp4", output=str(tmp_path), resume=True), tmp_path, "a")
    assert isinstance(error, ConfigError)
    sent = error.to_dict()
    assert "'overwrite': true instead of 'resume': true" in sent["fix"], sent
    assert "--" not in sent["message"] and "prepare" not in sent["fix"], sent
    assert {"field": "overwrite", "value": True} in sent["settings"]
    assert "engine prepare ... --overwrite" in error.fix
