"""JobQueue in-process: order per device, events, journal, close; with small real runners."""

from __future__ import annotations

import threading
import time

import pytest

from engine.errors import ConfigError, EngineError, JobCancelled, UnknownJobError
from engine.service.jobs import MAX_LISTED_OUTPUTS, JobQueue
from engine.service.journal import read_journal


class Recorder:
    """publish() target: keeps every event and wakes waiters on terminal ones."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.cond = threading.Condition()

    def __call__(self, job_id: str, message: dict) -> None:
        with self.cond:
            self.events.append((job_id, message))
            self.cond.notify_all()

    def wait_terminal(self, job_id: str, timeout_s: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for jid, message in self.events:
                    if jid == job_id and message["event"] in ("job_done", "job_failed", "job_cancelled"):
                        return message
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no terminal event for {job_id}"
                self.cond.wait(remaining)


def touch_runner(config, on_event, cancel, models):
    """Writes one file per job (named by the job's output) and records the start order."""
    order_file = config.knobs["order_file"]
    with open(order_file, "a") as handle:
        handle.write(config.output + "\n")
    time.sleep(float(config.knobs.get("delay_s", 0.0)))
    if cancel.is_set():
        raise JobCancelled("cancelled")
    on_event({"event": "progress", "done": 1, "total": 1, "frame": 1, "fps": 1.0, "eta_s": 0.0})
    count = int(config.knobs.get("outputs", 1))
    return {"outputs": [f"{config.output}/f.{i:05d}.exr" for i in range(count)], "pattern": "f.#####.exr",
            "frames": [0, count - 1], "count": count, "backend": "touch"}


def make_queue(tmp_path, publish, runner=touch_runner) -> JobQueue:
    return JobQueue(publish, runner=runner, model_cache_factory=None, state_dir=tmp_path / "state",
                    default_device="cpu")


def test_jobs_run_in_submission_order_and_emit_events(tmp_path):
    events = Recorder()
    queue = make_queue(tmp_path, events)
    order = tmp_path / "order.txt"
    jobs = [queue.submit({"source": "s", "output": f"out{i}", "order_file": str(order), "delay_s": 0.01})
            for i in range(5)]
    for job in jobs:
        assert events.wait_terminal(job.id)["event"] == "job_done"
    assert order.read_text().split() == [f"out{i}" for i in range(5)]
    assert {job.device for job in jobs} == {"cpu"}  # "auto" became the engine's device
    progress = [m for jid, m in events.events if m["event"] == "progress"]
    assert len(progress) == 5 and all(m["job"] in {j.id for j in jobs} for m in progress)
    assert queue.status(jobs[0].id)["progress"]["done"] == 1
    queue.close()


def test_huge_output_lists_are_left_out_of_results(tmp_path):
    events = Recorder()
    queue = make_queue(tmp_path, events)
    job = queue.submit({"source": "s", "output": "o", "order_file": str(tmp_path / "o.txt"),
                        "outputs": MAX_LISTED_OUTPUTS + 500})
    done = events.wait_terminal(job.id)
    assert done["result"]["outputs"] == [] and done["result"]["outputs_omitted"] == MAX_LISTED_OUTPUTS + 500
    assert done["result"]["pattern"] == "f.#####.exr"
    queue.close()


def test_close_marks_unfinished_jobs_interrupted_in_the_journal(tmp_path):
    events = Recorder()
    queue = make_queue(tmp_path, events)
    slow = queue.submit({"source": "s", "output": "a", "order_file": str(tmp_path / "o.txt"), "delay_s": 0.5})
    waiting = queue.submit({"source": "s", "output": "b", "order_file": str(tmp_path / "o.txt")})
    time.sleep(0.1)
    queue.close()
    journal = read_journal(tmp_path / "state" / "jobs.jsonl")
    assert {j["id"]: j["state"] for j in journal} == {slow.id: "interrupted", waiting.id: "interrupted"}
    with pytest.raises(EngineError, match="shutting down"):
        queue.submit({"source": "s", "output": "c"})
    reopened = make_queue(tmp_path, Recorder())
    assert reopened.status(slow.id)["state"] == "interrupted"
    assert reopened.get(waiting.id).last_event["state"] == "interrupted"
    reopened.close()


def test_corrupt_journal_only_loses_history(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "jobs.json").write_text('{"jobs": [{"id": 1}')
    queue = make_queue(tmp_path, Recorder())
    assert queue.list() == []
    with pytest.raises(UnknownJobError):
        queue.status("missing")
    with pytest.raises(ConfigError):
        queue.submit({"source": "s", "output": "o", "png_bits": 12})
    queue.close()


def test_a_runner_bug_fails_the_job_not_the_worker(tmp_path):
    events = Recorder()
    calls = []

    def buggy(config, on_event, cancel, models):
        calls.append(config.output)
        if config.output == "bad":
            raise ZeroDivisionError("oops")
        return {"outputs": [], "count": 0}

    queue = make_queue(tmp_path, events, runner=buggy)
    bad = queue.submit({"source": "s", "output": "bad"})
    good = queue.submit({"source": "s", "output": "good"})
    failed = events.wait_terminal(bad.id)
    assert failed["event"] == "job_failed" and failed["error"]["code"] == "internal"
    assert "ZeroDivisionError: oops" in failed["error"]["message"]
    assert events.wait_terminal(good.id)["event"] == "job_done" and calls == ["bad", "good"]
    queue.close()


class NamedCache:
    """A stand-in ModelCache that only says which worker (device) made it."""

    def __init__(self, device: str) -> None:
        self.device_name = device

    def stats(self) -> dict:
        return {"device": self.device_name, "loads": {}, "total_loads": 0, "models": [], "memory_bytes": 0}


def cache_runner(config, on_event, cancel, models):
    """Records the device of the worker's cache the job was given (one cache per worker)."""
    return {"outputs": [], "pattern": "", "frames": [0, 0], "count": 0, "backend": "touch",
            "worker": models.device_name, "cache": id(models)}


def test_one_worker_per_gpu_whatever_the_jobs_call_it(tmp_path, monkeypatch):
    """``auto``, ``cuda`` and ``cuda:0`` are one GPU: their jobs share one worker (one ModelCache, one at a
    time on that GPU), ``cuda:1`` gets its own. Before, each spelling got a worker of its own: three
    copies of the models and three jobs at once on GPU 0. A name no device answers here keeps its own
    worker, whose job then fails naming the device."""
    torch = pytest.importorskip("torch")
    from engine.pipeline import device as device_module

    monkeypatch.setattr(device_module, "gpu_build_possible", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(device_module, "_exact", lambda device: device)  # no TF32 flags set on this host
    events = Recorder()
    queue = JobQueue(events, runner=cache_runner, model_cache_factory=NamedCache, state_dir=tmp_path / "state")
    names = ["auto", "cuda", "cuda:0", "cuda:1", "cuda:7"]
    jobs = {name: queue.submit({"source": "s", "output": f"o-{name}", "device": name}) for name in names}
    results = {}
    for name, job in jobs.items():
        done = events.wait_terminal(job.id)
        assert done["event"] == "job_done", done
        results[name] = done["result"]
    assert results["auto"]["worker"] == results["cuda"]["worker"] == results["cuda:0"]["worker"] == "cuda:0"
    assert results["auto"]["cache"] == results["cuda"]["cache"] == results["cuda:0"]["cache"]  # one ModelCache
    assert results["cuda:1"]["worker"] == "cuda:1"
    assert results["cuda:7"]["worker"] == "cuda:7"  # no such GPU: its own worker, the render says why
    assert sorted(queue.model_stats()) == ["cuda:0", "cuda:1", "cuda:7"]
    assert queue.status(jobs["cuda"].id)["device"] == "cuda"  # the job keeps the name it was given
    queue.close()


def test_the_device_worker_loads_models_on_its_device(tmp_path, device_name):
    """A real ModelCache per worker on ``--device``: the job's model is loaded there once, and a job that
    names the same GPU otherwise (``cuda`` / ``cuda:0``) finds it warm in the same worker."""
    torch = pytest.importorskip("torch")
    from engine.service.jobs import pipeline_model_cache, worker_device

    path = tmp_path / "tiny.pt"
    torch.save(torch.nn.Linear(4, 4).state_dict(), path)

    def model_runner(config, on_event, cancel, models):
        def load(p):
            module = torch.nn.Linear(4, 4)
            module.load_state_dict(torch.load(p, weights_only=True))
            return module

        module = models.get("tiny", str(path), load)
        y = module(torch.ones(1, 4, device=models.device))
        return {"outputs": [], "pattern": "", "frames": [0, 0], "count": 0, "backend": "touch",
                "device": str(next(module.parameters()).device), "out_device": y.device.type, "id": id(module)}

    events = Recorder()
    queue = JobQueue(events, runner=model_runner, model_cache_factory=pipeline_model_cache,
                     state_dir=tmp_path / "state", default_device=device_name)
    names = [device_name] if device_name == "cpu" else [device_name, "cuda", "auto"]
    results = []
    for k, name in enumerate(names):
        job = queue.submit({"source": "s", "output": f"o{k}", "device": name})
        done = events.wait_terminal(job.id, timeout_s=60)
        assert done["event"] == "job_done", done
        results.append(done["result"])
    key = worker_device(device_name)
    assert all(r["device"].partition(":")[0] == key.partition(":")[0] == r["out_device"] for r in results)
    assert len({r["id"] for r in results}) == 1  # warm in the one worker
    assert list(queue.model_stats()) == [key] and queue.model_stats()[key]["total_loads"] == 1
    queue.close()
