"""Workers keep models warm: a second job with the same model does not load it again.

The engine runs a test job runner that fetches a small real checkpoint through the worker's real
``engine.pipeline.modelcache.ModelCache``; load counts come back through ``status`` and
``capabilities`` over the socket.
"""

from __future__ import annotations

import pytest
from service_helpers import start_test_engine, wait_terminal

torch = pytest.importorskip("torch")


def test_second_job_with_the_same_model_does_not_load_it_again(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("a.pt", "b.pt"):
        torch.save(torch.nn.Linear(4, 4).state_dict(), models / name)
    source = tmp_path / "plate.bin"
    source.write_bytes(b"plate")
    engine = start_test_engine(tmp_path / "engine", runner="jobrunners:write_frames_with_model", extra_args=())
    try:
        with engine.connect() as client:
            def run(model: str, out: str) -> dict:
                job = client.submit({"source": str(source), "output": str(tmp_path / out), "frames": "1-2",
                                     "model_path": str(models / model)})
                end, _ = wait_terminal(client, job, timeout_s=60)
                assert end["event"] == "job_done", end
                return client.status(job)

            first = run("a.pt", "o1")
            assert first["model_cache"]["loads"] == {"tiny:models/a.pt": 1}
            second = run("a.pt", "o2")
            assert second["model_cache"]["loads"] == {"tiny:models/a.pt": 1}  # warm: not loaded again
            assert second["result"]["model_id"] == first["result"]["model_id"]  # the very same module
            third = run("b.pt", "o3")
            assert third["model_cache"]["loads"] == {"tiny:models/a.pt": 1, "tiny:models/b.pt": 1}
            cpu = client.capabilities()["model_cache"]["cpu"]
            assert cpu["total_loads"] == 2 and cpu["memory_bytes"] == 2 * (16 + 4) * 4
    finally:
        engine.stop()


def test_a_cancelled_wait_for_a_load_ends_at_once_and_the_load_lands_in_the_cache(tmp_path):
    """``ModelCache.get(..., cancel)``: JobCancelled within a poll of the cancel, not when the load ends; the
    load finishes behind it and the next get returns that module without loading again. An error of a load
    nobody waits for any more is dropped."""
    import threading
    import time

    from engine.errors import JobCancelled
    from engine.pipeline.modelcache import CANCEL_POLL_S, ModelCache

    path = tmp_path / "m.pt"
    torch.save(torch.nn.Linear(4, 4).state_dict(), path)
    cache, cancel = ModelCache("cpu"), threading.Event()

    def slow_load(p):
        cancel.set()  # the user cancels while the model loads
        time.sleep(1.0)
        module = torch.nn.Linear(4, 4)
        module.load_state_dict(torch.load(p, weights_only=True))
        return module

    started = time.monotonic()
    with pytest.raises(JobCancelled):
        cache.get("tiny", str(path), slow_load, cancel)
    assert time.monotonic() - started < 0.5 + 2 * CANCEL_POLL_S
    module = cache.get("tiny", str(path), lambda p: pytest.fail("loaded twice"))  # waits on the cache's lock
    assert isinstance(module, torch.nn.Linear) and cache.loads == {f"tiny:{tmp_path.name}/m.pt": 1}

    with pytest.raises(JobCancelled):  # cancelled before the call: nothing is started
        cache.get("other", str(path), lambda p: pytest.fail("loaded after the cancel"), cancel)
    failing = threading.Event()

    def broken_load(p):
        failing.set()
        time.sleep(0.3)
        raise RuntimeError("truncated file")

    late = threading.Event()
    threading.Timer(0.1, late.set).start()
    with pytest.raises(JobCancelled):
        cache.get("broken", str(path), broken_load, late)
    time.sleep(0.4)
    assert failing.is_set() and cache.loads.get(f"broken:{tmp_path.name}/m.pt") is None
