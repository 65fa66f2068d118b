"""Job queue: one worker thread per device runs jobs in submission order with a warm ModelCache.

The queue knows nothing about sockets: it reports every job event through ``publish(job_id, event)``
and the server fans events out to subscribed clients. Job states survive an engine restart through an
append-only journal (journal.py); jobs that were queued or running when the engine died come back "interrupted" and
can be resubmitted with ``resume`` (the pipeline's resume=True skips frames already written).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import (
    BusyError,
    ConfigError,
    EngineError,
    InternalError,
    JobCancelled,
    JobInterrupted,
    OutputError,
    TransientError,
    UnknownJobError,
    event_in_words,
    result_in_words,
)
from engine.pipeline.config import RenderConfig

from . import protocol
from .journal import Journal

JobRunner = Callable[[RenderConfig, Callable[[dict], None], threading.Event, object], dict]
"""runner(config, on_event, cancel, models) -> result dict; raises EngineError / JobCancelled."""
PreviewRunner = Callable[[RenderConfig, int, str, object], dict]
"""preview_runner(config, frame, out_dir, models) -> {"path", "source_path", "frame"}."""
Publish = Callable[[str, dict], None]

MAX_LISTED_OUTPUTS = 1000
"""Longer ``outputs`` lists are left out of results (``pattern`` + ``frames`` name every file), so a
job_done event stays far below the 1 MiB line limit and the journal stays small."""
JOURNAL_KEEP = 200
"""Finished jobs kept in the journal (oldest dropped first) so it stays small."""
MAX_SETTINGS_BYTES = 32 * 1024
"""A job's settings as JSON may be at most this big (a real job's are ~1 KiB): every job is listed in
``jobs`` replies and journaled, so one huge job must not make those unsendable or unbounded."""
MAX_PATH_CHARS = 4096
"""Longest accepted path in job settings (Linux PATH_MAX)."""
PATH_FIELDS = ("source", "output", "models_dir", "exstyle_image")
MAX_LISTED_OUTPUT_BYTES = 256 * 1024
"""``outputs`` lists longer than this as JSON are left out of results too (long folder names)."""
PREVIEW_TIMEOUT_S = 240.0
"""A preview still rendering after this long (stuck reading its source) is given up, so the device's
preview lane goes on with the next one (clients wait up to 300 s)."""
CANCEL_GRACE_S = 10.0
"""A cancelled job that has not stopped this long after the cancel (stuck in a blocking read the
engine cannot interrupt) is abandoned: the device's worker moves on to the next job."""
ACTIVE_STATES = ("queued", "running")
MAX_ACTIVE_JOBS = 500
"""Queued + running jobs across all clients; more are refused with a 'busy' error."""
PREVIEW_QUEUE_LIMIT = 4
"""Previews waiting per device (each is a full one-frame render); more are refused with 'busy'."""
PREVIEWS_KEPT = 64
"""Preview folders (one per request) kept under <state dir>/previews; older ones are deleted."""
MAX_WARNINGS = 20
"""Warnings kept per job (``warning`` events and the result's list) for the ``jobs`` summary."""


def pipeline_runner(config: RenderConfig, on_event, cancel: threading.Event, models) -> dict:
    """The real job: engine.pipeline.render (imported here so the service starts without torch)."""
    from engine.pipeline.render import render

    return render(config, on_event=on_event, cancel=cancel, models=models).to_dict()


def pipeline_preview(config: RenderConfig, frame: int, out_dir: str, models) -> dict:
    from engine.pipeline.preview import render_preview

    return render_preview(config, frame, out_dir, models=models)


def pipeline_model_cache(device: str):
    """One ModelCache per worker keeps models warm between jobs on that device."""
    from engine.pipeline.modelcache import ModelCache

    return ModelCache(device=device)


def worker_device(name: str) -> str:
    """The device a job's ``device`` lands on, as its worker's key: ``cpu`` or ``cuda:N``.

    ``auto``, ``cuda`` and ``cuda:0`` are one GPU on a one-GPU machine: keyed by the names as given they
    got three workers, each with its own ModelCache (three copies of 1-2 GB of weights) running jobs on
    that GPU at the same time. A name that resolves to no device here (``cuda`` on a CPU machine, a
    torch that cannot load) keeps its own key, and its jobs fail in that worker naming the problem."""
    try:
        from engine.pipeline.device import resolve_device_name

        resolved = resolve_device_name(name)
        if resolved == "cuda":  # torch's "cuda" is its current GPU
            import torch

            resolved = f"cuda:{torch.cuda.current_device()}"
    except Exception:  # DeviceError, ImportError, a broken driver: the job's own run says which
        return name
    return resolved


