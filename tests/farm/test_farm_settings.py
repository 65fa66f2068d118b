"""Every ``engine render`` option reaches every farm integration (Flamenco, OpenJD, Deadline 10, OpenCue) with
the CLI's default, or is listed in ``farm_helpers.NOT_ON_THE_FARM`` with the reason: a flag added to the CLI
and forgotten on the farm fails here. Each job type's prepare and chunk commands are read back with the
engine's own parser, so a setting counts as exposed only when its value arrives in the RenderConfig."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from farm_helpers import FARM_KEY_OF_DEST, FARM_OWN_KEYS, FLAMENCO_KEYS, NOT_ON_THE_FARM, REPO, camel
from test_flamenco import compile_job
from test_openjd import TEMPLATE
from test_recipes import _load_opencue_script

from engine.cli import _config_from_args, build_parser

FARM_DEFAULTS = {"precision": "fp32"}
"""Where the farm's default differs from the CLI's, on purpose: ``auto`` precision resolves per worker and
would split a mixed farm's job key (docs/FARM.md "Settings on the farm")."""
SHOT = {"source": "/plates/shot010.mp4", "output": "/renders/shot010/v001", "frames": "1-4"}

NON_DEFAULT_JOBS = [
    {"style": "arcane", "style_id": 3, "degree": 0.25, "color_transfer": True, "backbone": "toonify",
     "exstyle_image": "/refs/my face.png", "exr_compression": "piz", "png_bits": 16,
     "mattes": True, "matte_files": True, "matte_layers": False, "matte_classes": "skin,hair", "cryptomatte": True,
     "faces": "all", "max_faces": 3, "data_window": "full", "scale": 0.5, "padding": (100, 120, 140, 160),
     "smooth_parsing": True, "orientation": "stored", "start_number": 1001, "name": "shot010_toon",
     "precision": "bf16", "models_dir": "/farm/models", "device": "cuda", "backend": "vtoonify", "batch": 4,
     "compile": "auto"},
    {"output_space": "crop", "format": "png", "precision": "auto", "start_number": -5, "scale": 2.0,
     "follow_faces": True, "exr_compression": "dwaa"},  # dwaa: lossy, so never with Cryptomatte
]
"""Two consistent jobs (crop output holds one face) that together give every farm setting a value other
than the CLI's default."""


def render_actions() -> dict[str, argparse.Action]:
    """dest -> argparse action of every ``engine render`` option (the job settings, shared with prepare)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = {a.dest: a for a in sub.choices["render"]._actions if a.dest != "help"}
    assert set(actions) == {a.dest for a in sub.choices["prepare"]._actions if a.dest != "help"}
    return actions


def farm_dests() -> list[str]:
    return [dest for dest in render_actions() if dest not in NOT_ON_THE_FARM]


def farm_key(dest: str) -> str:
    return FARM_KEY_OF_DEST.get(dest, dest)


def cli_config(verb: str, **settings):
    """The RenderConfig ``engine VERB`` builds from the CLI's defaults plus ``settings``."""
    defaults = _config_from_args(build_parser().parse_args([verb, SHOT["source"], "-o", SHOT["output"]]))
    return dataclasses.replace(defaults, **settings)


def expected_configs(job: dict, chunk: str) -> tuple:
    """(prepare, chunk) configs of ``job`` on the farm: the CLI's defaults, the farm's, then the job's."""
    settings = FARM_DEFAULTS | {"frames": SHOT["frames"]} | job
    return cli_config("prepare", **settings), cli_config("render", **settings | {"frames": chunk, "resume": True})


def parsed(argv: list[str]):
    args = build_parser().parse_args(argv)
    return args.command, _config_from_args(args)


