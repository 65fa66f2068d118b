"""Every command a message suggests pastes into the user's own shell: ``vtoonify ...`` only when PATH finds
this interpreter's console script, else this interpreter's full path with ``-m engine``, quoted. The
suggested lines are run here through a real shell, from another folder, with the PATH the user has."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine import commands
from engine.commands import engine_command

REPO = Path(__file__).resolve().parents[2]


def _fake_python_dir(tmp_path: Path, name: str) -> Path:
    """A folder standing in for a venv's bin: 'python' plus a 'vtoonify' script."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    (folder / "vtoonify").write_text("#!/bin/sh\n")
    (folder / "vtoonify").chmod(0o755)
    return folder


def test_vtoonify_only_when_path_finds_this_interpreters_script(tmp_path, monkeypatch):
    ours = _fake_python_dir(tmp_path, "venv bin")
    other = _fake_python_dir(tmp_path, "other")
    monkeypatch.setattr(sys, "executable", str(ours / "python"))
    monkeypatch.setattr(commands.sysconfig, "get_path", lambda *a, **k: str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}/usr/bin")   # another venv's vtoonify: not this engine
    assert engine_command("models", "list") == f"'{ours}/python' -m engine models list"
    monkeypatch.setenv("PATH", "/usr/bin")                           # no console script at all
    assert engine_command("models", "list").startswith(f"'{ours}/python' -m engine ")
    monkeypatch.setenv("PATH", f"{ours}{os.pathsep}{other}")         # this interpreter's own script first
    assert engine_command("models", "fetch", "--models", "/my models") == "vtoonify models fetch --models '/my models'"


def _engine_env(path: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VTOONIFY_MODELS",)}
    env["PATH"] = path
    env["PYTHONPATH"] = str(REPO)
    return env


def _suggested(text: str, after: str) -> str:
    return text.split(after, 1)[1].split("`", 1)[0]


@pytest.mark.parametrize("on_path", [False, True], ids=["no-venv-on-PATH", "venv-on-PATH"])
def test_a_missing_model_message_suggests_commands_that_run_as_pasted(media_dir, tmp_path, on_path, capsys,
                                                                         monkeypatch):
    """A render lacking the arcane VToonify-T files (models folder with a space in its path): the fix names
    `models fetch` and `models list` commands; the list command, pasted into sh in another folder, runs
    and lists that folder."""
    from engine.cli import main

    models = tmp_path / "my models"
    models.mkdir()
    bin_dir = os.path.dirname(sys.executable)
    env = _engine_env(f"{bin_dir}{os.pathsep}/usr/bin:/bin" if on_path else "/usr/bin:/bin")
    monkeypatch.setenv("PATH", env["PATH"])
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(tmp_path / "out"), "--frames", "1", "--models",
                 str(models), "--backend", "vtoonify", "--style", "arcane", "--backbone", "toonify"])
    err = capsys.readouterr().err
    assert code == 2, err
    fetch, listing = _suggested(err, "run `"), _suggested(err, "(see `")
    scripted = os.path.exists(os.path.join(bin_dir, "vtoonify")) and on_path
    prefix = ["vtoonify"] if scripted else [sys.executable, "-m", "engine"]
    assert shlex.split(fetch) == [*prefix, "models", "fetch", "--style", "arcane", "--backbone", "toonify",
                                  "--models", str(models)], err
    assert shlex.split(listing) == [*prefix, "models", "list", "--models", str(models)], err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pasted = subprocess.run(["/bin/sh", "-c", listing], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=120)
    assert pasted.returncode == 0, pasted.stderr
    assert f"models folder: {models}\n" in pasted.stdout


def test_the_panel_words_the_start_command_as_its_button():
    """The client's 'no engine running' fix names the start command (the client is stdlib-only and copied
    into the add-on, so it cannot know the engine's Python); the panel shows its button instead, whichever
    form (``vtoonify serve`` or ``<python> -m engine serve``) the command took."""
    from engine.errors import UnreachableError
    from engine.service.client import EngineClient
    from ui.wording import plain

    with pytest.raises(UnreachableError) as info:
        EngineClient.connect(None)
    assert "`<engine python> -m engine serve`" in info.value.fix
    assert plain(f"{info.value.message} ({info.value.fix})") == (
        "no running engine found (no live connection file) (start it with the Start engine button or from the "
        "add-on preferences)")
    for start in (engine_command("serve"), "vtoonify serve", "'/my venv/bin/python' -m engine serve"):
        shown = plain(f"no running engine found (start it with `{start}` or from the add-on preferences)")
        assert shown == "no running engine found (start it with the Start engine button or from the add-on preferences)"