def compact_result(result: dict) -> dict:
    """The pipeline's result dict, with a very long ``outputs`` list replaced by its length."""
    result = dict(result)
    outputs = result.get("outputs")
    if isinstance(outputs, list) and (len(outputs) > MAX_LISTED_OUTPUTS
                                      or len(json.dumps(outputs)) > MAX_LISTED_OUTPUT_BYTES):
        result["outputs"] = []
        result["outputs_omitted"] = len(outputs)
    return result


def small_fields(fields: dict | None, limit: int = 4096) -> dict | None:
    """A progress/error dict without any value longer than ``limit`` as JSON (a runner's event may
    carry anything; the ``jobs`` summary of hundreds of jobs must stay sendable)."""
    if not isinstance(fields, dict):
        return fields
    return {k: v for k, v in fields.items() if len(json.dumps(v, default=str)) <= limit}


def bounded_settings(settings: dict) -> dict:
    """A job's settings for listings: whole when within MAX_SETTINGS_BYTES (always, for jobs this
    engine accepted), else only the short fields (a journal written before the limit existed)."""
    if len(json.dumps(settings, default=str)) <= MAX_SETTINGS_BYTES:
        return settings
    short = {k: v for k, v in settings.items() if len(json.dumps(v, default=str)) <= MAX_PATH_CHARS + 2}
    return dict(short, settings_trimmed=True)


def check_settings(settings: dict, state_dir: Path | None) -> None:
    """What the service refuses before RenderConfig sees the settings (#9 items 9 and 10): oversized
    settings, paths that are not absolute (the engine's working folder is nobody's folder; clients
    send absolute paths, client.py makes them so), NUL bytes and other unusable paths, and an output
    folder inside the engine's own state folder (its preview pruning would delete it)."""
    if not isinstance(settings, dict):
        raise ConfigError("job settings must be an object", "send a JSON object of render options")
    size = len(json.dumps(settings, default=str))
    if size > MAX_SETTINGS_BYTES:
        raise ConfigError(f"job settings of {size} bytes exceed the {MAX_SETTINGS_BYTES // 1024} KiB limit",
                          "send only the render options (a job's settings are about 1 KiB)")
    for name in PATH_FIELDS:
        value = settings.get(name)
        if (value is None and name == "models_dir") or (not value and name == "exstyle_image"):
            continue  # optional (an empty exemplar image is none, as the CLI and the farm forms send it)
        if not isinstance(value, str):
            continue  # RenderConfig names the missing field or the wrong type
        shown = repr(value[:200])
        if "\x00" in value:
            raise ConfigError(f"{name} {shown} contains a NUL byte", f"send {name} as a plain path")
        if len(value) > MAX_PATH_CHARS:
            raise ConfigError(f"{name} is {len(value)} characters long (limit {MAX_PATH_CHARS})",
                              f"send a shorter {name} path")
        if not os.path.isabs(value):
            raise ConfigError(f"{name} {shown} is a relative path; the engine does not know your working folder",
                              f"send an absolute {name} path (EngineClient.submit makes relative ones absolute)")
    output = settings.get("output")
    if state_dir is not None and isinstance(output, str) and is_inside(output, state_dir):
        raise OutputError(f"output {output[:200]!r} is inside the engine's state folder {state_dir}",
                          "render into a folder of your own (the engine deletes old previews there)")
    if isinstance(output, str) and os.path.isabs(output):
        from engine.pipeline.outputs import system_folder

        system = system_folder(Path(os.path.realpath(output)))
        if system is not None:
            raise OutputError(f"output {output[:200]!r} is or lies in the system folder {system}; the engine "
                              "never writes there", "render into a folder of your own")
        from engine.pipeline.outputs import check_new_folder_names

        target = Path(os.path.abspath(output))
        check_new_folder_names([p for p in [target, *target.parents] if not os.path.lexists(p)])