def cli_args(job: dict) -> list[str]:
    """``job`` spelt as engine command-line options (what the Deadline and OpenCue recipes pass through)."""
    actions, argv = render_actions(), []
    for dest, value in job.items():
        option = actions[dest].option_strings[-1]
        if isinstance(actions[dest], argparse._StoreFalseAction):
            argv += [] if value else [option]
        elif isinstance(actions[dest], argparse._StoreTrueAction):
            argv += [option] if value else []
        else:
            argv += [option, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return argv


def test_every_render_option_is_on_the_farm_or_listed_with_a_reason():
    actions = render_actions()
    stale = set(NOT_ON_THE_FARM) - set(actions)
    assert not stale, f"NOT_ON_THE_FARM lists options the CLI no longer has: {sorted(stale)}"
    assert all(len(reason) > 40 for reason in NOT_ON_THE_FARM.values())
    exposed = {farm_key(dest) for dest in farm_dests()} | set(FARM_OWN_KEYS)
    missing = exposed - set(FLAMENCO_KEYS)
    assert not missing, (f"engine render options {sorted(missing)} are on no farm: add them to "
                         "farm/flamenco/vtoonify.js, farm/openjd/template.yaml and docs/FARM.md, or to "
                         "NOT_ON_THE_FARM in tests/farm/farm_helpers.py with the reason")
    assert set(FLAMENCO_KEYS) == exposed, "a farm setting that is no engine option"
    covered = {dest for job in NON_DEFAULT_JOBS for dest in job}
    assert covered == set(farm_dests()) - {"source", "output", "frames"}, "give every setting a non-default value"
    farm_default = cli_config("render", **FARM_DEFAULTS)
    for job in NON_DEFAULT_JOBS:
        assert all(getattr(farm_default, k) != v for k, v in job.items()), job


def _choices(setting) -> set:
    return set(setting.get("choices") or setting.get("allowedValues") or ())


def test_farm_defaults_and_choices_are_the_clis(node):
    """Each setting's default is the CLI's (FARM_DEFAULTS aside); its choices are the CLI's."""
    job_type = compile_job(node, SHOT | {"engine_python": "py"})["job_type"]
    flamenco = {s["key"]: s for s in job_type["settings"]}
    openjd = {p["name"]: p for p in yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))["parameterDefinitions"]}
    for dest, action in render_actions().items():
        if dest in NOT_ON_THE_FARM or dest in SHOT:
            continue
        key = farm_key(dest)
        default = FARM_DEFAULTS.get(dest, action.default)
        flamenco_default, openjd_default = flamenco[key]["default"], openjd[camel(key)]["default"]
        if isinstance(default, bool):
            assert (flamenco_default, openjd_default) == (default, str(default).lower()), dest
        elif default is None:
            assert flamenco_default == openjd_default == "", dest
        elif isinstance(default, tuple):
            assert flamenco_default == openjd_default == ",".join(map(str, default)), dest
        else:
            assert flamenco_default == openjd_default == default, dest
        if action.choices:  # Flamenco offers choices for strings only; its compileJob checks png_bits
            assert set(flamenco[key].get("choices", action.choices)) == set(action.choices), dest
            assert _choices(openjd[camel(key)]) == set(action.choices), dest


def test_flamenco_passes_every_setting_to_prepare_and_chunks(node):
    for job in [{}, *NON_DEFAULT_JOBS]:
        settings = SHOT | {"chunk_size": 2, "engine_python": "py"} | {farm_key(k): v for k, v in job.items()}
        if "padding" in job:
            settings["padding"] = ",".join(map(str, job["padding"]))
        tasks = compile_job(node, settings)["tasks"]
        assert [t["name"] for t in tasks] == ["prepare", "render-1,2", "render-3,4"]
        prepare, chunk = expected_configs(job, "3,4")  # Flamenco writes a 2-frame chunk "3,4"
        args = [t["commands"][0]["parameters"]["args"] for t in tasks]
        assert parsed(args[0][2:]) == ("prepare", prepare)
        assert parsed(args[2][2:]) == ("render", chunk)


def _openjd_task_argv(step: dict, params: dict, chunk: str) -> list[str]:
    """The engine argv one task of ``step`` runs: its args with the job's parameters (defaults for the rest)
    filled in as OpenJD does, then through the bundle's own embedded launcher."""
    import engine.cli

    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    values = {p["name"]: p.get("default", "") for p in template["parameterDefinitions"]} | params
    argv = ["vtoonify_launch.py"]
    for arg in step["script"]["actions"]["onRun"]["args"][1:]:
        arg = arg.replace("{{Task.Param.Frame}}", chunk)
        for name, value in values.items():
            arg = arg.replace(f"{{{{Param.{name}}}}}", str(value))
        assert "{{" not in arg, arg
        argv.append(arg)
    seen, real_main, real_argv = [], engine.cli.main, sys.argv
    engine.cli.main, sys.argv = (lambda engine_argv: seen.append(engine_argv) or 0), argv
    try:
        with pytest.raises(SystemExit):
            exec(compile(step["script"]["embeddedFiles"][0]["data"], "vtoonify_launch.py", "exec"),
                 {"__name__": "__main__"})
    finally:
        engine.cli.main, sys.argv = real_main, real_argv
    return seen[0]


