"""End to end with the REAL pipeline: ``python -m engine serve`` renders a real clip for a client.

Classic backend (no weights) on frames 1-4 of media/529_2.mp4: progress and frame_done events, EXR
files read back with OpenImageIO, the job sidecar, a preview, and the capabilities report. Then the
narrow reference VToonify-D (tests/conftest.py ``narrow_models_dir``) twice: the second job finds its
models warm in the worker's cache (load counts over the socket). Finally the whole of
media/651.mp4: cancel mid-job; frames 1-16 of it: kill -9 + restart + resume, both with the real pipeline.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from service_helpers import start_test_engine, wait_terminal

from engine.errors import ConfigError
from engine.service import protocol

pytestmark = pytest.mark.slow


def classic_settings(media_dir: Path, out: Path, **more) -> dict:
    return {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": "1-4", "backend": "classic",
            "device": "cpu", **more}


def test_classic_job_on_a_real_clip_writes_the_frames(narrow_models_engine, media_dir, tmp_path):
    import OpenImageIO as oiio

    out = tmp_path / "out"
    with narrow_models_engine.connect() as client:
        job = client.submit(classic_settings(media_dir, out))
        end, events = wait_terminal(client, job, timeout_s=240)
        assert end["event"] == "job_done", end
        status = client.status(job)
    result = end["result"]
    assert result["backend"] == "classic" and result["frames"] == [1, 4] and result["count"] == 4
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == [1, 2, 3, 4]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 4
    assert all(e["job"] == job for e in events)
    expected = [out / f"529_2.{n:04d}.exr" for n in range(1, 5)]
    assert result["outputs"] == [str(p) for p in expected]
    for path in expected:
        image = oiio.ImageInput.open(str(path))
        assert image is not None, oiio.geterror()
        spec = image.spec()
        image.close()
        assert spec.width > 0 and spec.height > 0 and spec.nchannels >= 3
    assert Path(result["sidecar"]).is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert status["state"] == "done" and status["model_cache"]["device"] == "cpu"


def test_a_submitted_job_with_other_settings_is_refused_naming_them(narrow_models_engine, media_dir, tmp_path):
    """The panel/add-on see which setting differs from the folder's job, both values and the fix."""
    out = tmp_path / "out"
    with narrow_models_engine.connect() as client:
        first = client.submit(classic_settings(media_dir, out, frames="1", padding=[48, 48, 48, 48]))
        assert wait_terminal(client, first, timeout_s=240)[0]["event"] == "job_done"
        other = client.submit(classic_settings(media_dir, out, frames="2", padding=[64, 64, 64, 64], resume=True))
        end, _ = wait_terminal(client, other, timeout_s=240)
    assert end["event"] == "job_failed" and end["error"]["code"] == "bad_config", end
    message = end["error"]["message"]
    assert "'padding': [48, 48, 48, 48] in the render there, [64, 64, 64, 64] in this shot" in message, message
    assert {"field": "padding"} in end["error"]["settings"]
    assert "render with 'padding': [48, 48, 48, 48], as the folder's job did" in message  # a field, not a flag
    assert "docs/FARM.md" not in message and "every task" not in message  # farm words are the CLI's
    assert "prepare/sidecar" not in message and "this task" not in message
    assert [p.name for p in out.glob("*.exr")] == ["529_2.0001.exr"]


def test_a_job_with_a_misspelt_style_is_refused_naming_the_closest(narrow_models_engine, media_dir, tmp_path):
    """``backend: auto`` and a style no family has: refused in the submit's reply naming the near names, not
    queued (it was a failed job, once started) and never a classic render."""
    out = tmp_path / "out"
    with narrow_models_engine.connect() as client:
        with pytest.raises(ConfigError) as refused:
            client.submit(classic_settings(media_dir, out, frames="1", backend="auto", style="narow48"))
    assert refused.value.code == "bad_config"
    assert "unknown style 'narow48'" in refused.value.message and "did you mean narrow48?" in refused.value.message
    assert "models list" in refused.value.fix
    assert not out.exists()


def test_preview_of_a_real_frame(narrow_models_engine, media_dir, tmp_path):
    import OpenImageIO as oiio

    with narrow_models_engine.connect() as client:
        preview = client.preview(classic_settings(media_dir, tmp_path / "p", format="png"), frame=2)
    assert preview["frame"] == 2
    for key in ("path", "source_path"):
        image = oiio.ImageInput.open(preview[key])
        assert image is not None, oiio.geterror()
        image.close()


def test_capabilities_report_backends_devices_styles_and_cache(narrow_models_engine, narrow_models_dir):
    with narrow_models_engine.connect() as client:
        caps = client.capabilities()
    assert caps["protocol"] == 1 and caps["engine_version"] == "0.1.0"
    assert "pipeline_error" not in caps, caps.get("pipeline_error")
    assert {"classic", "vtoonify"} <= set(caps["backends"])
    assert "cpu" in caps["devices"]
    assert caps["models_dir"] == str(narrow_models_dir)  # the engine's --models
    styles = {(s["style"], s["backbone"]): s for s in caps["styles"]}
    cartoon = styles[("cartoon", "dualstylegan")]
    assert cartoon["checkpoints"] == ["vtoonify_s_d_c.pt"]
    assert cartoon["style_ids"] == [f"Cartoons_{i:05d}.jpg" for i in range(30)]  # index = style_id
    assert ("narrow48", "toonify") in styles
    assert isinstance(caps["model_cache"], dict)