def check_models_settings(config: RenderConfig) -> None:
    """Settings the models folder decides, refused in the reply to ``submit`` as the CLI refuses them before
    decoding (a mistyped style, a style id past the exemplar codes); the job would find them only once it
    starts."""
    try:
        from engine.pipeline.selection import check_style_up_front
    except ImportError:  # a service without the pipeline's packages: the job says what is missing
        return
    check_style_up_front(config)


def is_inside(path: str | os.PathLike, root: Path) -> bool:
    """Whether ``path`` (symlinks and '..' resolved) is ``root`` or below it."""
    try:
        resolved = Path(path).resolve()
        base = root.resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return resolved == base or base in resolved.parents


class JobAbandoned(Exception):
    """A cancelled job did not stop within CANCEL_GRACE_S; its thread is left behind."""


def run_abandonable(call: Callable[[], dict], cancel: threading.Event, grace_s: float, name: str) -> dict:
    """``call()`` on a thread of its own; its result or exception. Once ``cancel`` is set, the call
    gets ``grace_s`` to end, else JobAbandoned: a read blocked on a stalled source (a FIFO, a hung
    network share) can then never wedge the device's worker."""
    box: dict = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the worker thread below
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    while not finished.wait(0.25):
        if cancel.is_set():
            if not finished.wait(grace_s):
                raise JobAbandoned(f"still running {grace_s:g} s after the cancel")
            break
    if "error" in box:
        raise box["error"]
    return box["result"]


@dataclass
class Job:
    """Mutable record of one submitted job (the settings themselves are a frozen RenderConfig)."""

    id: str
    settings: dict
    device: str
    state: str = "queued"
    created_s: float = field(default_factory=time.time)
    progress: dict | None = None
    result: dict | None = None
    error: dict | None = None
    last_event: dict | None = None
    owner: int | None = None
    """client_id of the connection that submitted (or resumed) it; not journaled (connections die
    with the engine). The engine cancels a dead owner's jobs once its --parent-pid is gone."""
    warnings: list[str] = field(default_factory=list)
    warning_settings: list[dict] = field(default_factory=list)
    """The job settings its ``warnings`` name (as the protocol's fields), for clients to name their controls."""
    backend_used: str | None = None
    seq: int = 0
    """Order of submission (a resumed job counts as new); the journal's records sort by it."""
    abandoned: bool = False
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict:
        return {"job": self.id, "state": self.state, "device": self.device, "created_s": self.created_s,
                "progress": small_fields(self.progress), "result": self.result, "error": small_fields(self.error),
                "settings": bounded_settings(self.settings), "warnings": self.warnings[:MAX_WARNINGS],
                **self._warning_settings()}

    def _warning_settings(self) -> dict:
        result = self.result if isinstance(self.result, dict) else {}
        settings = self.warning_settings or [s for s in result.get("warning_settings") or [] if isinstance(s, dict)]
        return {"warning_settings": settings[:MAX_WARNINGS * 4]} if settings else {}

    def summary(self) -> dict:
        """What the ``jobs`` reply says about a job, whoever submitted it (see docs/PROTOCOL.md)."""
        result = self.result if isinstance(self.result, dict) else {}
        warnings = list(self.warnings) or [str(w) for w in result.get("warnings") or []]
        return {"job": self.id, "state": self.state, "source": self.settings.get("source"),
                "output": self.settings.get("output"), "backend_asked": self.settings.get("backend"),
                "backend_used": self.backend_used or result.get("backend"), "device": self.device,
                "progress": small_fields(self.progress), "settings": bounded_settings(self.settings),
                "warnings": warnings[:MAX_WARNINGS], **self._warning_settings(), "error": small_fields(self.error),
                "created_s": self.created_s}

    def to_journal(self) -> dict:
        return {"id": self.id, "settings": self.settings, "device": self.device, "state": self.state,
                "created_s": self.created_s, "progress": self.progress, "result": self.result,
                "error": self.error, "warnings": self.warnings[:MAX_WARNINGS], **self._warning_settings(),
                "backend_used": self.backend_used, "seq": self.seq}

    @classmethod
    def from_journal(cls, data: dict) -> Job:
        state = data["state"]
        job = cls(id=str(data["id"]), settings=dict(data["settings"]), device=str(data.get("device", "auto")),
                  state="interrupted" if state in ACTIVE_STATES else state,
                  created_s=float(data.get("created_s", 0.0)), progress=data.get("progress"),
                  result=data.get("result"), error=data.get("error"),
                  warnings=[str(w) for w in data.get("warnings") or []][:MAX_WARNINGS],
                  warning_settings=[s for s in data.get("warning_settings") or [] if isinstance(s, dict)],
                  backend_used=data.get("backend_used"), seq=int(data.get("seq") or 0))
        if job.state == "interrupted":
            job.last_event = protocol.event("job_failed", job.id, state="interrupted",
                                            error=interrupted_error(job.id).to_dict())
        return job


