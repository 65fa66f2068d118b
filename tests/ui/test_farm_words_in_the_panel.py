"""The engine words a refusal over settings that differ for the farm ("faces: prepare/sidecar has one, this
task resolves all", "pass --faces one to every task (see docs/FARM.md)"). In the panel an artist read that,
field names, "None" and a docs file included; the panel now names its own controls and keeps the fix that
applies to it. A tooltip named docs/FACES.md too."""

from __future__ import annotations

import json
from types import SimpleNamespace

from engine.errors import setting
from engine.pipeline.config import RenderConfig
from engine.pipeline.shot import _refusal, job_key, job_settings
from ui.output_policy import resume_conflict
from ui.source_panel import FOLLOW_TIP
from ui.wording import error_parts, titled

FARM_WORDS = ("docs/", ".md", "prepare/sidecar", "every task", "this task", "--", "None", "'faces'")


def _farm_free(text: str) -> None:
    assert not [w for w in FARM_WORDS if w in text], text


def test_a_refusal_over_other_settings_names_the_panels_controls():
    error = _refusal("another render with other settings is writing 908 frames into /r",
                     f"wait for it to finish, or render into another output folder or {setting('name')}",
                     SimpleNamespace(job_settings={"faces": "one", "precision": "fp16", "scale": 0.5}),
                     {"faces": "all", "max_faces": 8, "precision": "fp32", "scale": 1.0})
    problem, fix = error_parts(error.to_dict())
    _farm_free(problem)
    _farm_free(fix)
    assert "Faces: 'one' in the render there, 'all' in this shot" in problem
    assert "'at most' in the Faces row: the default in the render there, 8 in this shot" in problem
    assert "the scale (Format row): 0.5 in the render there, 1.0 in this shot" in problem
    # the engine words the fix per reader (engine.errors.for_cli): the panel's controls, no farm tasks
    assert "render with the scale (Format row) at 0.5, as the folder's job did" in fix, fix
    assert fix.endswith('; or wait for it to finish, or render into another output folder or the name beside '
                        '"If it exists"'), fix


def test_resume_into_a_folder_of_other_settings_says_which_controls_differ(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shot = {"source": "/m/908.mp4", "output": str(out), "backend": "classic", "format": "png"}
    earlier = job_settings(RenderConfig.from_dict(dict(shot, scale=0.5, precision="fp32")), "classic", {}, "cpu")
    (out / "908.vtoonify.json").write_text(json.dumps({"job_key": "other", "job_settings": earlier}))
    said = titled("output_error", resume_conflict(dict(shot, faces="all", scale=1.0)))
    _farm_free(said)
    assert "(Faces: the default in the render there, 'all' in this shot; " in said, said
    assert "the scale (Format row): 0.5 in the render there, 1.0 in this shot)" in said, said


def test_tooltips_name_no_docs_files():
    _farm_free(FOLLOW_TIP)


def test_a_refusal_over_the_frame_grid_gives_the_panel_its_own_fix():
    """The frame grid's fix named farm tasks ('render every task with the same engine version') to every
    reader; the panel cut it out with a regex and showed no fix for it at all."""
    grid = {"rate": 30, "pictures": 8, "frames": 11}
    error = _refusal("the folder holds frames of another job", f"or use {setting('overwrite', True)}",
                     SimpleNamespace(job_settings={"frame_grid": None}), {"frame_grid": grid})
    assert error.fix.startswith("render every task with the same engine version: this source has a variable")
    problem, fix = error_parts(error.to_dict())
    _farm_free(problem)
    _farm_free(fix)
    assert fix.startswith("render it with the same engine version as the folder's job: this source has a "
                          "variable frame rate"), fix
    assert "the engine setting 'frame_grid': the default in the render there, " in problem, problem


def test_resume_into_an_older_engines_png_folder_says_why_not(tmp_path):
    """An engine before linear PNG placement keyed the same shot without it: Resume would mix its sRGB-placed
    frames with linear ones, so the panel refuses, naming that reason in its own words."""
    out = tmp_path / "out"
    out.mkdir()
    shot = {"source": "/m/908.mp4", "output": str(out), "backend": "classic", "format": "png"}
    config = RenderConfig.from_dict(dict(shot, precision="fp32"))
    older = {"job_key": job_key(config, "classic", {}, "cpu", linear_png=False),
             "job_settings": job_settings(config, "classic", {}, "cpu", linear_png=False)}
    (out / "908.vtoonify.json").write_text(json.dumps(older))
    said = titled("output_error", resume_conflict(shot))
    _farm_free(said)
    assert "by an earlier engine, which placed PNG frames into the plate in sRGB" in said, said
    older["job_settings"]["scale"] = 0.5  # and another setting: both named, in the panel's words
    older["job_key"] = "other"
    (out / "908.vtoonify.json").write_text(json.dumps(older))
    said = titled("output_error", resume_conflict(dict(shot, scale=1.0)))
    _farm_free(said)
    assert "PNG placement: sRGB (an earlier engine) in the render there, linear light in this shot" in said, said
    exr = dict(shot, format="exr")  # EXR keys did not change: an earlier engine's EXR folder resumes
    config = RenderConfig.from_dict(dict(exr, precision="fp32"))
    (out / "908.vtoonify.json").write_text(json.dumps({"job_key": job_key(config, "classic", {}, "cpu",
                                                                          linear_png=False)}))
    assert resume_conflict(exr) is None
