"""The add-on and its copied stdlib client on a simulated Windows, in a fresh Python (no Windows run).

What a Windows (or macOS) Blender lacks is taken away before anything of ours is imported: ``fcntl``,
``pwd``, ``grp``, ``resource`` and ``termios`` cannot be imported; ``signal.SIGHUP``/``SIGKILL``/``SIGUSR*``
and ``os.getuid``/``getpgid``/``killpg``/``fork``/``setsid``/``O_NOFOLLOW``/``O_DIRECTORY``/``statvfs`` are
gone; ``sys.platform`` is ``win32`` and kernel32 is a stand-in. The add-on is the staged zip content
(``scripts/build_addon.py``) with only its own folder on ``sys.path``, so the copies must stand alone.
It then finds a real engine (started normally) through its connection file, says hello and pings it,
splits Windows arguments, and stops a child it owns. ``os.name`` stays ``posix`` (pathlib would turn
every path into a Windows one): functions that branch on it are called with ``os_name="nt"``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

TAKE_AWAY = r"""
import sys
for name in ("fcntl", "pwd", "grp", "resource", "termios", "bpy"):
    sys.modules[name] = None  # "import fcntl" now raises ImportError, as on Windows
import ctypes, os, signal, subprocess  # subprocess keeps its POSIX Popen: real children are still started
for name in ("SIGHUP", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGALRM"):
    delattr(signal, name)
for name in ("getuid", "geteuid", "getgid", "getpgid", "killpg", "fork", "setsid", "O_NOFOLLOW",
             "O_DIRECTORY", "statvfs"):
    if hasattr(os, name):
        delattr(os, name)
sys.platform = "win32"
RUNNING = {int(pid) for pid in os.environ["SIM_RUNNING_PIDS"].split(",")}

def _exit_code(handle, code):
    code._obj.value = 259  # STILL_ACTIVE
    return 1

class Kernel32:  # functions as attributes, so that ctypes-style .restype can be set on them
    def __init__(self):
        self.OpenProcess = lambda access, inherit, pid: pid if pid in RUNNING else 0
        self.GetExitCodeProcess = _exit_code
        self.CloseHandle = lambda handle: 1

ctypes.WinDLL = lambda name, use_last_error=False: Kernel32()
ctypes.get_last_error = lambda: 87
"""

ADDON_SCRIPT = (
    TAKE_AWAY
    + r"""
import importlib, json, pkgutil, time
result = {}
import vtoonify.engine_client as engine_client
api = engine_client.load()
result["client_module"] = api.EngineClient.__module__
import vtoonify.core as core
result["core_modules"] = sorted(m.name for m in pkgutil.iter_modules(core.__path__))
for name in result["core_modules"]:
    importlib.import_module(f"vtoonify.core.{name}")
from vtoonify.engine_client import client, connection, user_dirs
result["cache_dir"] = str(user_dirs.user_dir("cache"))
result["default_connection"] = str(connection.default_connection_path())
info = api.read_connection_file(os.environ["SIM_CONNECTION"])
result["found"] = info is not None
with api.EngineClient.connect(info, timeout_s=10) as engine:
    result["ping"] = engine.ping()["ok"]
planted = os.environ["SIM_PLANTED"]
result["planted_trusted"] = api.read_connection_file(planted) is not None
result["popen_options"] = client.engine_process_options()
from vtoonify.core import engine_link
from vtoonify.core.engine_owner import StartedEngines
settings = engine_link.EngineLaunchSettings(python_exe=r"C:\VT\.venv\Scripts\python.exe",
                                            extra_args=r'--models "C:\My Models\vt" --device cpu')
result["args"] = list(engine_link.launch_args(settings, os_name="nt"))
result["serve"] = engine_link.serve_command(settings, os_name="nt")
owner = StartedEngines()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
owner.add(child, None)
started = time.monotonic()
result["stopped"] = owner.stop_all(api, timeout_s=10)
result["stop_s"] = time.monotonic() - started
print(json.dumps(result))
"""
)


@pytest.fixture(scope="module")
def staged_addon(repo_root, tmp_path_factory) -> Path:
    """The zip's content (scripts/build_addon.py's staging) as the package ``vtoonify``."""
    spec = importlib.util.spec_from_file_location("build_addon", repo_root / "scripts" / "build_addon.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    root = tmp_path_factory.mktemp("staged")
    (root / "vtoonify").mkdir()
    build.stage(root / "vtoonify")
    return root


def test_the_add_on_and_its_client_work_without_posix(staged_addon, tmp_path, repo_root, engine_api):
    home = tmp_path / "Users" / "artist"
    local = home / "AppData" / "Local"
    connection_file = local / "vtoonify" / "engine.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo_root), str(HERE)]))
    proc, _info = engine_api.start_engine(
        sys.executable,
        args=("--job-runner", "burst_runner:run", "--no-model-cache", "--state-dir", str(tmp_path / "state")),
        connection_file=str(connection_file),
        env=env,
        timeout_s=60,
        entry=(str(repo_root / "tests" / "service" / "engine_entry.py"),),
    )
    planted = tmp_path / "Users" / "Public" / "engine.json"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(connection_file.read_bytes())  # the same live engine, in a folder anyone may write
    try:
        sim_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_"))}
        sim_env.update(
            PYTHONPATH=str(staged_addon),
            USERPROFILE=str(home),
            LOCALAPPDATA=str(local),
            SIM_CONNECTION=str(connection_file),
            SIM_PLANTED=str(planted),
            SIM_RUNNING_PIDS=str(proc.pid),
        )
        run = subprocess.run(
            [sys.executable, "-c", ADDON_SCRIPT], cwd=tmp_path, env=sim_env, capture_output=True, text=True, timeout=120
        )
    finally:
        sys.modules[engine_api.EngineClient.__module__].stop_engine(proc)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["client_module"] == "vtoonify.engine_client.client"  # the zip's copy, not the repo's
    assert {"engine_link", "engine_owner", "output_versions", "job_settings"} <= set(result["core_modules"])
    assert result["cache_dir"] == str(local / "vtoonify")
    assert result["default_connection"] == str(local / "vtoonify" / "engine.json")
    assert result["found"] and result["ping"] is True
    assert result["planted_trusted"] is False
    assert result["popen_options"] == {"creationflags": 0x00000200 | 0x08000000}
    assert result["args"] == ["--models", r"C:\My Models\vt", "--device", "cpu"]
    assert result["serve"] == r'C:\VT\.venv\Scripts\python.exe -m engine serve --models "C:\My Models\vt" --device cpu'
    assert len(result["stopped"]) == 1 and result["stopped"][0] is not None and result["stop_s"] < 10


ENGINE_SCRIPT = (
    TAKE_AWAY
    + r"""
