"""Quitting Blender while a render runs leaves no engine process it started, no job rendering for
nobody on an engine someone else started, and no half-written version folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", HERE.parents[1] / ".venv" / "bin" / "python"))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _quit_mid_render(addon_zip, media_dir, repo_root, tmp_path, conn, engine_python: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "BLENDER_USER_RESOURCES"}
    proc = subprocess.run([sys.executable, str(HERE / "quit_mid_render.py"), str(addon_zip),
                           str(media_dir / "529_2.mp4"), str(tmp_path / "renders"), str(conn), engine_python,
                           str(repo_root), str(tmp_path / "user")], env=env, capture_output=True, text=True,
                          timeout=240, check=False)
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("ENGINE_PID", "FOLDER",
                                                                                             "JOB")))
    assert proc.returncode == 0 and "FOLDER" in lines, proc.stdout + proc.stderr
    return lines


def test_quitting_mid_render_cancels_the_job_on_someone_elses_engine(addon_zip, media_dir, repo_root, tmp_path,
                                                                    engine, client_api):
    lines = _quit_mid_render(addon_zip, media_dir, repo_root, tmp_path, engine, "")
    assert not os.path.exists(lines["FOLDER"]), f"partial frames left: {sorted(os.listdir(lines['FOLDER']))}"
    with client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10) as client:
        assert client.status(lines["JOB"])["state"] == "cancelled"  # not rendering on for nobody


def test_quitting_mid_render_cancels_cleans_and_stops_the_engine(addon_zip, media_dir, repo_root, tmp_path):
    conn = tmp_path / "engine.json"
    lines = _quit_mid_render(addon_zip, media_dir, repo_root, tmp_path, conn, str(ENGINE_PYTHON))
    pid, folder = int(lines["ENGINE_PID"]), lines["FOLDER"]
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the auto-started engine outlived Blender"
    assert not os.path.exists(folder), f"partial frames left: {sorted(os.listdir(folder))}"
    assert not conn.exists()  # a clean shutdown, not a kill