def test_narrow_vtoonify_jobs_reuse_the_warm_models(narrow_models_engine, media_dir, narrow_models_dir, tmp_path):
    import OpenImageIO as oiio

    expected_loads = {"vtoonify:vtoonify_d_cartoon/vtoonify_s_d_c.pt": 1,
                      f"faceparsing:{narrow_models_dir.name}/faceparsing.pth": 1}
    statuses = []
    with narrow_models_engine.connect() as client:
        for run in ("first", "second"):
            job = client.submit({"source": str(media_dir / "529_2.mp4"), "output": str(tmp_path / run),
                                 "frames": "1-2", "backend": "vtoonify", "padding": [32, 32, 32, 32],
                                 "format": "png"})
            end, events = wait_terminal(client, job, timeout_s=240)
            assert end["event"] == "job_done", end
            assert end["result"]["backend"] == "vtoonify" and end["result"]["count"] == 2
            assert [e["frame"] for e in events if e["event"] == "frame_done"] == [1, 2]
            statuses.append(client.status(job))
        caps = client.capabilities()
    first, second = statuses
    assert first["model_cache"]["loads"] == expected_loads
    assert second["model_cache"]["loads"] == expected_loads  # not loaded again for the second job
    assert second["model_cache"]["memory_bytes"] > 0
    assert caps["model_cache"]["cpu"]["loads"] == expected_loads
    for run in ("first", "second"):
        files = sorted((tmp_path / run).glob("529_2.*.png"))
        assert [p.name for p in files] == ["529_2.0001.png", "529_2.0002.png"]
        image = oiio.ImageInput.open(str(files[0]))
        assert image is not None, oiio.geterror()
        image.close()


def whole_clip_settings(media_dir: Path, out: Path) -> dict:
    """All 62 frames of media/651.mp4, classic, small padding and a fixed batch (fast, known bound)."""
    return {"source": str(media_dir / "651.mp4"), "output": str(out), "backend": "classic", "device": "cpu",
            "padding": [48, 48, 48, 48], "batch": CLASSIC_BATCH, "format": "png"}


CLASSIC_BATCH = 4
CLIP_FRAMES = 62


def leftovers(out: Path) -> list[str]:
    """Temp or hidden files the pipeline must never leave behind (``.*.tmp`` and friends)."""
    return [p.name for p in out.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]


def test_cancel_mid_job_with_the_real_pipeline_stops_within_a_batch(narrow_models_engine, media_dir, tmp_path):
    out = tmp_path / "out"
    with narrow_models_engine.connect() as client:
        job = client.submit(whole_clip_settings(media_dir, out))
        seen_done = 0
        while True:
            event = client.wait_event(120)
            assert event is not None and event["event"] not in protocol.TERMINAL_EVENTS, event
            if event["event"] == "frame_done":
                seen_done = 1
                break
        client.cancel(job)
        end, events = wait_terminal(client, job, timeout_s=120)
        status = client.status(job)
    frame_done = seen_done + sum(1 for e in events if e["event"] == "frame_done")
    assert end["event"] == "job_cancelled" and end["state"] == "cancelled" and status["state"] == "cancelled"
    written = sorted(out.glob("651.*.png"))
    assert 1 <= len(written) <= frame_done + CLASSIC_BATCH and len(written) < CLIP_FRAMES
    assert len(written) <= seen_done + 2 * CLASSIC_BATCH  # the batch in flight at most, then it stopped
    assert leftovers(out) == []


RESUME_FRAMES = 16
"""Frames 1-16 of the clip for the kill test: four batches, so the kill lands mid-job (cheaper than all 62)."""


def test_killed_engine_then_resume_with_the_real_pipeline_renders_every_frame(media_dir, tmp_path):
    out = tmp_path / "out"
    engine = start_test_engine(tmp_path / "e", runner=None)
    try:
        with engine.connect() as client:
            job = client.submit({**whole_clip_settings(media_dir, out), "frames": f"1-{RESUME_FRAMES}"})
            while client.wait_event(240)["event"] != "frame_done":
                pass
    finally:  # also when no frame came: an engine left running would outlive the test run
        os.kill(engine.proc.pid, signal.SIGKILL)  # no clean-up at all
        engine.proc.wait(10)
    before = len(list(out.glob("651.*.png")))
    assert 1 <= before < RESUME_FRAMES

    engine = start_test_engine(tmp_path / "e", runner=None)  # same state dir: the journal survives
    try:
        with engine.connect() as client:
            assert client.status(job)["state"] == "interrupted"
            assert client.resume(job) == job
            end, _ = wait_terminal(client, job, timeout_s=180)
            assert end["event"] == "job_done", end
            result = end["result"]
            assert result["skipped"] >= before and result["rendered"] + result["skipped"] == RESUME_FRAMES
            with pytest.raises(ConfigError, match="already done"):
                client.resume(job)
    finally:
        engine.stop()
    assert [p.name for p in sorted(out.glob("651.*.png"))] == [f"651.{n:04d}.png" for n in range(1, RESUME_FRAMES + 1)]
    assert leftovers(out) == []