def _openjd_params(job: dict) -> dict:
    def text(value):
        return str(value).lower() if isinstance(value, bool) else (
            ",".join(map(str, value)) if isinstance(value, tuple) else str(value))

    return {camel(farm_key(k)): text(v) for k, v in (SHOT | job).items()}


def test_openjd_passes_every_setting_to_prepare_and_chunks(openjd_cli):
    template = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    for job in [{}, *NON_DEFAULT_JOBS]:
        params = _openjd_params(job)
        # openjd itself accepts these values (allowedValues, ranges) for this template
        checked = subprocess.run([openjd_cli, "summary", str(TEMPLATE), "--output", "json",
                                  *[a for k, v in params.items() for a in ("-p", f"{k}={v}")]],
                                 capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        prepare, chunk = expected_configs(job, "3-4")
        assert parsed(_openjd_task_argv(template["steps"][0], params, "3-4")) == ("prepare", prepare)
        assert parsed(_openjd_task_argv(template["steps"][1], params, "3-4")) == ("render", chunk)


def test_opencue_passes_every_setting_to_prepare_and_chunks(monkeypatch):
    script = _load_opencue_script(monkeypatch)
    launched = []
    monkeypatch.setattr(script.cuerun, "launch", lambda outline, use_pycuerun: launched.insert(0, outline))
    for job in [{}, *NON_DEFAULT_JOBS]:
        script.main([SHOT["source"], SHOT["output"], "--frames", SHOT["frames"], "--chunk", "2", "--python", "py",
                     "--", *cli_args(job)])
        prepare_layer, render_layer = launched[0].layers
        # the words are quoted for RQD's /bin/sh, which undoes the quoting as shlex.split does
        prepare_argv = shlex.split(" ".join(prepare_layer.command))[3:]
        chunk_argv = shlex.split(" ".join(render_layer.command).replace("#FRAMESPEC#", "3-4"))[3:]
        prepare, chunk = expected_configs(job, "3-4")
        assert parsed(prepare_argv) == ("prepare", prepare)
        assert parsed(chunk_argv) == ("render", chunk)


@pytest.mark.parametrize("owned", ["--frames", "--frames=1-9", "-o", "--output", "--resume", "--overwrite",
                                   "--json-progress", "--openjd-progress",
                                   # prefixes the engine's parser expands (--frame 1-120: every chunk renders it all)
                                   "--frame", "--frame=1-9", "--overw", "--res", "--openjd"])
def test_opencue_refuses_settings_the_job_itself_sets(monkeypatch, capsys, owned):
    script = _load_opencue_script(monkeypatch)
    monkeypatch.setattr(script.cuerun, "launch", lambda outline, use_pycuerun: pytest.fail("submitted"))
    with pytest.raises(SystemExit) as stopped:
        script.main(["/s.mp4", "/o", "--frames", "1-4", "--python", "py", "--", "--mattes", owned, "x"])
    assert stopped.value.code == 2 and owned.split("=")[0] in capsys.readouterr().err


def _deadline_submit(tmp_path: Path, settings: list[str]) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run farm/deadline/submit.sh with a stand-in ``deadlinecommand`` that keeps the job and plugin files
    it is given; returns the run and, per submission, the files' texts."""
    bin_dir, kept = tmp_path / "bin", tmp_path / "kept"
    bin_dir.mkdir(exist_ok=True)
    kept.mkdir(exist_ok=True)
    fake = bin_dir / "deadlinecommand"
    fake.write_text('#!/usr/bin/env bash\nn=$(ls "$KEPT" | wc -l)\nmkdir "$KEPT/$n"\ncp "$@" "$KEPT/$n/"\n'
                    'echo "Result=Success"\necho "JobID=job$n"\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", KEPT=str(kept))
    done = subprocess.run(["bash", str(REPO / "farm" / "deadline" / "submit.sh"), *settings], capture_output=True,
                          text=True, env=env, timeout=60)
    submissions = []
    for folder in sorted(kept.iterdir()):
        job, plugin = sorted(folder.iterdir(), key=lambda p: p.suffix != ".job")
        submissions.append([job.read_text(), plugin.read_text()])
    return done, submissions


def _ini_value(text: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}="))


def test_deadline_submit_passes_every_setting_to_prepare_and_chunks(tmp_path):
    recipe = shlex.split(_ini_value((REPO / "farm" / "deadline" / "prepare.plugin").read_text(), "Arguments"))
    _, recipe_config = parsed(recipe[2:])
    for number, job in enumerate([{}, *NON_DEFAULT_JOBS]):
        (tmp_path / str(number)).mkdir()
        done, (prepare_files, render_files) = _deadline_submit(tmp_path / str(number), cli_args(job))
        assert done.returncode == 0, done.stderr
        assert _ini_value(render_files[0], "JobDependencies") == "job0"          # the prepare job's id
        prepare_argv = shlex.split(_ini_value(prepare_files[1], "Arguments"))
        chunk_argv = shlex.split(_ini_value(render_files[1], "Arguments").replace("<STARTFRAME>", "3")
                                 .replace("<ENDFRAME>", "4"))
        # the files' own settings (their shot, frames 1-120), then the per-shot ones given to submit.sh
        prepare = dataclasses.replace(recipe_config, **job)
        chunk = dataclasses.replace(prepare, frames="3-4", resume=True)
        assert parsed(prepare_argv[2:]) == ("prepare", prepare)
        assert parsed(chunk_argv[2:]) == ("render", chunk)


@pytest.mark.parametrize("bad", ["--frames", "--output=/x", "--resume", "--overwrite", 'say "hi"',
                                 # prefixes the engine's parser expands: every chunk would render 1-120, or delete
                                 "--frame", "--overw", "--out=/x", "--res", "--json"])
def test_deadline_submit_refuses_settings_it_cannot_pass(tmp_path, bad):
    done, submissions = _deadline_submit(tmp_path, ["--mattes", bad])
    assert done.returncode == 2 and submissions == [] and bad.split("=")[0].split()[0] in done.stderr


@pytest.fixture(scope="session")
def openjd_cli() -> str:
    beside = Path(sys.executable).with_name("openjd")
    if beside.exists():
        return str(beside)
    if os.environ.get("CI"):
        pytest.fail("openjd (PyPI openjd-cli) is not installed: pip install -e '.[test]'")
    pytest.skip("openjd (PyPI openjd-cli) is not installed")


def test_doc_lists_every_farm_setting_and_every_left_out_option():
    doc = (REPO / "docs" / "FARM.md").read_text(encoding="utf-8")
    table = doc[doc.index("| Flamenco key |"):]
    table = table[:table.index("\n\n")]
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}
    assert list(rows) == list(FLAMENCO_KEYS), "docs/FARM.md: one row per farm setting, in the job type's order"
    for key, row in rows.items():
        assert f"`{camel(key)}`" in row, key
    left_out = doc[doc.index("Not on the farm"):]
    for dest in NOT_ON_THE_FARM:
        assert f"`{render_actions()[dest].option_strings[-1]}`" in left_out, dest


NEW_SETTINGS_JOB = {"mattes": True, "matte_files": True, "matte_layers": False, "matte_classes": "skin,mouth",
                    "name": "shot010", "padding": (48, 48, 48, 48), "backend": "classic"}
"""Settings the farm job types gained with this list, end to end: mattes as their own files (two classes
only), none in the beauty EXR, under another stem; padding 48 keeps the classic renders quick."""


@pytest.fixture(scope="module")
def cli_render(tmp_path_factory, media_dir) -> Path:
    """Frames 1-2 of 529_2.mp4 rendered as an artist runs it: ``engine render`` with NEW_SETTINGS_JOB."""
    from farm_helpers import engine_env, run_engine

    root = tmp_path_factory.mktemp("cli")
    (root / "no-models").mkdir()
    done = run_engine("render", media_dir / "529_2.mp4", "-o", root / "out", "--frames", "1-2",
                      "--precision", "fp32", *cli_args(NEW_SETTINGS_JOB), env=engine_env(root / "no-models"))
    assert done.returncode == 0, done.stderr
    return root / "out"


def _assert_same_render(out: Path, cli_out: Path) -> None:
    """``out`` holds exactly the CLI render's files (beauty RGBA only, the two matte sequences, one sidecar
    of the same job key), pixel for pixel."""
    import numpy as np
    import OpenImageIO as oiio

    from engine.io import read_image

    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    expected = [f"shot010.{kind}{n:04d}.exr" for kind in ("", "matte_mouth.", "matte_skin.") for n in (1, 2)]
    assert [n for n in names if n.endswith(".exr")] == sorted(expected)
    assert names == sorted(p.name for p in cli_out.iterdir() if not p.name.startswith("."))
    beauty = oiio.ImageInput.open(str(out / "shot010.0001.exr"))
    assert list(beauty.spec().channelnames) == ["R", "G", "B", "A"]        # --no-matte-layers: no matte.* here
    beauty.close()
    assert read_image(out / "shot010.matte_skin.0001.exr").max() > 0.5    # the face's skin is in the matte
    for name in expected:
        assert np.array_equal(read_image(out / name), read_image(cli_out / name)), name
    sidecar = json.loads((out / "shot010.vtoonify.json").read_text())
    assert sidecar["job_key"] == json.loads((cli_out / "shot010.vtoonify.json").read_text())["job_key"]
    engine_saw = sidecar["job_settings"]                                  # what the engine's prepare ran with
    assert (engine_saw["matte_files"], engine_saw["matte_layers"], engine_saw["matte_classes"], engine_saw["name"],
            engine_saw["padding"]) == (True, False, "skin,mouth", "shot010", [48] * 4)


@pytest.mark.slow
def test_new_settings_end_to_end_on_flamenco(node, media_dir, tmp_path, worker_env, cli_render):
    out = tmp_path / "flamenco"
    settings = {farm_key(k): v for k, v in NEW_SETTINGS_JOB.items()} | {"padding": "48"}
    tasks = compile_job(node, {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": "1-2",
                               "chunk_size": 1, "engine_python": sys.executable, **settings})["tasks"]
    assert [t["name"] for t in tasks] == ["prepare", "render-1", "render-2"]
    for task in tasks:
        command = task["commands"][0]["parameters"]
        args = command["args"]
        for flag in ("--matte-files", "--no-matte-layers", "--matte-classes skin,mouth", "--name shot010",
                     "--padding 48"):
            assert f" {flag} " in f" {' '.join(args)} ", (task["name"], flag)
        done = subprocess.run([command["exe"], *args], capture_output=True, text=True, env=worker_env, cwd=REPO,
                              timeout=300)
        assert done.returncode == 0, done.stderr
    _assert_same_render(out, cli_render)


@pytest.mark.slow
def test_new_settings_end_to_end_on_openjd(openjd_cli, media_dir, tmp_path, worker_env, cli_render):
    from test_openjd import _run_bundle

    out = tmp_path / "openjd"
    params = _openjd_params(NEW_SETTINGS_JOB) | {"Source": media_dir / "529_2.mp4", "Output": out, "Frames": "1-2",
                                                 "ChunkSize": 1, "EnginePython": sys.executable}
    # EnginePython: a wrapper that keeps each task's command line, then runs the engine's Python
    wrapper, argv_log = tmp_path / "engine_python.sh", tmp_path / "argv.log"
    wrapper.write_text(f'#!/usr/bin/env bash\necho "$*" >> {shlex.quote(str(argv_log))}\n'
                       f'exec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    code, _, text = _run_bundle(openjd_cli, worker_env, **params | {"EnginePython": wrapper})
    assert code == 0 and "All actions completed successfully" in text, text[-3000:]
    commands = argv_log.read_text().splitlines()
    assert [c.split()[1] for c in commands] == ["prepare", "render", "render"]     # prepare, then two chunks
    for command in commands:
        for arg in ("--matte-files=true", "--matte-layers=false", "--matte-classes=skin,mouth", "--name=shot010",
                    "--padding=48,48,48,48"):
            assert f" {arg} " in command, (arg, command)
    _assert_same_render(out, cli_render)
