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


def test_staging_holds_the_client_and_the_source_tree_stays_clean(build, repo_root, tmp_path):
    """The zip's client copies live only in the temp staging folder: later test runs in the checkout
    must import the real ``engine`` client, never a stale copy left in ``vtoonify_addon/``."""
    client_dir = repo_root / "vtoonify_addon" / "engine_client"
    before = sorted(p.name for p in client_dir.iterdir())
    build.stage(tmp_path)
    staged = {p.name for p in (tmp_path / "engine_client").iterdir()}
    assert {"__init__.py", "client.py", "errors.py", "catalog.py", "launcher.py"} <= staged
    assert (tmp_path / "blender_manifest.toml").is_file() and (tmp_path / "stylize.py").is_file()
    assert sorted(p.name for p in client_dir.iterdir()) == before
    assert not (client_dir / "client.py").exists()


def test_source_tree_client_is_the_engine_package():
    import engine.service.catalog
    import engine.service.client
    from vtoonify_addon import engine_client

    assert engine_client.load().EngineClient is engine.service.client.EngineClient
    assert engine_client.shared_catalog() is engine.service.catalog


def test_the_staged_add_on_holds_nothing_platform_specific(build, tmp_path):
    """What the zip will hold: no compiled file, no name Windows refuses or that collides by case, no CRLF."""
    build.stage(tmp_path)
    assert build.portability_problems(tmp_path) == []
    copy = (tmp_path / "engine_client" / "client.py").read_bytes()
    assert b"\r\n" not in copy and copy.startswith(b"# COPY of engine/service/client.py")


def test_platform_specific_content_is_named(build, tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "Notes.py").write_text("x = 1\n")
    (tmp_path / "core" / "notes.py").write_text("x = 2\n")
    (tmp_path / "take:2.py").write_text("")
    (tmp_path / "aux.py").write_text("")
    (tmp_path / "crlf.py").write_bytes(b"x = 1\r\n")
    (tmp_path / "_speedups.so").write_bytes(b"\x7fELF")
    (tmp_path / "link.py").symlink_to(tmp_path / "crlf.py")
    problems = "\n".join(build.portability_problems(tmp_path))
    assert "core/notes.py and core/Notes.py are one name" in problems
    assert "take:2.py: a name Windows cannot hold" in problems and "aux.py: a name Windows cannot hold" in problems
    assert "crlf.py: CRLF line ends" in problems and "_speedups.so: a compiled file" in problems
    assert "link.py: a link" in problems