def interrupted_error(job_id: str) -> JobInterrupted:
    """Why a journaled job is ``interrupted``, and the exact action that continues it as its fix."""
    return JobInterrupted("the engine stopped before this job finished",
                          f"continue it with the protocol's 'resume' request for job {job_id}: "
                          f"EngineClient.resume({job_id!r}), or Resume in the Qt panel")


def interrupted_message(job_id: str) -> str:
    """The whole line (problem and fix), as older clients show it."""
    return interrupted_error(job_id).user_message


def pipeline_missing(what: str, exc: ImportError) -> EngineError:
    """The engine started without the packages its pipeline imports (torch, OpenImageIO, ...)."""
    return EngineError(f"the {what} pipeline is not installed ({exc})",
                       "install the engine's packages into the Python that runs it (scripts/setup_env.sh)")


class _Worker:
    """One thread + one FIFO + one model cache for one device."""

    def __init__(self, device: str, run_job: Callable[[_Worker, Job], None],
                 make_models: Callable[[str], object] | None) -> None:
        self.device = device
        self.fifo: queue.Queue[Job | None] = queue.Queue()
        self.on_crash: Callable[[Job, Exception], None] = lambda job, exc: None
        self._make_models = make_models
        self._models = None
        self._models_lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, args=(run_job,), name=f"engine-worker-{device}",
                                       daemon=True)
        self.thread.start()

    def models(self):
        """The worker's ModelCache, created on first use (None when the pipeline has none)."""
        with self._models_lock:
            if self._models is None and self._make_models is not None:
                try:
                    self._models = self._make_models(self.device)
                except ImportError:
                    self._make_models = None
            return self._models

    def stats(self) -> dict:
        models = self._models
        if models is None or not hasattr(models, "stats"):
            return {"device": self.device, "loads": {}, "total_loads": 0, "models": [], "memory_bytes": 0}
        return models.stats()

    def _loop(self, run_job) -> None:
        """Nothing a job does may end this thread: a dead worker would stall its device's queue for good."""
        while True:
            job = self.fifo.get()
            if job is None:
                return
            try:
                run_job(self, job)
            except Exception as exc:  # a bug outside the runner (journal, publish): fail the job, go on
                try:
                    self.on_crash(job, exc)
                except Exception:
                    pass


class _PreviewLane:
    """One thread + one bounded FIFO per device: previews never pile up as unbounded full renders,
    and they never wait behind the device's long jobs (they share its warm ModelCache)."""

    def __init__(self, device: str, run: Callable[[tuple], None]) -> None:
        self.fifo: queue.Queue[tuple | None] = queue.Queue(maxsize=PREVIEW_QUEUE_LIMIT)
        self.thread = threading.Thread(target=self._loop, args=(run,), name=f"engine-preview-{device}",
                                       daemon=True)
        self.thread.start()

    def offer(self, item: tuple) -> None:
        try:
            self.fifo.put_nowait(item)
        except queue.Full:
            raise BusyError(f"{PREVIEW_QUEUE_LIMIT} previews are already waiting on this device",
                            "wait for them to finish, then ask again") from None

    def stop(self) -> None:
        try:
            self.fifo.put_nowait(None)
        except queue.Full:
            pass  # daemon thread; it ends with the process

    def _loop(self, run) -> None:
        while True:
            item = self.fifo.get()
            if item is None:
                return
            run(item)


