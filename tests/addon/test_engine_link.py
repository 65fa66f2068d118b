"""Finding/starting the engine with the real stdlib client (engine.service), no Blender."""

from __future__ import annotations

import os
import socket

import pytest

from vtoonify_addon.core.engine_link import EngineLaunchSettings, connect, launch_args, launch_env


@pytest.fixture(scope="module")
def api():
    from vtoonify_addon import engine_client

    loaded = engine_client.load()
    assert loaded.EngineClient is not None, "engine/service/client.py is missing"
    return loaded


def test_no_connection_file_and_no_auto_start_names_the_fix(api, tmp_path):
    settings = EngineLaunchSettings(connection_file=str(tmp_path / "none.json"), auto_start=False)
    with pytest.raises(api.EngineError) as err:
        connect(settings, api)
    assert "not running" in err.value.message and "Auto-start" in err.value.fix


def test_dead_port_is_unreachable(api, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = tmp_path / "dead.json"
    conn.write_text(f'{{"host": "127.0.0.1", "port": {port}, "token": "t", "pid": {os.getpid()}, "protocol": 1}}')
    settings = EngineLaunchSettings(connection_file=str(conn), auto_start=False, connect_timeout_s=1.0)
    with pytest.raises(api.EngineError):
        connect(settings, api)


def test_auto_start_needs_an_existing_python(api, tmp_path):
    settings = EngineLaunchSettings(connection_file=str(tmp_path / "x.json"), auto_start=True,
                                    python_exe=str(tmp_path / "nope"))
    with pytest.raises(api.EngineError, match="Python interpreter"):
        connect(settings, api)


def test_launch_args_and_env():
    s = EngineLaunchSettings(extra_args="--device cpu --port '0'", models_dir="/m", engine_root="/repo")
    assert launch_args(s) == ("--device", "cpu", "--port", "0", "--models", "/m")
    env = launch_env(s, base={"PYTHONPATH": "/a"})
    assert env["PYTHONPATH"].split(os.pathsep) == ["/repo", "/a"]
    assert "PYTHONPATH" not in launch_env(EngineLaunchSettings(), base={})


def test_source_tree_fallback_uses_the_repo_engine():
    from vtoonify_addon import engine_client

    modules = engine_client._from_source_tree()
    assert modules["client"].__name__ == "engine.service.client"
    assert modules["errors"].__name__ == "engine.errors"
