"""The Deadline and OpenCue recipes: docs/FARM.md shows the exact files, and every command in them is a
valid engine command line whose prepare and chunk settings agree (one job key)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import types

import pytest
from farm_helpers import REPO

from engine.cli import _config_from_args, parse_args
from engine.pipeline.frames import parse_frame_ranges

FARM_DOC = REPO / "docs" / "FARM.md"
RECIPE_FILES = ["farm/deadline/prepare.job", "farm/deadline/prepare.plugin", "farm/deadline/render.job",
                "farm/deadline/render.plugin", "farm/deadline/submit.sh", "farm/opencue/submit_vtoonify.py"]


def engine_config(argv: list[str]):
    """(verb, RenderConfig) of ``python -m engine ARGV`` as the engine's own parser reads it."""
    assert argv[:2] == ["-m", "engine"], argv
    args = parse_args(argv[2:])
    return args.command, _config_from_args(args)


def same_job(prepare, chunk) -> bool:
    return prepare.to_dict() | {"frames": None, "resume": False} == chunk.to_dict() | {"frames": None,
                                                                                        "resume": False}


@pytest.mark.parametrize("name", RECIPE_FILES)
def test_farm_doc_shows_the_exact_file(name):
    text = (REPO / name).read_text(encoding="utf-8")
    assert f"`{name}`:\n\n```" in FARM_DOC.read_text(encoding="utf-8")
    assert f"\n{text}```" in FARM_DOC.read_text(encoding="utf-8"), f"docs/FARM.md shows another {name}"


def _ini(name: str) -> dict[str, str]:
    lines = (REPO / "farm" / "deadline" / name).read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip())


def test_deadline_jobs_prepare_once_then_chunks():
    prepare_job, render_job = _ini("prepare.job"), _ini("render.job")
    assert prepare_job["Plugin"] == render_job["Plugin"] == "CommandLine"
    assert prepare_job["Frames"] == "0" and render_job["ChunkSize"].isdigit()
    assert "JobDependencies" in render_job                       # submit.sh puts the prepare job's id here
    prepare_verb, prepare = engine_config(shlex.split(_ini("prepare.plugin")["Arguments"]))
    arguments = _ini("render.plugin")["Arguments"]
    assert "--frames <STARTFRAME>-<ENDFRAME>" in arguments
    render_verb, chunk = engine_config(shlex.split(arguments.replace("<STARTFRAME>", "11").replace("<ENDFRAME>",
                                                                                                  "20")))
    assert (prepare_verb, render_verb) == ("prepare", "render")
    assert prepare.frames == render_job["Frames"] and chunk.frames == "11-20" and chunk.resume
    assert same_job(prepare, chunk)
    assert _ini("prepare.plugin")["Executable"] == _ini("render.plugin")["Executable"]
    assert subprocess.run(["bash", "-n", str(REPO / "farm" / "deadline" / "submit.sh")]).returncode == 0


class _Layer:
    def __init__(self, name, command, **args):
        self.name, self.command, self.args, self.depends = name, command, args, []

    def depend_all(self, other):
        self.depends.append(other.name)


class _Outline:
    def __init__(self, name, **args):
        self.name, self.args, self.layers = name, args, []

    def add_layer(self, layer):
        self.layers.append(layer)