class JobQueue:
    """Accepts jobs, runs them per device in submission order, journals their states."""

    def __init__(self, publish: Publish, *, runner: JobRunner | None = None,
                 preview_runner: PreviewRunner | None = None,
                 model_cache_factory: Callable[[str], object] | None = pipeline_model_cache,
                 state_dir: str | os.PathLike | None = None, default_device: str = "auto",
                 models_dir: str | None = None) -> None:
        self._publish = publish
        self._runner = runner or pipeline_runner
        self._preview_runner = preview_runner or pipeline_preview
        self._make_models = model_cache_factory
        self._default_device = default_device
        self._models_dir = models_dir
        self._state_dir = Path(state_dir) if state_dir else None
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._workers: dict[str, _Worker] = {}
        self._device_keys: dict[str, str] = {}
        self._preview_lanes: dict[str, _PreviewLane] = {}
        self.max_active_jobs = MAX_ACTIVE_JOBS
        self.cancel_grace_s = CANCEL_GRACE_S
        self.preview_timeout_s = PREVIEW_TIMEOUT_S
        self._previews_in_flight = 0
        self._closing = False
        self._journal = Journal(self._state_dir) if self._state_dir else None
        self._seq = itertools.count(1)
        self._load_journal()

    @property
    def models_dir(self) -> str | None:
        """The engine's --models folder (jobs without their own ``models_dir`` use it)."""
        return self._models_dir

    # --- requests -------------------------------------------------------------------------

    def submit(self, settings: dict, on_created: Callable[[Job], None] | None = None,
               job_id: str | None = None, owner: int | None = None) -> Job:
        """Validate settings (ConfigError names the bad field) and queue the job on its device."""
        config = self._config_for(settings)
        check_models_settings(config)
        with self._lock:
            return self._enqueue(config, job_id or uuid.uuid4().hex[:12], on_created, owner)

    def resume(self, job_id: str, on_created: Callable[[Job], None] | None = None,
               owner: int | None = None) -> Job:
        """Requeue an interrupted/failed/cancelled job under the same id with resume=True.

        The settings are validated BEFORE the old record is replaced, so a resume that fails (bad
        settings, engine shutting down, queue full) leaves the job exactly as it was."""
        old = self._resumable(job_id)
        config = self._config_for(dict(old.settings, resume=True))
        check_models_settings(config)  # reads the models folder: not under the lock every worker takes
        with self._lock:
            if self._resumable(job_id) is not old:  # resumed (or replaced) by another client meanwhile
                raise ConfigError(f"job {job_id} was resumed by another request just now", "subscribe to it")
            return self._enqueue(config, job_id, on_created, owner)

    def _resumable(self, job_id: str) -> Job:
        with self._lock:
            old = self.get(job_id)
            if old.state in ACTIVE_STATES:
                raise ConfigError(f"job {job_id} is still {old.state}", "wait for it to finish or cancel it")
            if old.state == "done":
                raise ConfigError(f"job {job_id} is already done; there is nothing to resume",
                                  "submit it again to render it anew")
            return old

    def _enqueue(self, config: RenderConfig, job_id: str, on_created: Callable[[Job], None] | None,
                 owner: int | None = None) -> Job:
        """Under the lock: refuse when closing or full, then record (replacing any old record) and queue."""
        if self._closing:
            raise EngineError("the engine is shutting down", "start it again and resubmit")
        active = sum(1 for j in self._jobs.values() if j.state in ACTIVE_STATES)
        if active >= self.max_active_jobs:
            raise BusyError(f"{active} jobs are already queued or running (limit {self.max_active_jobs})",
                            "wait for some to finish or cancel them, then submit again")
        job = Job(id=job_id, settings=config.to_dict(), device=config.device, owner=owner, seq=next(self._seq))
        self._jobs.pop(job_id, None)  # a resumed job moves to the end (newest)
        self._jobs[job.id] = job
        self._prune()
        self._record(job)
        if on_created is not None:
            on_created(job)  # subscribe before the worker can emit anything
        self._worker_for(config.device).fifo.put(job)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            shown = repr(job_id[:40]) + (f" ({len(job_id)} characters)" if len(job_id) > 40 else "")
            raise UnknownJobError(f"no job {shown}", "list jobs with the 'jobs' request")  # ids are 12
        return job

    def status(self, job_id: str) -> dict:
        job = self.get(job_id)
        worker = self._workers.get(self._device_key(job.device))
        return dict(job.to_dict(), model_cache=worker.stats() if worker else None)

    def list(self) -> list[dict]:
        """Every job's owner-independent summary (any client sees the engine's whole queue)."""
        with self._lock:
            return [job.summary() for job in self._jobs.values()]

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.state in ACTIVE_STATES)

    def busy(self) -> bool:
        """Whether any job is queued or running or any preview is waiting or rendering."""
        with self._lock:
            return self._previews_in_flight > 0 or any(j.state in ACTIVE_STATES for j in self._jobs.values())

    def cancel_orphans(self, live_owners: set[int]) -> list[str]:
        """Cancel the queued/running jobs whose submitting connection is gone; returns their ids."""
        with self._lock:
            orphans = [j.id for j in self._jobs.values()
                       if j.state in ACTIVE_STATES and not j.cancel.is_set() and j.owner not in live_owners]
        for job_id in orphans:
            self.cancel(job_id)
        return orphans

    def cancel(self, job_id: str) -> str:
        """Queued -> cancelled now; running -> the worker stops between batches; finished -> unchanged."""
        job = self.get(job_id)
        with self._lock:
            job.cancel.set()
            if job.state != "queued":
                return job.state
            job.state = "cancelled"
            self._record(job)
        self._emit(job, protocol.event("job_cancelled", job.id, state="cancelled"))
        return job.state

    def preview(self, settings: dict, frame: int, out_root: str | os.PathLike,
                on_done: Callable[[dict | None, BaseException | None], None]) -> None:
        """Queue one preview on its device's preview lane; ``on_done(result, error)`` is called there.

        Validation and 'busy' (lane full) raise here, at once. Each preview writes into its own new
        folder under ``out_root`` (the engine's <state dir>/previews), so concurrent previews never
        overwrite each other's files. The lane uses the device worker's warm models: sharing them
        keeps one copy of 1-2 GB of weights (inference never mutates them; ModelCache loads under a
        lock)."""
        config = self._config_for(settings)
        with self._lock:
            if self._closing:
                raise EngineError("the engine is shutting down", "start it again")
            worker = self._worker_for(config.device)
            lane = self._preview_lanes.get(worker.device)
            if lane is None:
                lane = self._preview_lanes[worker.device] = _PreviewLane(worker.device, self._run_preview)
            self._previews_in_flight += 1
        try:
            lane.offer((config, frame, Path(out_root), worker, on_done))
        except BaseException:
            self._preview_finished()
            raise

    def _preview_finished(self) -> None:
        with self._lock:
            self._previews_in_flight -= 1

    def _run_preview(self, item: tuple) -> None:
        try:
            self._render_preview(*item)
        finally:
            self._preview_finished()

    def _render_preview(self, config, frame, out_root, worker, on_done) -> None:
        try:
            out_dir = self._new_preview_folder(out_root)
            models = worker.models()
            too_long = threading.Event()
            timer = threading.Timer(self.preview_timeout_s, too_long.set)
            timer.daemon = True
            timer.start()
            try:
                result = run_abandonable(lambda: self._preview_runner(config, frame, out_dir, models), too_long,
                                         0.0, "engine-preview-render")
            except JobAbandoned:
                raise TransientError(f"the preview of frame {frame} did not finish within "
                                     f"{self.preview_timeout_s:g} s (is the source readable?)",
                                     "check the source, then ask again") from None
            finally:
                timer.cancel()
        except BaseException as exc:  # reported to the requester; the lane thread goes on
            error = exc
            try:
                on_done(None, error)
            except Exception:
                pass
            return
        try:
            on_done(result, None)
        except Exception:
            pass

    @staticmethod
    def _new_preview_folder(out_root: Path) -> str:
        """A new folder for one preview under ``out_root``; OutputError when that cannot be (a file in
        the way was an 'internal error: FileExistsError', as if the engine had a bug)."""
        try:
            out_root.mkdir(parents=True, exist_ok=True)
            if out_root.is_symlink():  # pruning through it would delete someone's folders
                raise OutputError(f"the previews folder {out_root} is a link; the engine writes and prunes "
                                  "previews only in a folder of its own", f"remove the link {out_root} "
                                  "(the engine creates the folder again)")
            prune_preview_folders(out_root, PREVIEWS_KEPT - 1)
            return tempfile.mkdtemp(prefix=f"{int(time.time())}-", dir=str(out_root))
        except OSError as exc:
            from engine.failures import as_transient

            transient = as_transient(exc)  # a full disk: ask again later, not "fix your request"
            if transient is not None:
                raise transient from None
            raise OutputError(f"cannot make a preview folder in {out_root} ({exc.strerror or exc})",
                              "leave out_dir out, or move away the file in its place") from None

    def model_stats(self) -> dict:
        """{device: ModelCache.stats()} for the render workers."""
        with self._lock:
            return {device: worker.stats() for device, worker in self._workers.items()}

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop accepting jobs, stop the running ones (they become 'interrupted'), join workers."""
        with self._lock:
            self._closing = True
            for job in self._jobs.values():
                if job.state in ACTIVE_STATES:
                    job.cancel.set()
            workers = list(self._workers.values())
            for worker in workers:
                worker.fifo.put(None)
            for lane in self._preview_lanes.values():
                lane.stop()
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for job in self._jobs.values():
                if job.state in ACTIVE_STATES:
                    job.state = "interrupted"
                    self._record(job)

    # --- worker side ----------------------------------------------------------------------

    def _run(self, worker: _Worker, job: Job) -> None:
        with self._lock:
            if job.state != "queued":  # cancelled while waiting
                return
            if self._closing:
                job.state = "interrupted"
                self._record(job)
                return
            job.state = "running"
            self._record(job)

        def on_event(data: dict) -> None:
            if job.abandoned:  # the worker has moved on: stop this runner at its next event
                raise JobCancelled("job cancelled")
            kind = str(data.get("event", "progress"))
            data = event_in_words(data)  # the settings a warning names, as the protocol's fields
            fields = {k: v for k, v in data.items() if k not in ("event", "job")}
            message = protocol.event(kind, job.id, **fields)
            if kind == "progress":
                job.progress = fields
                # the resolved backend, known once the job has opened (docs/PROTOCOL.md)
                if isinstance(fields.get("backend"), str) and len(fields["backend"]) <= 64:
                    job.backend_used = fields["backend"]
                job.last_event = message
            elif kind == "warning" and len(job.warnings) < MAX_WARNINGS:
                job.warnings.append(str(fields.get("message", ""))[:1000])
                job.warning_settings += [s for s in fields.get("settings") or [] if s not in job.warning_settings]
            self._publish(job.id, message)

        try:
            config = RenderConfig.from_dict(job.settings)
            models = worker.models()
            result = run_abandonable(lambda: self._runner(config, on_event, job.cancel, models), job.cancel,
                                     self.cancel_grace_s, f"engine-job-{job.id}")
            state = "done"
            job.result = compact_result(result_in_words(result) if isinstance(result.get("warnings"), list)
                                        else result)
            if isinstance(job.result.get("backend"), str):
                job.backend_used = job.result["backend"]
            message = protocol.event("job_done", job.id, state=state, result=job.result)
        except JobCancelled:
            state = "interrupted" if self._closing else "cancelled"
            message = protocol.event("job_cancelled", job.id, state=state)
        except JobAbandoned:
            job.abandoned = True
            state = "interrupted" if self._closing else "cancelled"
            job.warnings.append(f"the job did not stop within {self.cancel_grace_s:g} s of the cancel (blocked "
                                "reading its source?); the engine went on without it")
            message = protocol.event("job_cancelled", job.id, state=state, abandoned=True,
                                     message=job.warnings[-1])
        except EngineError as exc:
            state = "failed"
            job.error = exc.to_dict()
            message = protocol.event("job_failed", job.id, state=state, error=job.error)
        except ImportError as exc:
            state = "failed"
            job.error = pipeline_missing("render", exc).to_dict()
            message = protocol.event("job_failed", job.id, state=state, error=job.error)
        except Exception as exc:
            state = "failed"
            job.error = InternalError.of(exc).to_dict()
            message = protocol.event("job_failed", job.id, state=state, error=job.error)
        with self._lock:
            job.state = state
            self._record(job)
        self._emit(job, message)

    def _emit(self, job: Job, message: dict) -> None:
        job.last_event = message
        self._publish(job.id, message)

    def _config_for(self, settings: dict) -> RenderConfig:
        """Settings -> RenderConfig with the engine's defaults for device and models folder."""
        config = RenderConfig.from_dict(settings)
        changes = {}
        if config.device == "auto" and self._default_device != "auto":
            changes["device"] = self._default_device
        if config.models_dir is None and self._models_dir:
            changes["models_dir"] = self._models_dir
        return dataclasses.replace(config, **changes) if changes else config

    def _device_key(self, device: str) -> str:
        """``worker_device(device)``, asked once per name (the first GPU name may import torch)."""
        key = self._device_keys.get(device)
        if key is None:
            key = self._device_keys[device] = worker_device(device)
        return key

    def _worker_for(self, device: str) -> _Worker:
        """The one worker of the device ``device`` lands on (``worker_device``): one per GPU."""
        device = self._device_key(device)
        worker = self._workers.get(device)
        if worker is None:
            worker = self._workers[device] = _Worker(device, self._run, self._make_models)
            worker.on_crash = self._crashed
        return worker

    def _crashed(self, job: Job, exc: Exception) -> None:
        """The worker caught a bug outside the runner: the job fails, visibly; the worker lives on."""
        with self._lock:
            job.state = "failed"
            job.error = InternalError.of(exc).to_dict()
            try:
                self._record(job)
            except Exception:
                pass
        self._emit(job, protocol.event("job_failed", job.id, state="failed", error=job.error))

    def _prune(self) -> None:
        """Keep at most JOURNAL_KEEP finished jobs in memory too (oldest first), like the journal."""
        finished = [j.id for j in self._jobs.values() if j.state not in ACTIVE_STATES]
        for job_id in finished[: max(0, len(finished) - JOURNAL_KEEP)]:
            del self._jobs[job_id]

    # --- journal ----------------------------------------------------------------------------

    @property
    def journal_path(self) -> Path | None:
        return self._journal.path if self._journal else None

    def _load_journal(self) -> None:
        if self._journal is None:
            return
        jobs = []
        for entry in self._journal.load():
            try:
                jobs.append(Job.from_journal(entry))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a damaged record only loses that job's history
        jobs.sort(key=lambda job: job.seq)
        self._jobs = {job.id: job for job in jobs}
        self._seq = itertools.count(max((job.seq for job in jobs), default=0) + 1)
        self._prune()
        try:
            self._compact()  # the engine's first write to its state folder, which it makes here
        except OSError as exc:
            raise state_folder_error(self._journal.path.parent, exc) from None

    def _record(self, job: Job) -> None:
        """Append the job's new state (called under the lock on every state change); compact once
        the file is mostly stale records."""
        if self._journal is None:
            return
        self._journal.append(job.to_journal())
        if self._journal.needs_compaction(len(self._jobs)):
            self._compact()

    def _compact(self) -> None:
        if self._journal is not None:
            self._journal.rewrite([job.to_journal() for job in self._jobs.values()])


