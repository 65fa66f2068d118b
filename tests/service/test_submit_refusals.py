"""Settings refused in the reply to ``submit`` by a real ``python -m engine serve`` over its socket, as the CLI
refuses them before decoding: a style id past the exemplar codes file (it used to be accepted and fail only
once the job started), a relative exemplar image (it used to be looked up in the ENGINE's working folder).
"""

from __future__ import annotations

import pytest

from engine.errors import ConfigError


def settings(media_dir, out, **more) -> dict:
    return {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": "2", "style": "cartoon",
            "device": "cpu", "padding": [32, 32, 32, 32], **more}


@pytest.mark.parametrize("backend", ["vtoonify", "auto"])
def test_a_style_id_past_the_codes_file_is_refused_in_the_submit_reply(narrow_models_engine, media_dir, tmp_path,
                                                                       backend):
    out = tmp_path / "out"
    with narrow_models_engine.connect() as client:
        with pytest.raises(ConfigError) as refused:
            client.submit(settings(media_dir, out, backend=backend, style_id=30))
        jobs = [job for job in client.jobs() if job["output"] == str(out)]
    error = refused.value
    assert "style id 30 ('style_id': 30) is out of range for cartoon: exstyle_code.npy holds 30 exemplar codes, " \
           "ids 0 to 29" in error.message, error.message
    assert "pass 'style_id' from 0 to 29, or an exemplar photo with 'exstyle_image'" == error.fix, error.fix
    assert {"field": "style_id", "value": 30} in error.settings
    assert jobs == [] and not out.exists()  # no job queued, nothing written


def test_the_classic_backend_and_an_exemplar_photo_take_any_style_id(narrow_models_engine, media_dir, tmp_path):
    """The classic look uses no exemplar codes; an exemplar photo replaces them: neither is refused."""
    photo = media_dir / "038648.jpg"
    with narrow_models_engine.connect() as client:
        classic = client.submit(settings(media_dir, tmp_path / "a", backend="classic", style_id=30))
        custom = client.submit(settings(media_dir, tmp_path / "b", backend="vtoonify", style_id=30,
                                        exstyle_image=str(photo)))
        for job in (classic, custom):
            client.cancel(job)
    assert classic and custom


def test_a_relative_exemplar_image_is_refused_not_looked_up_in_the_engines_folder(narrow_models_engine, media_dir,
                                                                               tmp_path):
    """Sent as it is (``request``, not ``submit``, which makes it absolute first)."""
    with narrow_models_engine.connect() as client:
        with pytest.raises(ConfigError) as refused:
            client.request("submit", settings=settings(media_dir, tmp_path / "out", exstyle_image="faces/me.jpg"))
    assert refused.value.message.startswith("exstyle_image 'faces/me.jpg' is a relative path"), refused.value


def test_the_client_makes_a_relative_exemplar_image_absolute(tmp_path, monkeypatch):
    from engine.service.client import absolute_paths

    monkeypatch.chdir(tmp_path)
    assert absolute_paths({"exstyle_image": "me.jpg"}) == {"exstyle_image": str(tmp_path / "me.jpg")}


def test_a_mistyped_style_is_refused_in_the_submit_reply(narrow_models_engine, media_dir, tmp_path):
    """``auto`` refuses a style that exists nowhere before decoding (the CLI did); the service said so only
    once the job had started."""
    out = tmp_path / "out"
    with narrow_models_engine.connect() as client:
        with pytest.raises(ConfigError) as refused:
            client.submit(settings(media_dir, out, backend="auto", style="cartoom"))
        assert not [job for job in client.jobs() if job["output"] == str(out)]  # none queued
    assert "unknown style 'cartoom'" in refused.value.message and "did you mean cartoon" in refused.value.message
    assert refused.value.fix.startswith("pass 'style': \"cartoon\""), refused.value.fix
    with narrow_models_engine.connect() as client, pytest.raises(ConfigError, match="unknown style 'cartoom'"):
        client.submit(settings(media_dir, out, backend="auto", style="cartoom",
                               exstyle_image=str(media_dir / "038648.jpg")))


def test_a_resume_reading_a_slow_models_folder_does_not_hold_the_queue(tmp_path, monkeypatch):
    """The models-folder check of a resume (a network share may take seconds) ran under the queue's lock, which
    every worker, listing and submit takes: one client's resume stalled the whole engine."""
    import threading
    import time

    from engine.service import jobs as jobs_module
    from engine.service.jobs import JobQueue

    def quick(config, on_event, cancel, models) -> dict:
        return {"outputs": [], "count": 0}

    queue = JobQueue(lambda *_: None, runner=quick, model_cache_factory=None, state_dir=tmp_path,
                     default_device="cpu")
    try:
        job = queue.submit({"source": "/s.mp4", "output": str(tmp_path / "o")})
        while queue.get(job.id).state != "done":
            time.sleep(0.01)
        queue.get(job.id).state = "failed"  # a job to resume
        slow = threading.Event()
        monkeypatch.setattr(jobs_module, "check_models_settings", lambda config: slow.wait(10))
        resumer = threading.Thread(target=queue.resume, args=(job.id,))
        resumer.start()
        time.sleep(0.2)  # the resume is now in its models-folder check
        started = time.monotonic()
        listed = queue.list()
        waited = time.monotonic() - started
        slow.set()
        resumer.join(10)
        resumed = queue.get(job.id).state
    finally:
        queue.close()
    assert waited < 1.0 and [j["job"] for j in listed] == [job.id], (waited, listed)
    assert resumed in ("queued", "running", "done")  # and the resume went through


def test_the_submit_time_style_check_loads_no_torch(narrow_models_dir):
    """The service starts and queues without torch (a classic job never needs it): the new check reads the
    models folder and exstyle_code.npy with numpy only."""
    import subprocess
    import sys

    from service_helpers import REPO

    code = ("import sys\nfrom engine.pipeline.config import RenderConfig\n"
            "from engine.service.jobs import check_models_settings\n"
            f"check_models_settings(RenderConfig.from_dict({{'source': '/s.mp4', 'output': '/o', 'style': 'cartoon', "
            f"'style_id': 3, 'models_dir': {str(narrow_models_dir)!r}}}))\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", (done.stdout, done.stderr)