import json, tempfile
from pathlib import Path
result = {}
from engine.stop_signals import STOP_SIGNALS
import signal
result["stop_signals"] = sorted(int(s) for s in STOP_SIGNALS)
result["expected"] = sorted([int(signal.SIGINT), int(signal.SIGTERM)])
import engine.cli, engine.service.server, engine.pipeline.shot, engine.pipeline.outputs
from engine.io.atomic import atomic_path, atomic_open
folder = Path(tempfile.mkdtemp())
with atomic_path(folder / "shot.0001.png") as temp:
    temp.write_bytes(b"frame")
with atomic_open(folder / "shot.vtoonify.json", "w", encoding="utf-8") as handle:
    handle.write("{}")
result["files"] = sorted(p.name for p in folder.iterdir())
from engine.pipeline.shot import folder_lock
with folder_lock(folder):
    result["folder_lock"] = "entered"
print(json.dumps(result))
"""
)


def test_the_engine_imports_and_writes_without_posix(tmp_path, repo_root):
    """The engine's modules import, its stop signals are Ctrl-C and SIGTERM, and atomic writes work with
    no O_NOFOLLOW/O_DIRECTORY/statvfs (``dir_fd`` stays available here: Linux's ``os`` still has it)."""
    sim_env = dict(os.environ, PYTHONPATH=str(repo_root), SIM_RUNNING_PIDS="1")
    run = subprocess.run(
        [sys.executable, "-c", ENGINE_SCRIPT], cwd=tmp_path, env=sim_env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["stop_signals"] == result["expected"]
    assert result["files"] == ["shot.0001.png", "shot.vtoonify.json"]
    assert result["folder_lock"] == "entered"