def state_folder_error(folder: Path, exc: OSError) -> EngineError:
    """The error for a state folder the engine cannot write at start-up (a HOME it may not write, a file in
    the way): the folder and the fix, not an internal error; a full disk is a retry (exit 75)."""
    from engine.failures import as_transient

    transient = as_transient(exc)
    if transient is not None:
        return transient
    return ConfigError(f"the engine's state folder {folder} cannot be written ({exc.strerror or exc})",
                       "set VTOONIFY_STATE_DIR to a folder this user may write (the engine keeps its job journal "
                       "and previews there), or fix the permissions of that folder or the ones above it")


PREVIEW_FOLDER = re.compile(r"\d+-[A-Za-z0-9_]+")
"""Names of the folders ``_render_preview`` makes (``tempfile.mkdtemp(prefix="<unix time>-")``)."""


def prune_preview_folders(root: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest preview folders (previews are throwaway; the disk is not)."""
    try:  # only the engine's own folders (mkdtemp "<unix time>-<random>"), never a link or anyone else's
        folders = sorted((p for p in root.iterdir() if PREVIEW_FOLDER.fullmatch(p.name) and p.is_dir()
                          and not p.is_symlink()), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for folder in folders[: max(0, len(folders) - keep)]:
        shutil.rmtree(folder, ignore_errors=True)
