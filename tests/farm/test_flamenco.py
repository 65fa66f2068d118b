"""The Flamenco 3 job type, compiled in Node (node:vm, Flamenco's globals stood in) and then run:
its chunk commands as two parallel local workers must equal one single-process render."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from farm_helpers import FLAMENCO_KEYS, REPO, SAMPLE_FRAMES, frame_files, frame_number

from engine.cli import build_parser
from engine.io import read_image
from engine.pipeline.config import DATA_WINDOWS, RenderConfig
from engine.pipeline.frames import parse_frame_ranges
from engine.service import catalog

JOB_SCRIPT = REPO / "farm" / "flamenco" / "vtoonify.js"
HARNESS = Path(__file__).with_name("flamenco_harness.js")


def compile_job(node: str, settings: dict) -> dict:
    done = subprocess.run([node, str(HARNESS), str(JOB_SCRIPT), json.dumps(settings)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def engine_config(command: dict):
    """The RenderConfig the engine builds from a compiled exec command (its own argument parser)."""
    from engine.cli import _config_from_args

    assert command["name"] == "exec"
    args = command["parameters"]["args"]
    assert args[:2] == ["-m", "engine"]
    parsed = build_parser().parse_args(args[2:])
    return parsed.command, _config_from_args(parsed)


def test_job_type_settings_match_the_engine(node):
    job_type = compile_job(node, {"source": "/s.mp4", "output": "/o", "frames": "1", "engine_python": "py"})["job_type"]
    settings = {s["key"]: s for s in job_type["settings"]}
    assert tuple(settings) == FLAMENCO_KEYS
    assert {k for k, s in settings.items() if s.get("required")} == {"source", "output", "frames"}
    assert all(s["type"] in ("string", "int32", "float", "bool") for s in settings.values())
    assert all(s.get("visible", "visible") in ("visible", "hidden", "submission", "web") for s in settings.values())
    for key in ("style", "style_id", "degree", "color_transfer", "format", "device", "backend"):
        assert settings[key]["default"] == catalog.DEFAULTS[key], key
    assert tuple(settings["style"]["choices"]) == catalog.STYLE_FAMILIES
    assert tuple(settings["format"]["choices"]) == catalog.FORMATS
    assert tuple(settings["device"]["choices"]) == catalog.DEVICES
    assert tuple(settings["backend"]["choices"]) == catalog.BACKENDS
    assert tuple(settings["faces"]["choices"]) == catalog.FACE_MODES and settings["faces"]["default"] == "one"
    assert settings["max_faces"]["default"] == RenderConfig.max_faces and settings["cryptomatte"]["default"] is False
    # the farm pins fp32: the engine's "auto" resolves per worker and would split a mixed farm's job key
    assert set(settings["precision"]["choices"]) == set(catalog.PRECISIONS)
    assert settings["precision"]["default"] == "fp32" != catalog.DEFAULTS["precision"]
    assert tuple(settings["data_window"]["choices"]) == DATA_WINDOWS
    assert settings["data_window"]["default"] == RenderConfig.data_window


def test_eval_expressions_read_the_active_strip(node):
    """The add-on evaluates ``eval`` in Blender (C = bpy.context): here against a stand-in movie strip
    trimmed to show source frames 11-40."""
    job_type = compile_job(node, {"source": "/s.mp4", "output": "/o", "frames": "1", "engine_python": "py"})["job_type"]
    settings = {s["key"]: s for s in job_type["settings"]}
    strip = SimpleNamespace(filepath="//plates/shot010.mp4", frame_offset_start=10.0, frame_final_duration=30)
    context = SimpleNamespace(scene=SimpleNamespace(sequence_editor=SimpleNamespace(active_strip=strip)))
    bpy = SimpleNamespace(path=SimpleNamespace(abspath=lambda p: p.replace("//", "/projects/shot010/")))
    scope = {"C": context, "bpy": bpy}
    assert eval(settings["frames"]["eval"], scope) == "11-40"
    assert eval(settings["source"]["eval"], scope) == "/projects/shot010/plates/shot010.mp4"


def test_compiled_tasks_commands_and_dependencies(node):
    settings = {"source": "/plates/shot010.mp4", "output": "/renders/shot010", "frames": "1-10,20-30",
                "chunk_size": 4, "style": "arcane", "style_id": 3, "degree": 0.25, "color_transfer": True,
                "format": "png", "mattes": True, "models_dir": "/farm/models", "engine_python": "/opt/vt/bin/python",
                "device": "cuda", "backend": "vtoonify", "faces": "all", "max_faces": 3, "precision": "bf16",
                "data_window": "full"}
    tasks = compile_job(node, settings)["tasks"]
    prepare, renders = tasks[0], tasks[1:]
    assert prepare["name"] == "prepare" and prepare["dependencies"] == []
    chunks = [t["name"].removeprefix("render-") for t in renders]
    assert chunks == ["1-4", "5-8", "9,10,20,21", "22-25", "26-29", "30"]   # Flamenco writes a 2-frame run "9,10"
    covered = [f for chunk in chunks for f in parse_frame_ranges(chunk)]
    assert covered == parse_frame_ranges("1-10,20-30")            # every frame once, none twice
    assert {t["type"] for t in tasks} == {"vtoonify"}
    assert all(t["dependencies"] == ["prepare"] for t in renders)
    assert all(len(t["commands"]) == 1 and t["commands"][0]["parameters"]["exe"] == "/opt/vt/bin/python"
               for t in tasks)

    verb, config = engine_config(prepare["commands"][0])
    assert verb == "prepare" and config.frames == "1-10,20-30" and not config.resume
    expected = {"source": "/plates/shot010.mp4", "output": "/renders/shot010", "style": "arcane", "style_id": 3,
                "degree": 0.25, "color_transfer": True, "format": "png", "mattes": True,
                "models_dir": "/farm/models", "device": "cuda", "backend": "vtoonify", "faces": "all", "max_faces": 3,
                "precision": "bf16", "cryptomatte": False, "data_window": "full"}
    assert {k: getattr(config, k) for k in expected} == expected
    for task, chunk in zip(renders, chunks):
        verb, chunk_config = engine_config(task["commands"][0])
        assert verb == "render" and chunk_config.frames == chunk and chunk_config.resume
        # prepare and every chunk agree on everything but the frames, so they share one job key
        assert chunk_config.to_dict() | {"frames": None, "resume": False} == config.to_dict() | {"frames": None}


@pytest.mark.parametrize(("frames", "chunk_size", "chunks", "prepare_frames"), [
    ("1..10", 4, ["1-4", "5-8", "9,10"], "1-10"),                       # Blender's notation, as Flamenco reads it
    ("20-30, 1-10", 4, ["1-4", "5-8", "9,10,20,21", "22-25", "26-29", "30"], "1-10,20-30"),
    ("1001..1013", 5, ["1001-1005", "1006-1010", "1011-1013"], "1001-1013"),
    ("7", 10, ["7"], "7"),
    ("1001-1097", 10, [f"{a}-{min(a + 9, 1097)}" for a in range(1001, 1098, 10)], "1001-1097"),
    ("1-3", 50, ["1-3"], "1-3"),                                         # a chunk larger than the range
])
def test_prepare_gets_the_frames_the_chunks_render(node, frames, chunk_size, chunks, prepare_frames):
    """Prepare used to get the ``frames`` text as typed: Flamenco's frameChunker reads ``1..10`` but the engine
    does not, so the prepare task failed (exit 2) and with it the whole job. It now gets frameChunker's own
    list, which the engine reads, and which covers exactly the chunks' frames."""
    tasks = compile_job(node, {"source": "/s.mp4", "output": "/o", "frames": frames, "chunk_size": chunk_size,
                               "engine_python": "py"})["tasks"]
    assert [t["name"].removeprefix("render-") for t in tasks[1:]] == chunks
    verb, prepare = engine_config(tasks[0]["commands"][0])
    assert verb == "prepare" and prepare.frames == prepare_frames
    covered = [f for t in tasks[1:] for f in parse_frame_ranges(engine_config(t["commands"][0])[1].frames)]
    assert covered == parse_frame_ranges(prepare.frames)                 # every frame once, none twice