def _load_opencue_script(monkeypatch):
    """Import the OpenCue recipe with stand-ins for PyOutline (not installable here)."""
    shell = types.ModuleType("outline.modules.shell")
    shell.Shell = _Layer
    outline = types.ModuleType("outline")
    outline.Outline, outline.cuerun = _Outline, types.SimpleNamespace(launch=None)
    for name, module in {"outline": outline, "outline.modules": types.ModuleType("outline.modules"),
                         "outline.modules.shell": shell}.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("submit_vtoonify", REPO / "farm" / "opencue" / "submit_vtoonify.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_opencue_outline_prepare_layer_then_chunked_render(monkeypatch):
    script = _load_opencue_script(monkeypatch)
    launched = []
    monkeypatch.setattr(script.cuerun, "launch", lambda job, use_pycuerun: launched.append((job, use_pycuerun)))
    monkeypatch.setattr(sys, "argv", ["submit_vtoonify.py", "/plates/s.mp4", "/renders/s", "--frames", "1-120",
                                      "--chunk", "12", "--python", "/opt/vt/bin/python", "--shot", "s010", "--",
                                      "--style", "arcane", "--mattes"])
    script.main()
    (job, use_pycuerun), = launched
    assert not use_pycuerun and job.name == "s010_vtoonify"
    prepare, render = job.layers
    assert (prepare.name, prepare.args) == ("prepare", {"range": "1", "chunk": 1})
    assert (render.name, render.args, render.depends) == ("render", {"range": "1-120", "chunk": 12}, ["prepare"])
    assert prepare.command[0] == render.command[0] == "/opt/vt/bin/python"
    verb, prep = engine_config(prepare.command[1:])
    assert verb == "prepare" and prep.frames == "1-120" and prep.style == "arcane" and prep.mattes
    chunk_args = [a.replace("#FRAMESPEC#", "13-24") for a in render.command[1:]]
    verb, chunk = engine_config(chunk_args)
    assert verb == "render" and chunk.frames == "13-24" and chunk.resume and same_job(prep, chunk)


def test_opencue_takes_a_negative_frame_range_given_as_its_own_word(monkeypatch):
    """A shot numbered below zero: `--frames -10-20` (as the engine takes it since 'CLI: a negative frame range
    given as its own word renders') failed argparse with 'expected one argument' and submitted nothing."""
    script = _load_opencue_script(monkeypatch)
    launched = []
    monkeypatch.setattr(script.cuerun, "launch", lambda job, use_pycuerun: launched.append(job))
    monkeypatch.setattr(sys, "argv", ["submit_vtoonify.py", "/plates/s.mp4", "/renders/s", "--frames", "-10-20",
                                      "--python", "py", "--", "--start-number", "-10"])
    script.main()
    (job,) = launched
    prepare, render = job.layers
    assert render.args["range"] == "-10-20"
    verb, prep = engine_config(prepare.command[1:])
    assert verb == "prepare" and prep.frames == "-10-20"
    with pytest.raises(SystemExit):                      # an option after --frames is still no frame range
        script.main(["/p/s.mp4", "/r/s", "--frames", "--chunk", "4", "--python", "py"])


def cuebot_framespecs(frame_range: str, chunk: int) -> list[str]:
    """What Cuebot puts in ``#FRAMESPEC#`` for each frame of a chunked layer (FrameSet.getChunk): the next
    ``chunk`` frames of the layer's frame list, runs of one step written ``a-b`` / ``a-bxN``, else ``a,b``."""
    frames = parse_frame_ranges(frame_range)
    specs = []
    for i in range(0, len(frames), chunk):
        part = frames[i:i + chunk]
        step = part[1] - part[0] if len(part) > 1 else 1
        if len(part) > 2 and all(b - a == step for a, b in itertools.pairwise(part)):
            specs.append(f"{part[0]}-{part[-1]}" + (f"x{step}" if step > 1 else ""))
        else:
            specs.append(",".join(map(str, part)))
    return specs


@pytest.mark.parametrize(("frames", "chunk"), [("1-125", 10), ("1001-1100", 7), ("1001-1097", 10), ("1-120x2", 10),
                                               ("1-10,20-30", 4), ("5", 3), ("1-3", 1), ("1-3", 50)])
def test_opencue_chunks_render_each_frame_once(monkeypatch, frames, chunk):
    """Every chunk gets exactly its own frames: the command takes ``#FRAMESPEC#``, not ``#FRAME_START#-
    #FRAME_END#``, which Cuebots before 1.0 filled with the chunk's last index (1-120 by 10: 1-9, 11-19, ...;
    1001-1100: 1001-6) and which spans the frames of a stepped range or a frame list that the job skips."""
    script = _load_opencue_script(monkeypatch)
    launched = []
    monkeypatch.setattr(script.cuerun, "launch", lambda job, use_pycuerun: launched.append(job))
    script.main(["/p/s.mp4", "/r/s", "--frames", frames, "--chunk", str(chunk), "--python", "py"])
    render = launched[0].layers[1]
    assert render.args == {"range": frames, "chunk": chunk}
    command = " ".join(render.command)                    # as PyOutline serializes it (use_pycuerun=False)
    assert "#FRAME_END#" not in command and "#FRAME_START#" not in command
    rendered = []
    for spec in cuebot_framespecs(frames, chunk):
        _, config = engine_config(shlex.split(command.replace("#FRAMESPEC#", spec))[1:])
        rendered += parse_frame_ranges(config.frames)
    assert rendered == parse_frame_ranges(frames)          # none dropped, none twice, none the job skips


@pytest.mark.parametrize(("own", "named"), [(["--shot", "shot 010"], "--shot"), (["--shot", "s1"], "--shot"),
                                            (["--shot", "sh/010"], "--shot"), (["--chunk", "0"], "--chunk"),
                                            (["--chunk", "-5"], "--chunk")])
def test_opencue_refuses_what_cuebot_would_refuse(monkeypatch, capsys, own, named):
    """Cuebot's CJSL DTD makes the job name (``SHOT_vtoonify``) an XML NMTOKEN and its JobSpec takes a shot
    name only as 3+ of ``[A-Za-z0-9_.-]``; a chunk below 1 has no frames. Such a job used to be built and
    sent, and Cuebot refused the whole spec after submission: the script now stops first (exit 2)."""
    script = _load_opencue_script(monkeypatch)
    launched = []
    monkeypatch.setattr(script.cuerun, "launch", lambda job, use_pycuerun: launched.append(job))
    with pytest.raises(SystemExit) as stopped:
        script.main(["/p/s.mp4", "/r/s", "--frames", "1-4", "--python", "py", *own])
    assert stopped.value.code == 2 and not launched
    err = capsys.readouterr().err
    assert named in err and own[1] in err, err


def test_opencue_command_survives_rqds_shell(monkeypatch, tmp_path):
    """RQD writes the joined command into a file and runs it with /bin/sh: paths with spaces, quotes, ``$``
    and non-ASCII letters must reach the engine as they were given."""
    script = _load_opencue_script(monkeypatch)
    launched = []
    monkeypatch.setattr(script.cuerun, "launch", lambda job, use_pycuerun: launched.append(job))
    dump = tmp_path / "engine py ü" / "python"             # stands in for the engine's Python: prints its argv
    dump.parent.mkdir()
    dump.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n", encoding="utf-8")
    dump.chmod(0o755)
    source, output = "/plates/shot 010/it's $HOME ü.mp4", "/renders/Café (v001)/a&b"
    script.main([source, output, "--frames", "1-4", "--chunk", "2", "--python", str(dump), "--",
                 "--matte-classes", "skin,hair", "--exstyle-image", "/refs/me & you; `id`.png"])
    prepare, render = launched[0].layers
    for layer, frames in ((prepare, "1-4"), (render, "1-2")):
        command_file = tmp_path / f"rqd-cmd-{layer.name}"
        command_file.write_text(" ".join(layer.command).replace("#FRAMESPEC#", "1-2"), encoding="utf-8")
        done = subprocess.run(["/bin/sh", str(command_file)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        verb, config = engine_config(json.loads(done.stdout))
        assert (verb, config.source, config.output, config.frames) == (layer.name, source, output, frames)
        assert (config.exstyle_image, config.matte_classes) == ("/refs/me & you; `id`.png", "skin,hair")


def test_deadline_submit_help_and_a_machine_without_deadline(tmp_path):
    """--help is usage, not an engine option; without deadlinecommand the script stops before submitting,
    naming the tool and how to get it (it used to end with bash's 'command not found', exit 127)."""
    script = str(REPO / "farm" / "deadline" / "submit.sh")
    bare = dict(os.environ, PATH="/usr/bin:/bin")  # the system's tools, no Deadline Client
    assert shutil.which("deadlinecommand", path=bare["PATH"]) is None
    helped = subprocess.run(["bash", script, "--help"], capture_output=True, text=True, env=bare, timeout=30)
    assert helped.returncode == 0 and "usage:" in helped.stdout and "--style arcane" in helped.stdout
    done = subprocess.run(["bash", script, "--style", "arcane"], capture_output=True, text=True, env=bare,
                          timeout=30)
    assert done.returncode == 2, done.stderr
    assert "deadlinecommand is not on PATH" in done.stderr and "install the Deadline Client" in done.stderr
    assert "command not found" not in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("outline") is not None, reason="PyOutline is installed here")
def test_opencue_script_helps_and_names_the_missing_pyoutline():
    script = str(REPO / "farm" / "opencue" / "submit_vtoonify.py")
    helped = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0, helped.stderr
    assert "--frames" in helped.stdout and "--chunk 10 \\\n" in helped.stdout  # the example as it pastes
    done = subprocess.run([sys.executable, script, "/p/s.mp4", "/r/s", "--frames", "1-4", "--python", "py", "--",
                           "--mattes"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "PyOutline" in done.stderr and "pip install opencue-pyoutline" in done.stderr


def deadline_tasks(frames: str, chunk_size: int) -> list[tuple[int, int]]:
    """(first, last) frame of each task Deadline makes of a job's contiguous ``Frames`` and ``ChunkSize``: the
    next ``ChunkSize`` frames each, the last task holding what is left."""
    numbers = parse_frame_ranges(frames)
    return [(part[0], part[-1]) for part in (numbers[i:i + chunk_size] for i in range(0, len(numbers), chunk_size))]


@pytest.mark.parametrize(("frames", "chunk_size"), [("1001-1097", 10), ("5", 10), ("1-3", 50), ("1-120", 10)])
def test_deadline_chunks_render_each_frame_once(frames, chunk_size):
    arguments = _ini("render.plugin")["Arguments"]
    rendered = []
    for first, last in deadline_tasks(frames, chunk_size):
        argv = arguments.replace("<STARTFRAME>", str(first)).replace("<ENDFRAME>", str(last))
        _, chunk = engine_config(shlex.split(argv))
        assert chunk.resume
        rendered += parse_frame_ranges(chunk.frames)
    assert rendered == parse_frame_ranges(frames)


def test_a_deadline_chunk_resumes_only_its_missing_frames(media_dir, tmp_path):
    """A requeued chunk (exit 75, a lost worker) reruns the job file's own command line: with --resume it
    renders only the frames the first try did not finish and leaves the finished files alone."""
    from farm_helpers import engine_env, frame_files, frame_number

    (tmp_path / "no-models").mkdir()
    out = tmp_path / "out"
    argv = shlex.split(_ini("render.plugin")["Arguments"].replace("<STARTFRAME>", "1").replace("<ENDFRAME>", "3"))
    argv = [str(media_dir / "529_2.mp4") if a == "/shows/demo/plates/shot010.mp4" else a for a in argv]
    argv = [str(out) if a == "/shows/demo/renders/shot010/v001" else a for a in argv]
    argv += ["--backend", "classic", "--device", "cpu", "--models", str(tmp_path / "no-models")]  # last value wins
    env = engine_env(tmp_path / "no-models")
    first = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert first.returncode == 0, first.stderr
    frames = frame_files(out)
    assert [frame_number(p) for p in frames] == [1, 2, 3]
    frames[1].unlink()                                            # the frame a killed first try did not finish
    kept = {p.name: p.stat().st_mtime_ns for p in (frames[0], frames[2])}
    again = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert again.returncode == 0, again.stderr
    assert [frame_number(p) for p in frame_files(out)] == [1, 2, 3]
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept
