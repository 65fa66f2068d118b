"""One place decides the per-user folders; the engine's four users of it keep their documented paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.user_dirs import user_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("platform, kind, env, expected", [
    ("linux", "cache", {}, "home/.cache/vtoonify"),
    ("linux", "data", {}, "home/.local/share/vtoonify"),
    ("linux", "state", {}, "home/.local/state/vtoonify"),
    ("linux", "cache", {"XDG_CACHE_HOME": "/xc"}, "/xc/vtoonify"),
    ("linux", "data", {"XDG_DATA_HOME": "/xd"}, "/xd/vtoonify"),
    ("linux", "state", {"XDG_STATE_HOME": "/xs"}, "/xs/vtoonify"),
    ("linux", "cache", {"XDG_CACHE_HOME": "relative/c"}, "home/.cache/vtoonify"),
    ("freebsd14", "data", {}, "home/.local/share/vtoonify"),
    ("darwin", "cache", {"XDG_CACHE_HOME": "/xc"}, "home/Library/Caches/vtoonify"),
    ("darwin", "data", {}, "home/Library/Application Support/vtoonify"),
    ("darwin", "state", {}, "home/Library/Application Support/vtoonify/state"),
    ("win32", "cache", {"LOCALAPPDATA": "/la"}, "/la/vtoonify"),
    ("win32", "data", {}, "home/AppData/Local/vtoonify"),
    ("win32", "state", {"LOCALAPPDATA": "/la"}, "/la/vtoonify/state"),
])
def test_user_dir_per_platform(tmp_path, platform, kind, env, expected):
    got = user_dir(kind, env, platform, tmp_path / "home")
    assert got == (Path(expected) if expected.startswith("/") else tmp_path / expected)


def test_unknown_kind_names_the_kinds():
    with pytest.raises(ValueError, match="cache, data, state"):
        user_dir("config", {}, "linux", "/h")


def test_the_four_users_follow_the_environment(tmp_path):
    """A fresh process with only XDG_* set: kernels, connection file, state and models land under them."""
    code = ("from engine.ops import native; from engine.service import connection, server;"
            "from engine.models import inventory;"
            "print(native.cache_dir()); print(connection.default_connection_path());"
            "print(server.default_state_dir()); print(inventory.default_models_dir())")
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "XDG_CACHE_HOME": str(tmp_path / "c"), "XDG_STATE_HOME": str(tmp_path / "s"),
           "XDG_DATA_HOME": str(tmp_path / "d")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:4] == [
        str(tmp_path / "c/vtoonify/native"), str(tmp_path / "c/vtoonify/engine.json"),
        str(tmp_path / "s/vtoonify"), str(tmp_path / "d/vtoonify/models")]


def test_user_dirs_is_stdlib_only():
    """The add-on copies it into its engine client: an engine import there would break the built zip."""
    text = (REPO / "engine" / "user_dirs.py").read_text()
    imports = [ln.split()[1] for ln in text.splitlines() if ln.startswith(("import ", "from "))]
    assert all(name.split(".")[0] in sys.stdlib_module_names or name == "__future__" for name in imports)