def test_defaults_add_no_optional_flags(node):
    tasks = compile_job(node, {"source": "/s.mp4", "output": "/o", "frames": "1-25", "engine_python": "py"})["tasks"]
    assert [t["name"] for t in tasks] == ["prepare", "render-1-10", "render-11-20", "render-21-25"]
    args = tasks[1]["commands"][0]["parameters"]["args"]
    assert not {"--mattes", "--color-transfer", "--models", "--cryptomatte", "--faces", "--max-faces"} & set(args)
    _, config = engine_config(tasks[1]["commands"][0])
    assert config.models_dir is None and config.style == "cartoon" and config.device == "auto"
    assert config.faces == "one" and not config.cryptomatte and config.precision == "fp32"
    assert config.data_window == "face"
    assert [engine_config(t["commands"][0])[1].precision for t in tasks] == ["fp32"] * 4


def test_cryptomatte_and_faces_reach_prepare_and_every_chunk(node):
    tasks = compile_job(node, {"source": "/s.mp4", "output": "/o", "frames": "1-4", "chunk_size": 2,
                               "engine_python": "py", "mattes": True, "cryptomatte": True, "faces": "all",
                               "max_faces": 2})["tasks"]
    configs = [engine_config(t["commands"][0])[1] for t in tasks]
    assert [(c.faces, c.max_faces, c.cryptomatte, c.mattes, c.format) for c in configs] == \
        [("all", 2, True, True, "exr")] * 3
    assert all(c.to_dict() | {"frames": None, "resume": False} == configs[0].to_dict() | {"frames": None}
               for c in configs[1:])


@pytest.mark.parametrize(("settings", "message"), [
    ({"chunk_size": 0}, "chunk_size must be 1 or more"),
    ({"engine_python": ""}, 'setting "engine_python" is empty'),
    ({"frames": None}, 'required setting "frames" is missing'),
    ({"cryptomatte": True}, "cryptomatte needs mattes and format exr"),
    ({"cryptomatte": True, "mattes": True, "format": "png"}, "cryptomatte needs mattes and format exr"),
    ({"cryptomatte": True, "mattes": True, "format": "exr", "exr_compression": "dwaa"},
     "cryptomatte needs lossless EXR compression"),
    ({"faces": "all", "max_faces": 0}, "max_faces must be 1 to 32, not 0"),
    ({"faces": "all", "output_space": "crop"}, "faces 'all' places every face over the plate"),
    ({"mattes": True, "matte_layers": False}, "matte_layers off needs matte_files"),
    ({"png_bits": 12}, "png_bits must be 8 or 16, not 12"),
    ({"scale": 0}, "scale must be 0.05 to 8, not 0"),
    ({"padding": "10,20"}, 'padding must be one number or four (left,right,top,bottom), not "10,20"'),
    ({"batch": 65}, "batch must be 0 (automatic) to 64, not 65"),
    ({"follow_faces": True, "smooth_parsing": True}, "smooth_parsing warps parsing maps within one fixed crop"),
    ({"follow_faces": True, "smooth_parsing": True, "backend": "vtoonify"}, "turn it off with follow_faces"),
])
def test_bad_jobs_are_refused_at_compile_time(node, settings, message):
    base = {"source": "/s.mp4", "output": "/o", "frames": "1-5", "engine_python": "py"}
    base.update(settings)
    base = {k: v for k, v in base.items() if v is not None}
    assert message in compile_job(node, base)["error"]


def test_follow_faces_with_smooth_parsing_compiles_for_classic_which_ignores_the_smoothing(node):
    """The engine renders the pair with --backend classic (smoothing ignored, with a warning): so does the farm."""
    settings = {"source": "/s.mp4", "output": "/o", "frames": "1-5", "engine_python": "py", "backend": "classic",
                "follow_faces": True, "smooth_parsing": True}
    compiled = compile_job(node, settings)
    assert "error" not in compiled, compiled.get("error")
    for task in compiled["tasks"]:
        _, config = engine_config(task["commands"][0])
        assert (config.backend, config.follow_faces, config.smooth_parsing) == ("classic", True, True)


