"""Leftovers of the hardening pass: one preview analysis per resolved job, farm exit codes for
``serve`` / ``models``, and the journal naming the action that resumes a job."""

from __future__ import annotations

import errno

from engine.cli import main
from engine.errors import EXIT_CANCELLED, EXIT_RETRY, EXIT_USER_ERROR
from engine.pipeline import shot
from engine.pipeline.config import RenderConfig
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.preview import render_preview

SMALL = (48, 48, 48, 48)


def test_preview_memo_is_keyed_by_the_resolved_precision(media_dir, tmp_path, empty_models_dir, monkeypatch):
    # Before: "auto" and the precision it resolves to were two keys, so the shot was analysed twice.
    analyses = []
    real = shot.analyse_shot
    monkeypatch.setattr("engine.pipeline.preview.analyse_shot", lambda *a: analyses.append(a[3]) or real(*a))
    cache = ModelCache("cpu")
    config = RenderConfig(source=str(media_dir / "651.mp4"), output=str(tmp_path / "job"), padding=SMALL,
                          backend="classic")
    for precision in ("auto", "fp32", "auto"):
        config = RenderConfig(**{**config.__dict__, "precision": precision})
        render_preview(config, 5, str(tmp_path / f"preview-{precision}"), cache)
    assert len(analyses) == 1  # the classic look has no network: every precision is the same job


def test_models_command_exits_75_when_the_disk_fills(tmp_path, monkeypatch, capsys):
    # Before: every serve/models failure exited 2 ("fix the job"), so a farm never retried a full disk.
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "models" / "x.pt.part"))

    monkeypatch.setattr("engine.models.fetch.fetch_models", full)
    assert main(["models", "fetch", "--models", str(tmp_path / "models")]) == EXIT_RETRY
    assert "error: the disk is full or over quota writing" in capsys.readouterr().err


def test_models_command_exits_130_on_ctrl_c_and_2_for_a_bad_folder(tmp_path, monkeypatch, capsys):
    assert main(["models", "verify", "--models", str(tmp_path / "absent")]) == EXIT_USER_ERROR

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("engine.models.fetch.fetch_models", interrupted)
    assert main(["models", "fetch", "--models", str(tmp_path / "models")]) == EXIT_CANCELLED
    assert "cancelled: models interrupted" in capsys.readouterr().err


def test_serve_exits_75_when_its_connection_file_hits_a_full_disk(tmp_path, monkeypatch, capsys):
    from engine.service import server

    def full(info, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(server, "write_connection_file", full)
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    code = main(["serve", "--connection-file", str(tmp_path / "engine.json"), "--device", "cpu"])
    assert code == EXIT_RETRY and "disk is full" in capsys.readouterr().err


def test_an_interrupted_job_names_the_request_that_resumes_it(tmp_path):
    from engine.service.jobs import JobQueue

    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "jobs.jsonl").write_text(  # a job the engine was running when it stopped
        '{"id": "9c1d2e3f4a5b", "state": "running", "settings": {"source": "/a.mp4", "output": "/out"}}\n')
    reopened = JobQueue(lambda *a: None, model_cache_factory=None, state_dir=tmp_path / "state",
                        default_device="cpu")
    try:
        message = reopened.get("9c1d2e3f4a5b").last_event["error"]["message"]
    finally:
        reopened.close()
    assert "send resume" not in message
    assert "'resume' request for job 9c1d2e3f4a5b" in message and "EngineClient.resume('9c1d2e3f4a5b')" in message
