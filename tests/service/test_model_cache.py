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