def _popen(command: dict, env: dict) -> subprocess.Popen:
    params = command["parameters"]
    return subprocess.Popen([params["exe"], *params["args"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)


@pytest.mark.slow
def test_chunks_on_two_parallel_workers_equal_one_render(node, media_dir, tmp_path, worker_env, single_render):
    out = tmp_path / "farm"
    job = compile_job(node, {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": SAMPLE_FRAMES,
                             "chunk_size": 3, "engine_python": sys.executable, "backend": "classic"})
    prepare, *renders = job["tasks"]
    assert [t["name"] for t in renders] == ["render-1-3", "render-4-6"]

    analysed = _popen(prepare["commands"][0], worker_env)
    stdout, stderr = analysed.communicate(timeout=300)
    assert analysed.returncode == 0, stderr
    assert "shot analysed: face in frame 1" in stdout
    sidecar = out / "529_2.vtoonify.json"
    before = os.stat(sidecar)

    workers = [_popen(t["commands"][0], worker_env) for t in renders]     # two workers at once
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    after = os.stat(sidecar)
    # prepare ran once: the chunks read its sidecar; any new analysis would have replaced the file (new inode)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    farm_frames, single_frames = frame_files(out), frame_files(single_render)
    assert [frame_number(p) for p in farm_frames] == parse_frame_ranges(SAMPLE_FRAMES)   # none missing or twice
    assert [p.name for p in farm_frames] == [p.name for p in single_frames]
    for mine, reference in zip(farm_frames, single_frames):
        a, b = read_image(mine), read_image(reference)
        assert a.shape == b.shape and np.array_equal(a, b), mine.name
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert json.loads(sidecar.read_text())["job_key"] == \
        json.loads((single_render / "529_2.vtoonify.json").read_text())["job_key"]


@pytest.mark.slow
def test_two_face_chunks_with_cryptomatte_equal_one_render(node, media_dir, tmp_path, worker_env):
    """``faces = all``: prepare finds both faces once; two chunk workers then give the pixels, mattes and
    Cryptomatte layers of one single-process render, channel for channel."""
    from farm_helpers import two_face_plate

    from engine.pipeline.render import render

    plate = two_face_plate(media_dir, tmp_path / "plate")
    out = tmp_path / "farm"
    job = compile_job(node, {"source": plate, "output": str(out), "frames": "1-4", "chunk_size": 2,
                             "engine_python": sys.executable, "backend": "classic", "mattes": True,
                             "cryptomatte": True, "faces": "all", "max_faces": 4})
    prepare, *renders = job["tasks"]
    assert [t["name"] for t in renders] == ["render-1,2", "render-3,4"]      # Flamenco writes 2 frames "1,2"
    analysed = _popen(prepare["commands"][0], worker_env)
    stdout, stderr = analysed.communicate(timeout=300)
    assert analysed.returncode == 0, stderr
    assert "2 faces (face01 from frame 1, face02 from frame 2)" in stdout
    workers = [_popen(t["commands"][0], worker_env) for t in renders]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr

    _, config = engine_config(prepare["commands"][0])            # the same settings, one process, all frames
    single = render(RenderConfig(**{**config.to_dict(), "output": str(tmp_path / "single")}))
    assert single.rendered == 4
    farm_frames, single_frames = frame_files(out), frame_files(tmp_path / "single")
    assert [p.name for p in farm_frames] == [p.name for p in single_frames] == [f"two.{n:04d}.exr" for n in range(1, 5)]
    for mine, reference in zip(farm_frames, single_frames):
        a, b = read_image(mine), read_image(reference)
        assert a.shape == b.shape and a.shape[2] > 4 + 12 and np.array_equal(a, b), mine.name  # RGBA, mattes, crypto
    sidecar = json.loads((out / "two.vtoonify.json").read_text())
    assert [f["name"] for f in sidecar["faces"]] == ["face01", "face02"]
    assert sidecar == json.loads((tmp_path / "single" / "two.vtoonify.json").read_text())
