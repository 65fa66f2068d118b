"""Helpers that start REAL engine processes on REAL loopback sockets (shared by the service tests).

The engines run the service with tests/service/jobrunners.py as its job runner (fast, torch-free,
writes real files) unless ``runner=False`` (the real pipeline).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from engine.service.launcher import EngineProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVER_ENTRY = (str(HERE / "engine_entry.py"),)
"""The service with a stand-in job runner (engine_entry.py: test-only options on top of the server's)."""
CLI_ENTRY = ("-m", "engine", "serve")


def engine_env(state_dir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["VTOONIFY_STATE_DIR"] = str(state_dir)
    return env


def runner_args(root: Path, runner: str = "jobrunners:write_frames") -> list[str]:
    """Options that give a SERVER_ENTRY engine the torch-free test job runner and its own state dir."""
    return ["--state-dir", str(root / "state"), "--job-runner", runner,
            "--preview-runner", "jobrunners:write_preview", "--no-model-cache"]


def start_test_engine(root: Path, runner: str | None = "jobrunners:write_frames",
                      extra_args: tuple[str, ...] | None = None) -> EngineProcess:
    """A fresh engine process with its own connection file and state dir under ``root``.

    ``runner`` (module:function in jobrunners.py): the test entry point (engine_entry.py) with that runner
    and, unless ``extra_args`` are given, no ModelCache (the engine never imports torch).
    ``runner=None``: the real pipeline behind the product entry point ``python -m engine serve`` (the
    state dir travels in VTOONIFY_STATE_DIR, which both entry points honour).
    """
    root.mkdir(parents=True, exist_ok=True)
    if runner:
        entry = SERVER_ENTRY
        args = ["--state-dir", str(root / "state"), "--job-runner", runner,
                "--preview-runner", "jobrunners:write_preview",
                *(("--no-model-cache",) if extra_args is None else extra_args)]
    else:
        entry = CLI_ENTRY if (REPO / "engine" / "cli.py").exists() else SERVER_ENTRY
        args = list(extra_args or ())
    engine = EngineProcess(args=[*args, "--device", "cpu"], connection_file=str(root / "engine.json"),
                           env=engine_env(root / "state"), python_exe=sys.executable, entry=entry, cwd=str(REPO),
                           timeout_s=60)
    return engine.start()


def wait_terminal(client, job: str, timeout_s: float = 20.0) -> tuple[dict, list[dict]]:
    """Collect this client's events for ``job`` until its terminal event; returns (terminal, all)."""
    events = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        event = client.wait_event(max(0.01, deadline - time.monotonic()))
        if event is None:
            break
        events.append(event)
        if event.get("job") == job and event["event"] in ("job_done", "job_failed", "job_cancelled"):
            return event, events
    raise AssertionError(f"no terminal event for {job} within {timeout_s} s; got {events[-5:]}")


def classic_job(source: Path, out: Path, **more) -> dict:
    """A one-frame classic PNG job on the CPU: the cheapest real render, for wording tests."""
    return {"source": str(source), "output": str(out), "frames": "1", "backend": "classic", "device": "cpu",
            "format": "png", **more}
