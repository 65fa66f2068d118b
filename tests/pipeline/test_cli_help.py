"""What a TD meets first: every subcommand's --help describes every option, and the service says where it
listens when started by hand. Kept torch-free and fast (the parser is built in-process)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def _subparsers(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from _subparsers(sub, f"{prefix}{name} ")


def test_every_option_of_every_command_has_help_text():
    undocumented = [f"{command}: {'/'.join(action.option_strings) or action.dest}"
                    for command, sub in _subparsers(build_parser())
                    for action in sub._actions
                    if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
    assert undocumented == []


def test_every_command_has_a_description():
    assert [command for command, sub in _subparsers(build_parser()) if not sub.description] == []


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error_naming_the_range(port, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", port])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"{port!r} is not a TCP port" in err and "0-65535" in err
    assert "internal error" not in err


def test_serve_says_where_it_listens_and_how_to_stop_it(tmp_path):
    connection = tmp_path / "engine.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_STATE_DIR=str(tmp_path / "state"))
    done = subprocess.run([sys.executable, "-m", "engine", "serve", "--connection-file", str(connection),
                           "--idle-timeout", "0.5"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    ready = done.stderr.splitlines()[0]
    assert ready.startswith("engine: serving on 127.0.0.1:") and str(connection) in ready and "Ctrl-C" in ready
    port = int(ready.split("127.0.0.1:")[1].split()[0])
    assert 0 < port <= 65535
    assert not connection.exists()  # removed again when it exits


@pytest.mark.parametrize("command", ["render", "prepare"])
def test_job_help_shows_a_working_example_and_the_exit_codes(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    example = next(line.split(maxsplit=1)[1] for line in text.splitlines() if line.startswith("  vtoonify "))
    args = build_parser().parse_args(example.split())  # the example is a command line the engine takes
    assert (args.command, args.frames, args.start_number, args.mattes) == (command, "1001-1100", 1001, True)
    assert all(f"{code} " in text for code in ("0", "2", "75", "130")) and "--resume" in text


@pytest.mark.parametrize(("extra", "warned"), [
    (["--max-faces", "3"], "--max-faces 3 counts only with --faces all"),
    (["--matte-files"], "--matte-files writes nothing without --mattes"),
    (["--no-matte-layers"], "--no-matte-layers has no mattes to leave out"),
    (["--png-bits", "16"], "--png-bits applies to --format png only"),
    (["--format", "png", "--exr-compression", "piz"], "--exr-compression applies to --format exr only"),
    (["--format", "png", "--data-window", "full"], "--data-window applies to EXR only"),
    (["--backend", "classic", "--style", "arcnae"], "--style arcnae sets up the VToonify model, and --backend classic"),
    (["--backend", "classic", "--degree", "0.9"], "--degree sets up the VToonify model"),
    (["--backend", "classic", "--exstyle-image", "me.jpg"], "--exstyle-image sets up the VToonify model"),
    (["--backend", "classic", "--smooth-parsing"], "--smooth-parsing smooths the VToonify model's parsing maps, and "
                                                   "--backend classic"),
])
def test_an_option_that_does_nothing_with_the_others_is_named(extra, warned):
    from engine.cli import _config_from_args, idle_options

    config = _config_from_args(build_parser().parse_args(["render", "a.mp4", "-o", "out", *extra]))
    assert [w for w in idle_options(config) if warned in w] != [], idle_options(config)
    fine = ["--faces", "all", "--max-faces", "3", "--mattes", "--matte-files", "--format", "png", "--png-bits", "16",
            "--style", "arcane", "--degree", "0.9", "--smooth-parsing"]
    assert idle_options(_config_from_args(build_parser().parse_args(["render", "a.mp4", "-o", "o", *fine]))) == []
    # a farm job type passes every setting at its default: nothing to say
    farm = ["--max-faces", "8", "--png-bits", "8", "--exr-compression", "zip", "--data-window", "face",
            "--backend", "classic", "--style", "cartoon", "--style-id", "26", "--degree", "0.5"]
    assert idle_options(_config_from_args(build_parser().parse_args(["render", "a.mp4", "-o", "o", *farm]))) == []


def test_the_render_warns_of_an_idle_option_and_renders(media_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_MODELS=str(tmp_path / "none"))
    done = subprocess.run([sys.executable, "-m", "engine", "render", str(media_dir / "529_2.mp4"), "-o",
                           str(tmp_path / "out"), "--frames", "1", "--backend", "classic", "--padding", "48",
                           "--max-faces", "3", "--json-progress"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0] == {"event": "warning", "message": "--max-faces 3 counts only with --faces all (add --faces "
                                                        "all to stylize every face); it is ignored"}
    assert (tmp_path / "out" / "529_2.0001.exr").is_file()


def test_a_sequence_the_shell_expanded_is_told_as_one_quoted_pattern(tmp_path, capsys, monkeypatch):
    """`render shot.*.png -o out` reaches the engine as every frame file: argparse only says
    "unrecognized arguments"; the hint gives the pattern that reads them as one source."""
    monkeypatch.chdir(tmp_path)
    for n in (1, 2, 3):
        (tmp_path / f"shot.{n:04d}.png").write_bytes(b"png")
    with pytest.raises(SystemExit) as stopped:
        main(["render", "shot.0001.png", "shot.0002.png", "shot.0003.png", "-o", "out"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "unrecognized arguments" in err
    assert "3 source files were given" in err and "'shot.####.png'" in err
    for clip in ("a.mp4", "b.mp4"):
        (tmp_path / clip).write_bytes(b"mp4")
    with pytest.raises(SystemExit):
        main(["prepare", "a.mp4", "b.mp4", "-o", "out", "--exstyle-image", "shot.0001.png"])
    assert "2 source files were given (a.mp4, b.mp4); prepare takes one source" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_wildcard_source_names_the_pattern_form_and_the_sequence_there(tmp_path, capsys):
    for n in (1, 2):
        (tmp_path / f"shot.{n:04d}.png").write_bytes(b"png")
    assert main(["render", str(tmp_path / "shot.*.png"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "#### or %04d" in err and f"{tmp_path}/shot.####.png" in err
    assert not (tmp_path / "out").exists()
