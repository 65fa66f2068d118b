"""The device kind is part of the job key: CPU and GPU workers never add frames to one look silently."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

from farm_helpers import frame_files

import engine.pipeline.shot as shot_module
from engine.cli import main
from engine.errors import EXIT_USER_ERROR
from engine.pipeline.config import RenderConfig
from engine.pipeline.shot import job_device, job_key


def test_key_depends_on_the_device_kind_and_precision():
    config = RenderConfig(source="/plates/a.mp4", output="/out", precision="fp32")
    files = {"vtoonify": "/m/vtoonify_d_cartoon/vtoonify_s_d.pt"}
    assert job_key(config, "vtoonify", files, "cpu") != job_key(config, "vtoonify", files, "cuda")
    bf16 = dataclasses.replace(config, precision="bf16")
    assert job_key(config, "vtoonify", files, "cuda") != job_key(bf16, "vtoonify", files, "cuda")
    gpu = SimpleNamespace(device=SimpleNamespace(type="cuda"))
    assert job_device(SimpleNamespace(name="vtoonify"), gpu) == "cuda"
    assert job_device(SimpleNamespace(name="classic"), gpu) == "cpu"     # OpenCV on the CPU on every worker


def test_a_chunk_on_another_device_kind_stops_with_exit_2(media_dir, tmp_path, monkeypatch, capsys):
    """Prepare ran on one kind of worker; a --resume chunk computing on the other kind is refused."""
    monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path / "no-models"))
    out = tmp_path / "out"
    job = [str(media_dir / "529_2.mp4"), "-o", str(out), "--backend", "classic", "--padding", "48"]
    assert main(["prepare", *job, "--frames", "1-4"]) == 0
    sidecar = (out / "529_2.vtoonify.json").read_text()
    monkeypatch.setattr(shot_module, "job_device", lambda backend, cache: "cuda")   # as a GPU worker keys it
    assert main(["render", *job, "--frames", "1-2", "--resume", "--json-progress"]) == EXIT_USER_ERROR
    failed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert failed["event"] == "job_failed" and "belongs to a job with other settings" in failed["error"]["message"]
    assert frame_files(out) == [] and (out / "529_2.vtoonify.json").read_text() == sidecar
