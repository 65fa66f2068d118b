"""The Open Job Description bundle: valid for openjd, parameters named as the Flamenco keys, and run
locally with ``openjd run``: prepare once, then every chunk, frames equal to one single render."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from farm_helpers import FLAMENCO_KEYS, REPO, SAMPLE_FRAMES, camel, frame_files, frame_number

from engine.errors import EXIT_USER_ERROR
from engine.io import read_image
from engine.pipeline.frames import parse_frame_ranges

TEMPLATE = REPO / "farm" / "openjd" / "template.yaml"


@pytest.fixture(scope="session")
def openjd() -> str:
    """``openjd`` from PyPI's openjd-cli (the test extras); missing fails in CI, skips elsewhere."""
    beside = Path(sys.executable).with_name("openjd")
    found = str(beside) if beside.exists() else shutil.which("openjd")
    if found:
        return found
    message = "openjd (PyPI openjd-cli) is not installed: pip install -e '.[test]'"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))


def test_template_passes_openjd_check(openjd):
    done = subprocess.run([openjd, "check", str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "passes validation" in done.stdout, done.stdout + done.stderr


def test_parameters_steps_and_chunking(template):
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    assert template["extensions"] == ["TASK_CHUNKING"]
    assert [p["name"] for p in template["parameterDefinitions"]] == [camel(k) for k in FLAMENCO_KEYS]
    prepare, render = template["steps"]
    assert (prepare["name"], render["name"]) == ("Prepare", "Render")
    assert "parameterSpace" not in prepare and render["dependencies"] == [{"dependsOn": "Prepare"}]
    (frame,) = render["parameterSpace"]["taskParameterDefinitions"]
    assert frame["type"] == "CHUNK[INT]" and frame["range"] == "{{Param.Frames}}"
    assert frame["chunks"] == {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"}
    for step, verb in ((prepare, "prepare"), (render, "render")):
        args = step["script"]["actions"]["onRun"]["args"]
        assert args[:2] == ["{{Task.File.Launch}}", verb] and "--openjd-progress" in args
        used = {a.split("{{Param.")[1].split("}}")[0] for a in args if "{{Param." in a}
        assert used == {camel(k) for k in FLAMENCO_KEYS} - {"ChunkSize", "EnginePython", "Frames"} | (
            {"Frames"} if verb == "prepare" else set())
    assert prepare["script"]["embeddedFiles"] == render["script"]["embeddedFiles"]


def test_launcher_turns_job_values_into_engine_flags(template, monkeypatch):
    """OpenJD has no boolean or optional parameters: the embedded launcher maps them onto the CLI."""
    import engine.cli

    code = template["steps"][1]["script"]["embeddedFiles"][0]["data"]
    seen = []
    monkeypatch.setattr(engine.cli, "main", lambda argv: seen.append(argv) or 75)
    monkeypatch.setattr(sys, "argv", ["vtoonify_launch.py", "render", "/plates/a b.mp4", "-o", "/out",
                                      "--frames=4-6", "--style=arcane", "--color-transfer=false", "--mattes=true",
                                      "--models=", "--resume"])
    with pytest.raises(SystemExit) as stopped:
        exec(compile(code, "vtoonify_launch.py", "exec"), {"__name__": "__main__"})
    assert stopped.value.code == 75                                   # the engine's exit code, unchanged
    assert seen == [["render", "/plates/a b.mp4", "-o", "/out", "--frames", "4-6", "--style", "arcane",
                     "--mattes", "--resume"]]


def test_openjd_frame_steps_reach_the_engine(template, monkeypatch):
    """``Frames`` is an OpenJD range expression, whose step is ``1-9:2`` (the engine's is ``1-9x2``); prepare
    got it as typed and refused it (exit 2), failing the whole job. The launcher now respells the step."""
    import engine.cli

    code = template["steps"][0]["script"]["embeddedFiles"][0]["data"]
    seen = []
    monkeypatch.setattr(engine.cli, "main", lambda argv: seen.append(argv) or 0)
    for frames in ("1-9:2", "1-9:2,20-30", "1001-1100 : 10", "1-10", "3-3"):
        monkeypatch.setattr(sys, "argv", ["vtoonify_launch.py", "prepare", "/p.mp4", "-o", "/o", f"--frames={frames}"])
        with pytest.raises(SystemExit):
            exec(compile(code, "vtoonify_launch.py", "exec"), {"__name__": "__main__"})
    assert [parse_frame_ranges(argv[-1]) for argv in seen] == [
        [1, 3, 5, 7, 9], [1, 3, 5, 7, 9, *range(20, 31)], list(range(1001, 1101, 10)), list(range(1, 11)), [3]]


def _run_bundle(openjd: str, env: dict, **params) -> tuple[int, list[str], str]:
    """Run the whole job locally: (exit code, the session log's messages, openjd's full output)."""
    args = [openjd, "run", str(TEMPLATE)]
    for name, value in params.items():
        args += ["-p", f"{name}={value}"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    log = [line.split("\t", 1)[1] for line in done.stdout.splitlines() if "\t" in line]  # "<time>\t<message>"
    return done.returncode, log, done.stdout + done.stderr


@pytest.mark.slow
def test_bundle_runs_locally_prepare_once_then_every_chunk(openjd, media_dir, tmp_path, worker_env, single_render):
    out = tmp_path / "openjd"
    code, log, text = _run_bundle(openjd, worker_env, Source=media_dir / "529_2.mp4", Output=out,
                                  Frames=SAMPLE_FRAMES, ChunkSize=3, Backend="classic", EnginePython=sys.executable)
    assert code == 0 and "All actions completed successfully" in text, text[-3000:]
    steps = [m.split("'")[1] for m in log if m.startswith("Open Job Description CLI: Running step")]
    assert steps == ["Prepare", "Render"]
    render_at = log.index("Open Job Description CLI: Running step 'Render'")
    analyses = [(i, m) for i, m in enumerate(log) if m.startswith("openjd_status: shot analysis")]
    assert [m.split()[3] for _, m in analyses] == ["computed", "reused", "reused"]
    assert analyses[0][0] < render_at < analyses[1][0]            # prepared once, before any chunk
    chunks = [m.split(" = ")[1] for m in log if m.startswith("Frame(CHUNK[INT]) = ")]
    assert chunks == ["1-3", "4-6"]
    assert "openjd_progress: 100.0" in log

    farm_frames, single_frames = frame_files(out), frame_files(single_render)
    assert [frame_number(p) for p in farm_frames] == parse_frame_ranges(SAMPLE_FRAMES)
    assert [p.name for p in farm_frames] == [p.name for p in single_frames]
    for mine, reference in zip(farm_frames, single_frames):
        a, b = read_image(mine), read_image(reference)
        assert a.shape == b.shape and np.array_equal(a, b), mine.name


@pytest.mark.slow
def test_a_wrong_job_stops_at_prepare_with_exit_2(openjd, media_dir, tmp_path, worker_env):
    out = tmp_path / "openjd"
    code, log, text = _run_bundle(openjd, worker_env, Source=media_dir / "529_2.mp4", Output=out, Frames="25-40",
                                  Backend="classic", EnginePython=sys.executable)
    assert code != 0 and "Session ended with errors" in text
    assert any(m.startswith("Process pid ") and f"exited with code: {EXIT_USER_ERROR} " in m for m in log), text
    fail = [m for m in log if m.startswith("openjd_fail: ")]
    assert len(fail) == 1 and "outside the source" in fail[0]
    assert "Open Job Description CLI: Running step 'Render'" not in log
    assert not out.exists()


def _task_argv(template: dict, step: dict, params: dict, monkeypatch) -> list[str]:
    """The engine argv one task of ``step`` runs: its args with the job's parameters filled in (defaults
    for those not given), through the embedded launcher."""
    import engine.cli

    values = {p["name"]: p.get("default", "") for p in template["parameterDefinitions"]} | params
    filled = []
    for arg in step["script"]["actions"]["onRun"]["args"]:
        arg = arg.replace("{{Task.File.Launch}}", "vtoonify_launch.py").replace("{{Task.Param.Frame}}", "3-4")
        for name, value in values.items():
            arg = arg.replace(f"{{{{Param.{name}}}}}", str(value))
        assert "{{" not in arg, arg
        filled.append(arg)
    seen = []
    monkeypatch.setattr(engine.cli, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.setattr(sys, "argv", filled)
    code = step["script"]["embeddedFiles"][0]["data"]
    with pytest.raises(SystemExit):
        exec(compile(code, "vtoonify_launch.py", "exec"), {"__name__": "__main__"})
    return seen[0]


def test_faces_cryptomatte_precision_reach_prepare_and_chunks_alike(template, monkeypatch):
    from engine.cli import _config_from_args, build_parser

    params = {"Source": "/plates/two.mp4", "Output": "/renders/two", "Frames": "1-4", "Mattes": "true",
              "Cryptomatte": "true", "Faces": "all", "MaxFaces": 3, "Precision": "bf16", "DataWindow": "full"}
    configs = []
    for step, verb in zip(template["steps"], ("prepare", "render")):
        args = build_parser().parse_args(_task_argv(template, step, params, monkeypatch))
        assert args.command == verb
        configs.append(_config_from_args(args))
    prepare, chunk = configs
    assert (prepare.frames, chunk.frames, chunk.resume) == ("1-4", "3-4", True)
    assert (chunk.faces, chunk.max_faces, chunk.cryptomatte, chunk.mattes, chunk.precision, chunk.data_window) == (
        "all", 3, True, True, "bf16", "full")
    assert prepare.to_dict() | {"frames": None} == chunk.to_dict() | {"frames": None, "resume": False}
    # the defaults: one face, no Cryptomatte, and fp32 rather than the engine's per-machine "auto"
    args = build_parser().parse_args(_task_argv(template, template["steps"][1], params | {
        "Faces": "one", "Cryptomatte": "false", "Mattes": "false", "Precision": "fp32"}, monkeypatch))
    default = _config_from_args(args)
    assert (default.faces, default.cryptomatte, default.precision) == ("one", False, "fp32")
    assert {p["name"]: p["default"] for p in template["parameterDefinitions"] if p["name"] in (
        "Faces", "Cryptomatte", "MaxFaces", "Precision", "DataWindow")} == {
        "Faces": "one", "Cryptomatte": "false", "MaxFaces": 8, "Precision": "fp32", "DataWindow": "face"}


@pytest.mark.parametrize(("frames", "chunk_size"), [("1001-1097", 10), ("5", 10), ("1-3", 50), ("1-10,20-30", 4),
                                                    ("1-99:2", 4), ("7-7", 1)])
def test_openjd_chunks_hold_every_frame_once(frames, chunk_size):
    """The Render step's chunks as openjd-model itself cuts them (the code Deadline Cloud workers share): every
    frame of ``Frames`` in exactly one chunk, each chunk one ``a-b`` range the engine reads."""
    openjd_model = pytest.importorskip("openjd.model")
    from openjd.model import ParameterValue, ParameterValueType, StepParameterSpaceIterator

    template = openjd_model.decode_job_template(template=yaml.safe_load(TEMPLATE.read_text(encoding="utf-8")),
                                                supported_extensions=["TASK_CHUNKING"])
    values = {"Source": (ParameterValueType.PATH, "/p/a.mp4"), "Output": (ParameterValueType.PATH, "/o"),
              "Frames": (ParameterValueType.STRING, frames), "ChunkSize": (ParameterValueType.INT, str(chunk_size))}
    job = openjd_model.create_job(job_template=template, job_parameter_values={
        name: ParameterValue(type=kind, value=value) for name, (kind, value) in values.items()})
    render = next(step for step in job.steps if step.name == "Render")
    chunks = [task["Frame"].value for task in StepParameterSpaceIterator(space=render.parameterSpace)]
    assert all(re.fullmatch(r"\d+(-\d+)?", chunk) for chunk in chunks), chunks
    rendered = [frame for chunk in chunks for frame in parse_frame_ranges(chunk)]
    assert rendered == parse_frame_ranges(frames.replace(":", "x"))
    assert all(len(parse_frame_ranges(chunk)) <= chunk_size for chunk in chunks)
