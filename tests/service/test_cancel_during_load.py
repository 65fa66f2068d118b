"""A cancel that arrives while a job's models load, through a real engine process and its socket."""

from __future__ import annotations

import time

from service_helpers import start_test_engine, wait_terminal

LOAD_S = 6.0


def _engine_and_settings(narrow_models_dir, media_dir, tmp_path):
    """An engine whose BiSeNet load takes ``LOAD_S`` (jobrunners.slow_model_load), the job's settings and
    the marker file the load touches when it starts."""
    marker = tmp_path / "loading"
    engine = start_test_engine(tmp_path / "e", runner="jobrunners:slow_model_load",
                               extra_args=("--models", str(narrow_models_dir)))
    settings = {"source": str(media_dir / "529_2.mp4"), "output": str(tmp_path / "out"), "frames": "1-2",
                "backend": "vtoonify", "device": "cpu", "padding": [32, 32, 32, 32],
                "format": "png", "marker": str(marker), "load_s": LOAD_S}
    return engine, settings, marker


def _wait_for_the_load(marker) -> float:
    """Wait until the load has started; the time then."""
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline, "the model load never started"
        time.sleep(0.02)
    return time.monotonic()


def test_a_cancel_during_a_model_load_is_answered_at_once_and_the_load_is_kept(narrow_models_dir, media_dir,
                                                                              tmp_path):
    """The real pipeline with a BiSeNet load stretched to 6 s: the cancel sent in its first second ended
    the job only when the load did (the loads cannot stop midway); now ``job_cancelled`` comes within a
    second, and the model loaded behind it is in the cache for the next job (no second load)."""
    engine, settings, marker = _engine_and_settings(narrow_models_dir, media_dir, tmp_path)
    try:
        with engine.connect() as client:
            job = client.submit(settings)
            asked = _wait_for_the_load(marker)
            client.cancel(job)
            end, _ = wait_terminal(client, job, timeout_s=60)
            took = time.monotonic() - asked
            assert end["event"] == "job_cancelled", end
            assert took < 1.5, f"cancel answered after {took:.2f} s (the load takes {LOAD_S:g} s)"
            assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))

            time.sleep(LOAD_S + 1)  # the load behind the cancel lands in the cache
            second = client.submit(dict(settings, output=str(tmp_path / "out2"), load_s=0))
            end, _ = wait_terminal(client, second, timeout_s=300)
            assert end["event"] == "job_done", end
            loads = client.status(second)["model_cache"]["loads"]
        parser_loads = {name: n for name, n in loads.items() if name.startswith("faceparsing:")}
        assert list(parser_loads.values()) == [1], loads
        assert sorted(p.name for p in (tmp_path / "out2").glob("*.png")) == ["529_2.0001.png", "529_2.0002.png"]
    finally:
        engine.stop()


def test_a_shutdown_during_a_model_load_ends_the_engine_at_once(narrow_models_dir, media_dir, tmp_path):
    """``shutdown`` while a job's model loads (stretched to 6 s): the engine exits within seconds, the load
    left on its daemon thread does not hold it."""
    engine, settings, marker = _engine_and_settings(narrow_models_dir, media_dir, tmp_path)
    try:
        with engine.connect() as client:
            client.submit(settings)
            asked = _wait_for_the_load(marker)
            client.shutdown()
        assert engine.proc.wait(LOAD_S * 3) == 0
        took = time.monotonic() - asked
        print(f"engine exited {took:.2f} s after shutdown")
        assert took < 3.0, f"the engine exited {took:.2f} s after shutdown (the load takes {LOAD_S:g} s)"
    finally:
        engine.stop()
