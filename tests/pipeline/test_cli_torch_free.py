"""Commands that run no model import no torch (nor cv2, PyAV, OpenImageIO): ``--help``, a usage error,
``models list|fetch|verify`` and the engine service up to its first job answer in a fraction of a second
instead of after torch's seconds of import (every Blender/panel engine start and farm task pays it); a
classic render imports no torch either.

Each case is a real ``python -m engine`` process run with ``-X importtime``, so an eager import anywhere on
the path (a package ``__init__``, a module-level ``import torch``) fails the test by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import EXIT_USER_ERROR
from engine.service.client import EngineClient, start_engine, stop_engine

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "cv2", "av", "OpenImageIO", "dlib")
"""Top-level packages that each cost from a tenth of a second (av) to seconds (torch) to import."""


def heavy_imports(importtime_log: str) -> list[str]:
    """Heavy packages named in ``-X importtime`` output (lines ``import time: self | cumulative | name``)."""
    names = {line.rsplit("|", 1)[-1].strip() for line in importtime_log.splitlines() if line.startswith("import time:")}
    assert "engine" in names, "no import-time lines: is -X importtime still honoured?"
    return [name for name in HEAVY if name in names]


def run_engine(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "VTOONIFY_MODELS": str(tmp_path / "models")}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "engine", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env)


CASES = {
    "help": (("--help",), 0),
    "render_help": (("render", "--help"), 0),
    "no_source": (("render",), EXIT_USER_ERROR),
    "bad_degree": (("render", "shot.mp4", "-o", "{tmp}/out", "--degree", "3"), EXIT_USER_ERROR),
    "models_list": (("models", "list", "--json", "--models", "{tmp}/models"), 0),
    "models_verify_absent": (("models", "verify", "--models", "{tmp}/absent"), EXIT_USER_ERROR),
    "models_fetch_unknown_style": (("models", "fetch", "--style", "nosuch", "--models", "{tmp}/models"),
                                   EXIT_USER_ERROR),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_command_that_runs_no_model_imports_no_torch(case, tmp_path):
    args, code = CASES[case]
    proc = run_engine(*(a.format(tmp=tmp_path) for a in args), tmp_path=tmp_path)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert heavy_imports(proc.stderr) == [], f"`engine {' '.join(args)}` imported them"
    if case == "models_list":  # it still did its job
        assert "encoder.pt" in json.loads(proc.stdout)["shared_missing"]
    if case == "bad_degree":
        assert "degree 3.0 is outside [0, 1]" in proc.stderr and not (tmp_path / "out").exists()


def test_a_classic_render_and_a_missing_source_never_import_torch(media_dir, tmp_path):
    """The classic backend has no network: its farm tasks (and a job whose source is missing) skip torch's
    import (with ``--device cpu``, or ``auto`` on a CPU-only torch build); they still read and write media
    (PyAV, OpenImageIO, OpenCV), which this test allows."""
    out = tmp_path / "out"
    done = run_engine("render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "2", "--backend",
                      "classic", "--padding", "48", "--device", "cpu", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [p.name for p in out.glob("*.exr")] == ["529_2.0002.exr"]
    missing = run_engine("render", str(tmp_path / "absent.mp4"), "-o", str(out), "--device", "cpu", tmp_path=tmp_path)
    assert missing.returncode == EXIT_USER_ERROR and "no such file" in missing.stderr
    assert "torch" not in heavy_imports(done.stderr) + heavy_imports(missing.stderr)


def test_the_engine_service_answers_before_torch_is_imported(tmp_path, narrow_models_dir):
    """hello, ping, the job list and (on a CPU-only torch build) capabilities, style names read from
    exstyle_code.npy included, come from a torch-free engine: Blender's and the panel's first questions to
    a new engine are answered at once; torch loads with the first job."""
    from engine.models import load_exstyles
    from engine.pipeline.device import gpu_build_possible

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPROFILEIMPORTTIME": "1",
           "VTOONIFY_STATE_DIR": str(tmp_path / "state")}
    proc, info = start_engine(sys.executable, ["--device", "cpu", "--models", str(narrow_models_dir)],
                              connection_file=str(tmp_path / "engine.json"), env=env, cwd=str(REPO), timeout_s=60)
    cpu_only = not gpu_build_possible()  # a CUDA/ROCm build must ask torch whether a GPU is there
    try:
        with EngineClient.connect(info) as client:
            assert client.ping()["pong"] is True
            assert client.jobs() == []
            caps = client.capabilities() if cpu_only else None
    finally:
        assert stop_engine(proc) == 0
        proc.stderr_log.seek(0)
        log = proc.stderr_log.read().decode("utf-8", "replace")
    assert heavy_imports(log) == []
    if cpu_only:
        assert caps["devices"] == ["cpu"] and "vtoonify" in caps["backends"]
        cartoon = next(s for s in caps["styles"] if s["style"] == "cartoon")
        assert cartoon["style_ids"] == list(load_exstyles(narrow_models_dir / "vtoonify_d_cartoon/exstyle_code.npy"))


@pytest.mark.parametrize(("version_py", "possible"), [
    ("cuda: Optional[str] = None\nhip: Optional[str] = None\n", False),
    ("cuda = None\nhip = None\n", False),
    ("cuda: Optional[str] = '12.4'\nhip: Optional[str] = None\n", True),
    ("cuda = None\nhip = '6.2'\n", True),
    ("cuda = None\n", True),          # a layout it does not know: torch is asked
    ("cuda = (\n", True),             # unparsable: torch is asked
    (None, True),                     # no version.py
], ids=["cpu_annotated", "cpu_plain", "cuda", "rocm", "no_hip", "garbage", "missing"])
def test_only_a_certain_cpu_only_torch_build_skips_asking_torch_for_gpus(version_py, possible, tmp_path):
    """The build is read from torch/version.py without importing torch (here a stand-in torch package
    whose __init__ fails if imported); any doubt means 'ask torch'."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('the stand-in torch must not be imported')\n")
    if version_py is not None:
        (fake / "version.py").write_text(version_py)
    probe = "from engine.pipeline.device import gpu_build_possible; print(gpu_build_possible())"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(REPO)])})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(possible)


DEVICE_PROBE = """
import json, sys
from engine.errors import DeviceError
from engine.pipeline import device

def outcome(resolve, name):
    try:
        return str(resolve(name))
    except DeviceError as exc:
        return "error: " + exc.user_message

names = ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:x", "gpu", "CPU", "mps"]
by_name = [outcome(device.resolve_device_name, n) for n in names]
torch_free = "torch" not in sys.modules
print(json.dumps({"by_name": by_name, "torch_free": torch_free, "cpu_only": not device.gpu_build_possible(),
                  "by_torch": [outcome(device.resolve_device, n) for n in names]}))
"""


def test_a_device_name_resolves_as_torch_resolves_it_without_torch_where_it_can():
    """``ModelCache`` resolves ``--device`` by name first (so a classic job needs no torch): the same device
    and the same errors as ``resolve_device`` asked afterwards, in the same process."""
    proc = subprocess.run([sys.executable, "-c", DEVICE_PROBE], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["by_name"] == found["by_torch"]
    assert found["by_name"][1] == "cpu" and found["by_name"][5].startswith("error: unknown device 'cuda:x'")
    if found["cpu_only"]:
        assert found["torch_free"]
