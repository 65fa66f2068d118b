"""The device kind is part of the job key: CPU and GPU workers never add frames to one look silently."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest
from farm_helpers import frame_files

import engine.pipeline.shot as shot_module
from engine.cli import main
from engine.errors import EXIT_OK, EXIT_USER_ERROR
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
    assert "device: prepare/sidecar has cpu, this task resolves cuda" in failed["error"]["message"]
    assert "(run every task on cpu workers (--device cpu) (see docs/FARM.md); or" in failed["error"]["message"]
    assert frame_files(out) == [] and (out / "529_2.vtoonify.json").read_text() == sidecar


def test_a_refusal_names_each_differing_setting_and_an_old_sidecar_keeps_the_plain_message(
        media_dir, tmp_path, monkeypatch, capsys):
    """Prepare with one setting, a chunk with another: --resume and the plain render both name it with
    both values; a sidecar of an earlier engine (no recorded settings) still gives the generic message."""
    monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path / "no-models"))
    out = tmp_path / "out"
    job = [str(media_dir / "529_2.mp4"), "-o", str(out), "--backend", "classic"]
    assert main(["render", *job, "--padding", "48", "--frames", "1"]) == EXIT_OK
    sidecar = out / "529_2.vtoonify.json"
    assert json.loads(sidecar.read_text())["job_settings"]["padding"] == [48, 48, 48, 48]
    capsys.readouterr()
    assert main(["render", *job, "--padding", "64", "--frames", "2", "--resume"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "padding: prepare/sidecar has [48, 48, 48, 48], this task resolves [64, 64, 64, 64]" in err, err
    assert "pass the same --padding to every task" in err and "precision" not in err, err
    assert main(["render", *job, "--padding", "64", "--frames", "2"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "1 file of an earlier 529_2 job with other settings: padding: prepare/sidecar has" in err, err
    assert "--overwrite" in err
    old = json.loads(sidecar.read_text())
    del old["job_settings"]                              # as an earlier engine wrote it
    sidecar.write_text(json.dumps(old))
    assert main(["render", *job, "--padding", "64", "--frames", "2", "--resume"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "belongs to a job with other settings (render into a new output folder" in err, err
    assert "padding:" not in err and [p.name for p in frame_files(out)] == ["529_2.0001.exr"]


@pytest.mark.slow
def test_auto_precision_splits_a_mixed_farm_and_the_farm_default_fp32_does_not(media_dir, narrow_models_dir,
                                                                                tmp_path, monkeypatch, capsys):
    """Prepare on a worker without fast bf16, a chunk on one with it (AVX512-BF16): with ``auto`` they resolve
    fp32 and bf16, two job keys, and the chunk is refused; with the farm default fp32 it renders."""
    import engine.models.precision as precision

    def job(out, name):
        return [str(media_dir / "529_2.mp4"), "-o", str(out), "--backend", "vtoonify", "--models",
                str(narrow_models_dir), "--style", "narrow48", "--precision", name, "--padding", "48"]

    for name, code in (("auto", EXIT_USER_ERROR), ("fp32", EXIT_OK)):
        out = tmp_path / name
        monkeypatch.setattr(precision, "device_has_fast_bf16", lambda device: False)
        assert main(["prepare", *job(out, name), "--frames", "1-2"]) == EXIT_OK
        monkeypatch.setattr(precision, "device_has_fast_bf16", lambda device: True)
        assert main(["render", *job(out, name), "--frames", "2", "--resume"]) == code
        err = capsys.readouterr().err
        assert ("belongs to a job with other settings" in err) == (code == EXIT_USER_ERROR), err
        if code:
            assert "precision: prepare/sidecar has fp32, this task resolves bf16" in err, err
            assert "pass --precision fp32 to every task" in err and "docs/FARM.md" in err, err
        assert [p.name for p in frame_files(out)] == ([] if code else ["529_2.0002.exr"])
