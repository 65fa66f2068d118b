"""scripts/build_addon.py: import rewriting of the copied client (the zip build runs in tests/blender)."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="module")
def build(repo_root):
    spec = importlib.util.spec_from_file_location("build_addon", repo_root / "scripts" / "build_addon.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relative_imports(build):
    text = ("from engine.errors import EngineError\n"
            "    from engine.service import connection, protocol\n"
            "from engine.service.client import EngineClient\n"
            "from .client import x\n")
    assert build.relative_imports(text) == ("from .errors import EngineError\n"
                                            "    from . import connection, protocol\n"
                                            "from .client import EngineClient\n"
                                            "from .client import x\n")
    with pytest.raises(build.BuildError, match="import engine"):
        build.relative_imports("import engine.errors\n")


def test_copies_compile_and_keep_the_api(build, tmp_path):
    written = build.copy_client(tmp_path)
    names = {p.name for p in written}
    assert {"errors.py", "client.py", "protocol.py", "connection.py"} <= names
    for path in written:
        text = path.read_text()
        assert text.startswith("# COPY of engine/") and "from engine" not in text
        compile(text, str(path), "exec")
    assert "def start_engine(" in (tmp_path / "client.py").read_text()


def test_copies_are_ignored_build_output(repo_root):
    import shutil
    import subprocess

    if shutil.which("git") is None or not (repo_root / ".git").exists():
        pytest.skip("not a git checkout")
    client_dir = "vtoonify_addon/engine_client"
    paths = [f"{client_dir}/{name}" for name in ("client.py", "protocol.py", "errors.py", "__init__.py")]
    proc = subprocess.run(["git", "check-ignore", *paths], cwd=repo_root, capture_output=True, text=True,
                          check=False)
    ignored = set(proc.stdout.split())
    assert ignored == set(paths[:3]), proc.stdout + proc.stderr
