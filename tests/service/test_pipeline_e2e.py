"""End to end with the REAL pipeline: ``python -m engine serve`` renders a real clip for a client.

Classic backend (no weights) on frames 1-4 of media/529_2.mp4: progress and frame_done events, EXR
files read back with OpenImageIO, the job sidecar, a preview, and the capabilities report. Then the
narrow reference VToonify-D (tests/conftest.py ``narrow_models_dir``) twice: the second job finds its
models warm in the worker's cache (load counts over the socket).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from service_helpers import start_test_engine, wait_terminal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_engine(tmp_path_factory, narrow_models_dir):
    """``python -m engine serve --models <narrow models>``: the real pipeline, small random-weight models."""
    engine = start_test_engine(tmp_path_factory.mktemp("real-engine"), runner=None,
                               extra_args=("--models", str(narrow_models_dir)))
    yield engine
    engine.stop()


def classic_settings(media_dir: Path, out: Path, **more) -> dict:
    return {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": "1-4", "backend": "classic",
            "device": "cpu", **more}


def test_classic_job_on_a_real_clip_writes_the_frames(real_engine, media_dir, tmp_path):
    import OpenImageIO as oiio

    out = tmp_path / "out"
    with real_engine.connect() as client:
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


def test_preview_of_a_real_frame(real_engine, media_dir, tmp_path):
    import OpenImageIO as oiio

    with real_engine.connect() as client:
        preview = client.preview(classic_settings(media_dir, tmp_path / "p", format="png"), frame=2)
    assert preview["frame"] == 2
    for key in ("path", "source_path"):
        image = oiio.ImageInput.open(preview[key])
        assert image is not None, oiio.geterror()
        image.close()


def test_capabilities_report_backends_devices_styles_and_cache(real_engine, narrow_models_dir):
    with real_engine.connect() as client:
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


def test_narrow_vtoonify_jobs_reuse_the_warm_models(real_engine, media_dir, narrow_models_dir, tmp_path):
    import OpenImageIO as oiio

    expected_loads = {"vtoonify:vtoonify_d_cartoon/vtoonify_s_d_c.pt": 1,
                      f"faceparsing:{narrow_models_dir.name}/faceparsing.pth": 1}
    statuses = []
    with real_engine.connect() as client:
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
