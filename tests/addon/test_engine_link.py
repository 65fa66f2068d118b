"""Finding/starting the engine with the real stdlib client (engine.service), no Blender."""

from __future__ import annotations

import os
import socket

import pytest

from vtoonify_addon.core.engine_link import (
    PYTHON_FIX,
    EngineLaunchSettings,
    connect,
    engine_root_problem,
    launch_args,
    launch_env,
    python_problem,
    serve_command,
)


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


def test_the_suggested_serve_command_starts_an_engine_the_add_on_then_finds(api, tmp_path, repo_root):
    """Auto-start off: the fix's command, pasted into a shell in another folder, starts the engine with the
    preferred Python, from the Engine Folder, writing the add-on's connection file (not `python -m engine`)."""
    import signal
    import subprocess
    import sys
    import time

    settings = EngineLaunchSettings(python_exe=sys.executable, engine_root=str(repo_root),
                                    connection_file=str(tmp_path / "my conn" / "engine.json"),
                                    models_dir=str(tmp_path / "my models"), auto_start=False)
    with pytest.raises(api.EngineError) as err:
        connect(settings, api)
    command = err.value.fix.split("start it with `", 1)[1].split("`", 1)[0]
    assert command == serve_command(settings) and not command.startswith("python ")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a fresh shell, not the test's
    proc = subprocess.Popen(["/bin/sh", "-c", command + " --idle-timeout 60"], cwd=tmp_path, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not os.path.isfile(settings.connection_file) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.isfile(settings.connection_file), proc.stderr.read().decode() if proc.poll() else "timeout"
        client = connect(settings, api)  # found without starting anything: auto-start is off
        client.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert serve_command(EngineLaunchSettings(python_exe=r"C:\VT\.venv\Scripts\python.exe",
                                              engine_root=r"C:\My Studio"), os_name="nt") == \
        r'cd /d "C:\My Studio" && C:\VT\.venv\Scripts\python.exe -m engine serve'


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


def test_engine_python_problems_name_the_fix(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    assert python_problem(str(python)) is None
    problem, fix = python_problem(str(venv))  # the venv folder picked instead of its interpreter
    assert "is a folder, not the Python program" in problem and fix == f"set Engine Python to {python}"
    problem, fix = python_problem(str(tmp_path))  # a folder with no interpreter inside
    assert "is a folder" in problem and fix == PYTHON_FIX
    assert python_problem(str(tmp_path / "missing"))[0].endswith("not found")
    python.chmod(0o644)
    problem, fix = python_problem(str(python))
    assert "is not executable" in problem and "chmod +x" in fix
    problem, fix = python_problem("")
    assert "no engine Python is set" in problem and ".venv/bin/python" in fix


def test_engine_folder_without_the_engine_package_names_the_fix(tmp_path, repo_root):
    assert engine_root_problem("") is None and engine_root_problem(str(repo_root)) is None
    problem, fix = engine_root_problem(str(tmp_path / "missing"))
    assert "does not exist" in problem and "engine/ inside" in fix
    problem, _fix = engine_root_problem(str(tmp_path))  # a folder, but not the checkout
    assert "holds no engine package" in problem


def test_windows_extra_args_keep_their_backslashes():
    """Windows paths in Extra Arguments: shell rules would eat the backslashes (``C:VTmodels``)."""
    s = EngineLaunchSettings(extra_args=r'--device cpu --models C:\VT\models --log "C:\My Logs\e.log"')
    assert launch_args(s, os_name="nt") == ("--device", "cpu", "--models", r"C:\VT\models",
                                            "--log", r"C:\My Logs\e.log")
    assert launch_args(s, os_name="posix")[3] == "C:VTmodels"  # what POSIX quoting makes of it (a shell would too)
    line = serve_command(s, os_name="nt")
    assert r"--models C:\VT\models" in line and r'"C:\My Logs\e.log"' in line


def test_windows_fixes_name_the_scripts_interpreter(tmp_path):
    venv = tmp_path / "venv"
    (venv / "Scripts").mkdir(parents=True)
    (venv / "Scripts" / "python.exe").write_bytes(b"MZ")
    problem, fix = python_problem(str(venv), os_name="nt")
    assert "is a folder" in problem and fix == f"set Engine Python to {venv / 'Scripts' / 'python.exe'}"
    assert python_problem("", os_name="nt")[1].endswith(r".venv\Scripts\python.exe")
    assert r".venv\Scripts\python.exe" in python_problem(str(tmp_path / "missing"), os_name="nt")[1]
    assert ".venv/bin/python" in python_problem(str(tmp_path / "missing"), os_name="posix")[1]
