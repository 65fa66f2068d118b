"""What both training stages share: every check and load before the first step, device and DDP,
per-step random generators, logging and checkpoint writing.

Order matters for bad input: :func:`open_session` checks the output folder, loads and checks every
teacher file and builds the student, raising one typed error on the first problem; nothing is written
until the stage calls :meth:`Session.begin`, after its own checks (resume file, pre-trained encoder,
perceptual weights) passed too.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import ConfigError, DeviceError, DiskFullError, EngineError, JobCancelled, OutputError
from engine.models.inventory import ENCODER_FILE
from engine.models.precision import resolve_precision
from engine.progress import StepBar, _clock
from engine.train.budget import check_batch_fits
from engine.train.checkpoint import (
    OutputLayout,
    check_auto_resume_done,
    check_family_exstyles,
    check_replaceable,
    check_resume_file,
    install_companions,
    is_training_checkpoint,
    latest_checkpoint,
    numbered,
    output_layout,
    run_checkpoint_files,
    save_stop_checkpoint,
    save_training_checkpoint,
)
from engine.train.files import check_training_files, named_by_flag
from engine.train.options import TrainOptions
from engine.train.pairs import PairGenerator
from engine.train.student import build_student, make_ema, trained_parameters
from engine.train.teachers import TeacherSet, load_teachers

ADAM_BETAS = (0.9, 0.99)
"""Official optimiser settings (both stages, generator and discriminator)."""


# --- device and processes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Processes:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU when there is one, else CPU; an unusable choice -> DeviceError."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}", "use --device auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise DeviceError(f"device {name} is not available here", "use --device cpu, or check the GPU driver")
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"device type {device.type!r} is not supported for training", "use cpu or cuda")
    return device


def init_processes(device_name: str) -> tuple[Processes, torch.device]:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1`` (NCCL on GPU, Gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes(), resolve_device(device_name)
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    import torch.distributed as dist

    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Processes(rank, world, local_rank), device


def wrap_ddp(module: nn.Module, processes: Processes, device: torch.device) -> nn.Module:
    """DDP wrapper in a multi-process job (every trained parameter is used in each forward)."""
    if not processes.distributed:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, output_device=ids[0] if ids else None)


EXIT_WAIT_S = 600.0
"""How long a process that finished waits for the others at the end (rank 0 may still be writing a
large final checkpoint to slow storage) before it leaves without them."""


def raised_everywhere(error: BaseException) -> BaseException:
    """Mark an error every process raises at the same point (an agreed stop, a divergence seen in the
    averaged losses, rank 0's error passed on), so :func:`close_processes` waits for the others."""
    error.every_process = True
    return error


def close_processes(together: bool = True, wait_s: float = EXIT_WAIT_S) -> None:
    """Leave the process group (a ``torchrun`` job) when this process joined one.

    Why the barrier: a process that destroyed its group and exited while another was still finishing
    (rank 0 writing the final checkpoint) could make that one abort at exit under Gloo ("terminate
    called without an active exception", exit code 1 after a good run). So when every process reached the
    end ``together`` (finished, or an error all of them raised), each waits for the others, at most
    ``wait_s``, then leaves. A process that failed alone (``together=False``) does not wait: the others
    are in a collective it will never join; its exit breaks their connections and torchrun stops them.
    A wait that runs out is said and the group is left as it is (destroying it would block on the
    barrier still pending).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if together and dist.get_world_size() > 1:
        try:
            dist.barrier(async_op=True).wait(timeout=timedelta(seconds=wait_s))
        except RuntimeError as exc:
            print(f"warning: process {dist.get_rank()}: the other processes did not finish within {wait_s:g} s "
                  f"({str(exc).splitlines()[0][:160]}); leaving without them", file=sys.stderr, flush=True)
            return
    dist.destroy_process_group()


def mean_over_processes(
    values: Mapping[str, torch.Tensor | float], processes: Processes, device: torch.device
) -> dict[str, float]:
    """Loss values as floats (in the given order), averaged over all processes (what rank 0 logs). A plain
    number (the degree ``d_s`` each process drew) averages to ``logged_mean``'s 6 significant digits."""
    names = list(values)
    numbers = torch.tensor([float(values[n]) for n in names], dtype=torch.float64)
    if not processes.distributed:
        return dict(zip(names, numbers.tolist()))
    import torch.distributed as dist

    numbers = numbers.to(device)
    dist.all_reduce(numbers)
    sums = numbers.cpu().tolist()
    return {n: logged_mean(total, processes.world_size) if not isinstance(values[n], torch.Tensor)
            else total / processes.world_size for n, total in zip(names, sums)}


def logged_mean(total: float, processes: int) -> float:
    """``total / processes`` to 6 significant digits: the drawn degrees are exact decimals (0.2, 0.4), but
    their float64 mean carries summing noise (0.30000000000000004) that the JSON log would print."""
    return float(f"{total / processes:.6g}")


def broadcast_text(text: str, device: torch.device, limit: int = 8192) -> str:
    """Rank 0's ``text`` on every process, as bytes in a tensor (no pickle between processes)."""
    import torch.distributed as dist

    data = text.encode()[:limit]
    buffer = torch.zeros(limit + 1, dtype=torch.int32, device=device)
    buffer[0] = len(data)
    buffer[1:len(data) + 1] = torch.tensor(list(data), dtype=torch.int32)
    dist.broadcast(buffer, src=0)
    size = int(buffer[0])
    return bytes(buffer[1:size + 1].cpu().tolist()).decode(errors="replace")


# --- logging ----------------------------------------------------------------------------------


class TrainLog:
    """Progress bar on stderr and, with ``--json-log``, one JSON object per logged iteration on stdout."""

    def __init__(self, options: TrainOptions, start: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.json = options.json_log
        self.total = options.iter
        self.bar = StepBar(options.iter, start=start) if enabled and options.progress else None
        self.warned: set[str] = set()
        self._start, self._t0 = start, time.monotonic()

    def restart(self, start: int) -> None:
        """Count the rate from ``start`` (a resumed run) and from now (loading is not training time)."""
        self._start, self._t0 = start, time.monotonic()
        if self.bar is not None:
            self.bar = StepBar(self.bar.total, start=start)

    def rate(self, done: int) -> tuple[float, float | None]:
        """(iterations per second, seconds left) since :meth:`restart`; seconds left is None before a step."""
        rate = (done - self._start) / max(time.monotonic() - self._t0, 1e-9)
        return rate, (max(self.total - done, 0) / rate if rate > 0 else None)

    def pace(self, done: int) -> str:
        """``0.52 it/s  ETA 57:40`` since :meth:`restart` (what the bar shows, for text-line logs)."""
        rate, left = self.rate(done)
        return f"{rate:.2f} it/s  ETA {_clock(left) if left is not None else '--:--'}"

    def warn(self, message: str) -> None:
        if not self.enabled or message in self.warned:
            return
        self.warned.add(message)
        if self.json:
            self._emit({"event": "warning", "message": message})
        print(f"warning: {message}", file=sys.stderr, flush=True)

    def progress(self, done: int, losses: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(done, "  ".join(f"{k} {v:.4g}" for k, v in losses.items()))

    def record(self, record: Mapping[str, Any]) -> None:
        """A logged iteration: JSON on stdout with ``--json-log`` (``it_per_s`` and ``eta_s`` added); else,
        without a bar (``--no-progress``, farm logs), one text line on stderr, so a log always shows the run
        moving."""
        if not self.enabled:
            return
        if self.json:  # the rate and ETA too: a farm monitor reading the lines can say when the run ends
            rate, left = self.rate(int(record.get("iter", 0)))
            self._emit({**record, "it_per_s": float(f"{rate:.4g}"), "eta_s": round(left) if left is not None else None})
        elif self.bar is None:
            values = "  ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("stage", "iter"))
            print(f"{record.get('stage', '')} iteration {record.get('iter')}/{self.total}  {values}  "
                  f"{self.pace(int(record.get('iter', 0)))}", file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    @staticmethod
    def _emit(obj: Mapping[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


# --- the session ------------------------------------------------------------------------------


@dataclass
class Session:
    """One stage's loaded state. ``student`` is the bare module (saved, EMA source); ``model`` is what
    the loop calls (the DDP wrapper in a multi-process job, else ``student``)."""

    options: TrainOptions
    processes: Processes
    device: torch.device
    layout: OutputLayout
    teachers: TeacherSet
    pairs: PairGenerator
    student: nn.Module
    model: nn.Module
    ema: nn.Module
    g_optim: torch.optim.Optimizer
    log: TrainLog
    start_iter: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event | None = None
    """Set by Ctrl-C / SIGTERM (``engine.train.cli``): stop after the current iteration, save, exit 130."""
    precision: str = "fp32"
    """Resolved ``--precision``: 'fp32' or 'bf16'."""

    @property
    def is_d(self) -> bool:
        return self.options.backbone == "dualstylegan"

    def autocast(self):
        """Context for forward passes: bf16 autocast with ``--precision bf16`` (the parameters, their
        gradients and the Adam states stay float32: the master weights), else a no-op."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def step_generator(self, iteration: int) -> torch.Generator:
        """Every random choice of step ``iteration`` comes from here: a resumed run repeats it exactly."""
        key = (self.options.seed * 1_000_003 + iteration * 7_919 + self.processes.rank * 104_729) % (2**62)
        return torch.Generator().manual_seed(key)

    def begin(self) -> None:
        """All checks passed: create ``OUT/NAME`` and put the renderer's companion files in place."""
        if not self.processes.main:
            return
        self.layout.create()
        o = self.options
        missing = install_companions(
            self.layout,
            style_encoder=o.style_encoder_path if o.stage == "full" else None,
            face_parser=o.faceparsing_path if o.stage == "full" else None,
            exstyles=o.exstyle_path if self.is_d else None,
        )
        if o.stage == "full" and missing:
            self.log.warn(f"{', '.join(missing)} missing: copy it there before rendering with --models {o.out}")

    def checkpoint_data(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """What every checkpoint holds besides the stage's state: ``precision`` is the one that ran
        ('fp32'/'bf16'); ``options['precision']`` keeps what was asked for ('auto' included)."""
        return {"stage": self.options.stage, "backbone": self.options.backbone, "precision": self.precision,
                "options": self.options.to_dict(), **payload}

    def save(self, path: Path, payload: Mapping[str, Any]) -> None:
        if self.processes.main:
            save_training_checkpoint(path, self.checkpoint_data(payload))

    @contextlib.contextmanager
    def resume_hint_on_failure(self, final: Path):
        """A save that fails (disk full, folder made read-only, a file put in the way mid-run) ends its
        fix with how to continue, naming the newest save: the generic "run again with --resume" left a farm
        TD to find the flag's value and to wonder whether earlier saves were damaged (they are not: each
        is written to a temp name and renamed)."""
        try:
            yield
        except EngineError as exc:
            found = latest_checkpoint(final, self.options.stage, self.options.backbone)
            then = (f"continue with the same command plus --resume auto (it continues from {found[0].name}, "
                    f"iteration {found[1]}, the newest save, intact)" if found else
                    "run the same command again (no checkpoint of this run was saved yet)")
            first = "free space (or raise the quota)" if isinstance(exc, DiskFullError) else exc.fix
            exc.fix = f"{first}, then {then}" if first else then
            raise

    def save_on_stop(self, path: Path, payload: Mapping[str, Any]) -> tuple[Path, bool]:
        """The stop checkpoint (replaces nothing, see :func:`save_stop_checkpoint`); returns (its path,
        whether it was written), as rank 0 found them, on every process (each names it in its message)."""
        kept, written = (save_stop_checkpoint(path, self.checkpoint_data(payload)) if self.processes.main
                         else (path, True))
        if self.processes.distributed:  # one text: "1" or "0" for written, then the path
            text = broadcast_text(f"{int(written)}{kept}", self.device)
            kept, written = Path(text[1:]), text[:1] == "1"
        return kept, written

    def save_path(self, done: int, final: Path) -> Path | None:
        """Where to save after ``done`` iterations: the final name at the end, numbered every --save-every."""
        if done == self.options.iter:
            return final
        if self.options.save_every and done % self.options.save_every == 0:
            return numbered(final, done)
        return None

    def should_log(self, done: int) -> bool:
        return done == self.start_iter + 1 or done % self.options.log_every == 0 or done == self.options.iter

    def continue_from(self, ckpt: Mapping[str, Any], path) -> None:
        """Resume bookkeeping both stages share: name changed recipe options, start after the saved
        iteration, and refuse a checkpoint that already reached --iter."""
        warn_changed_options(self, ckpt.get("options") or {}, path)
        self.precision = resumed_precision(self, ckpt, path)
        self.start_iter = int(ckpt["iter"])
        if self.start_iter >= self.options.iter:
            raise ConfigError(
                f"{path} already holds {self.start_iter} iterations (--iter is {self.options.iter})",
                "raise --iter to continue training",
            )

    def stop_requested(self) -> bool:
        """True when any process was asked to stop (all processes agree, so none waits on the others)."""
        asked = self.cancel is not None and self.cancel.is_set()
        if not self.processes.distributed:
            return asked
        import torch.distributed as dist

        flag = torch.tensor([float(asked)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    @contextlib.contextmanager
    def stop_within_a_layer(self):
        """A stop asked mid-iteration abandons it before the next layer runs on this thread: a full-size
        iteration takes seconds on a CPU, and the stop used to wait for its end. Nothing of the abandoned
        iteration is saved (its optimiser steps may be half done), so :meth:`run_loop` uses this only when
        the iteration before is on disk (or none was trained): otherwise the stop still ends the iteration
        and saves it, since --save-every 0 would lose the whole run. One process only: under DDP a process
        leaving mid-step would leave the others waiting in an all-reduce."""
        if self.cancel is None or self.processes.distributed:
            yield
            return
        owner, cancel = threading.get_ident(), self.cancel

        def check(module, args) -> None:
            if cancel.is_set() and threading.get_ident() == owner:
                raise IterationAbandoned

        handle = nn.modules.module.register_module_forward_pre_hook(check)
        try:
            yield
        finally:
            handle.remove()

    def run_loop(self, stage: str, step: Callable[[Session, int], Mapping[str, torch.Tensor]],
                 payload: Callable[[Session, int], Mapping[str, Any]], final: Path) -> None:
        """The loop both stages share: step, average over processes, show, log, save on schedule.

        A stop request (Ctrl-C, SIGTERM) ends the loop after the iteration in progress with a numbered
        checkpoint of it, so ``--resume`` continues exactly where the run stopped (JobCancelled, exit 130);
        when the iteration before is already saved it ends within a layer instead (:meth:`stop_within_a_layer`).
        """
        if self.stop_requested():  # stopped while loading: nothing trained, nothing to save
            raise raised_everywhere(JobCancelled("training stopped before its first iteration",
                                                 "run the command again"))
        o = self.options
        asked = f" (--precision {o.precision})" if o.precision != self.precision else ""
        procs = f" x {self.processes.world_size} processes" if self.processes.distributed else ""
        self.log.note(f"{stage}: iterations {self.start_iter + 1}-{o.iter}, batch {o.batch}{procs}, "
                      f"{self.device}, {self.precision}{asked} -> {final}")
        saved_through = self.start_iter  # the newest iteration whose state is on disk (0: none trained)
        for i in range(self.start_iter, self.options.iter):
            done = i + 1
            try:
                with self.stop_within_a_layer() if saved_through == i else contextlib.nullcontext():
                    values = mean_over_processes(step(self, i), self.processes, self.device)
            except IterationAbandoned:
                found = latest_checkpoint(final, o.stage, o.backbone)
                raise JobCancelled(
                    f"training stopped during iteration {done} of {o.iter}; nothing of it was saved",
                    f"continue it with the same command plus --resume {found[0]} (iteration {found[1]}, the "
                    "newest save, intact)" if found else "run the same command again (nothing was saved yet)",
                ) from None
            check_finite_losses(values, done, final)
            self.log.progress(done, values)
            if self.should_log(done):
                self.log.record({"stage": stage, "iter": done, **values})
            path = self.save_path(done, final)
            if path is not None:
                with self.resume_hint_on_failure(final):
                    self.save(path, payload(self, done))
                saved_through = done
            if done < self.options.iter and self.stop_requested():
                with self.resume_hint_on_failure(final):
                    kept, written = (path, True) if path else self.save_on_stop(numbered(final, done),
                                                                                 payload(self, done))
                saved = f"saved {kept}" if written else f"its state is already in {kept} (kept, nothing written)"
                raise raised_everywhere(JobCancelled(
                    f"training stopped after iteration {done} of {self.options.iter}; {saved}",
                    f"continue it with the same command plus --resume {kept}",
                ))


class IterationAbandoned(Exception):
    """Raised by a layer's pre-hook once a stop is asked; never leaves :meth:`Session.run_loop`."""


def check_finite_losses(values: Mapping[str, float], done: int, final: Path) -> None:
    """Stop a run whose losses turned NaN/Inf, before it saves: it went on to write NaN checkpoints and a
    NaN final model with exit 0 (and JSON logs strict parsers refuse). Every process sees the same
    averaged values, so all stop together; the saves so far were made from finite steps."""
    bad = [f"{name} = {value}" for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise raised_everywhere(ConfigError(
            f"training diverged at iteration {done}: {', '.join(bad)}; nothing of this iteration was saved",
            f"continue from the newest save in {final.parent} (--resume auto) with a lower --lr or smaller "
            "loss weights, or start again with them"))


RECIPE_OPTIONS = ("batch", "lr", "seed", "adv_loss", "grec_loss", "perc_loss", "tmp_loss", "msk_loss",
                  "r1", "fix_style", "style_id", "fix_degree", "style_degree", "fix_color", "weight")
"""Options a resumed run should keep; a change is allowed but named once (it changes the recipe).
The precision is compared as it ran, not as asked for (see :func:`resumed_precision`)."""


def warn_changed_options(session: Session, saved: Mapping[str, Any], path) -> None:
    now = session.options.to_dict()
    changed = [k for k in RECIPE_OPTIONS if k in saved and saved[k] != now[k]]
    if changed:
        session.log.warn(f"resuming {path} with other {', '.join(changed)} than it was trained with")
    schedules = iter_schedules(session.options) if session.options.stage != "finetune" else []
    if schedules and isinstance(saved.get("iter"), int) and saved["iter"] != now["iter"]:
        named = " and ".join(schedules)
        verb = "follows" if len(schedules) == 1 else "follow"
        session.log.warn(f"resuming {path}, trained toward --iter {saved['iter']}, with --iter {now['iter']}: "
                         f"{named} {verb} --iter, so the run changes from here and will not repeat an "
                         f"uninterrupted one of --iter {now['iter']}")


def iter_schedules(options) -> list[str]:
    """What in a pretrain/full run is a fraction of ``--iter`` (official scripts): D pre-training's d_s (0 for
    the first quarter), D's colour jitter and the flicker ramp (both over the second half). Empty: every
    step is the same whatever ``--iter`` says (VToonify-T pre-training), so a resume needs no warning."""
    d = options.backbone == "dualstylegan"
    if options.stage == "pretrain":
        return ["the d_s schedule"] if d and not options.fix_degree else []
    jitter = d and not options.fix_color and not options.fix_style
    return [name for name, on in (("the colour jitter", jitter), ("the flicker-loss ramp", options.tmp_loss > 0))
            if on]


def resumed_precision(session: Session, ckpt: Mapping[str, Any], path) -> str:
    """The precision a resumed run computes in.

    Rule: ``--precision auto`` continues in the precision the checkpoint ran in, so the resumed run
    repeats the uninterrupted one even on a machine where ``auto`` would pick otherwise (bf16 runs
    everywhere, only slower without native support: said once). An explicit ``--precision`` is obeyed;
    when it differs from the checkpoint's, a warning says the rest of the run will not match.
    Checkpoints from before the precision was recorded: their options tell, unless they say 'auto'.
    """
    asked = session.options.precision
    saved = ckpt.get("precision")
    if saved not in ("fp32", "bf16"):
        saved = (ckpt.get("options") or {}).get("precision")
    here = session.precision
    if saved not in ("fp32", "bf16"):
        session.log.warn(f"{path} does not record the precision it was trained in; continuing in {here}")
        return here
    if asked != "auto":
        if asked != saved:
            session.log.warn(f"resuming {path}, trained in {saved}, in {asked} (--precision {asked}): the rest "
                             "of the run will not repeat an uninterrupted one")
        return asked
    if saved == here:
        return saved
    if saved == "bf16" and session.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        session.log.warn(f"{path} was trained in bf16, which this GPU cannot run; continuing in {here}: the rest "
                         "of the run will not repeat an uninterrupted one")
        return here
    why = "computes bf16 slowly" if saved == "bf16" else "has fast bf16"
    session.log.warn(f"resuming {path} in {saved}, the precision it was trained in (--precision auto would pick "
                     f"{here} here: this {session.device.type} {why}); pass --precision {here} to switch")
    return saved


def planned_outputs(options: TrainOptions, final: Path) -> list[Path]:
    every = options.save_every
    extra = [numbered(final, k) for k in range(every, options.iter, every)] if every else []
    return [final, *extra]


def check_outputs_free(options: TrainOptions, layout: OutputLayout, final: Path) -> None:
    """Refuse to replace earlier results unless resuming or ``--overwrite``, and even then any file at
    an output name that this trainer did not write (an official model, a link, someone's file)."""
    layout.check_writable()
    if options.resume or options.overwrite:
        for path in planned_outputs(options, final):
            check_replaceable(path)
        return
    taken = [p for p in planned_outputs(options, final) if p.exists() or p.is_symlink()]
    if taken:
        raise OutputError(
            f"{taken[0]} already exists",
            "pick another --name or --out, continue it with --resume, or pass --overwrite to replace it",
        )


def warn_earlier_run(log: TrainLog, final: Path) -> None:
    """A fresh start beside an earlier run's checkpoints (a stopped run, typically) is allowed, but said
    once with the ``--resume`` that would continue it instead."""
    numbered_files = [p for p in run_checkpoint_files(final) if p != final]
    found = sorted(((p.stat().st_mtime_ns, p) for p in numbered_files if p.is_file()), reverse=True)
    latest = next((path for _, path in found if is_training_checkpoint(path)), None)
    if latest is not None:
        log.warn(f"{final.parent} holds an earlier run's checkpoints (newest {latest.name}); this run starts "
                 f"again from iteration 0 (to continue that run instead, add --resume {latest}, or "
                 "--resume auto)")


def resolve_auto_resume(options: TrainOptions) -> TrainOptions | Path:
    """``--resume auto`` (a farm's retry runs the same command): the most advanced checkpoint of this
    run in OUT/NAME, or a fresh start when there is none; the final file's path when the run is already
    complete (nothing to do). Reads only checkpoint headers (memory-mapped)."""
    layout = output_layout(options.out, options.folder_name, options.backbone, **options.variant())
    final = layout.pretrain_path if options.stage == "pretrain" else layout.model_path
    found = latest_checkpoint(final, options.stage, options.backbone)
    say = print if int(os.environ.get("RANK", "0")) == 0 else (lambda *a, **k: None)
    if found is None:
        say(f"--resume auto: no checkpoint of this run in {layout.family_dir}; starting at iteration 0",
            file=sys.stderr, flush=True)
        return replace(options, resume=None)
    path, done = found
    if done >= options.iter:
        check_auto_resume_done(path, done, final, options.iter)
        say(f"--resume auto: {path} already holds {done} iterations (--iter {options.iter}); nothing to do",
            file=sys.stderr, flush=True)
        return path
    say(f"--resume auto: continuing from {path} (iteration {done})", file=sys.stderr, flush=True)
    return replace(options, resume=str(path))


def open_session(options: TrainOptions, cancel: threading.Event | None = None) -> Session:
    """Checks, loads and builds everything a stage needs; writes nothing (see :meth:`Session.begin`)."""
    check_training_files(options)
    processes, device = init_processes(options.device)
    layout = output_layout(options.out, options.folder_name, options.backbone, **options.variant())
    final = layout.pretrain_path if options.stage == "pretrain" else layout.model_path
    check_outputs_free(options, layout, final)
    if options.backbone == "dualstylegan" and options.exstyle_path:
        with named_by_flag("exstyle_path"):
            check_family_exstyles(layout, options.exstyle_path)
    if options.resume:
        with named_by_flag("resume"):
            check_resume_file(options.resume, options.stage, options.backbone, options.iter)
    log = TrainLog(options, 0, enabled=processes.main)
    if not options.resume:
        warn_earlier_run(log, final)
    log.note(f"loading the teacher files on {device} ...")
    teachers = load_teachers(
        options.backbone,
        stylegan_path=options.stylegan_path,
        faceparsing_path=options.faceparsing_path,
        exstyle_path=options.exstyle_path,
        style_encoder_path=options.style_encoder_path,
        direction_path=options.direction_path,
        finetunegan_path=options.finetunegan_path,
        weight=list(options.weight) if options.backbone == "toonify" else None,
        device=device,
    )
    pairs = PairGenerator(
        teachers, stage=options.stage, fix_style=options.fix_style, style_id=options.style_id,
        fix_degree=options.fix_degree, style_degree=options.style_degree, fix_color=options.fix_color,
        device=device,
    )
    installed = layout.models_dir / ENCODER_FILE
    if options.stage == "full" and options.style_encoder_path and not (installed.exists() or installed.is_symlink()):
        teachers.check_style_encoder()  # Session.begin copies it there, even where these pairs need no pSp
    precision = resolve_precision(options.precision, device)
    check_batch_fits(options.batch, teachers.channels, precision, device)
    torch.manual_seed(options.seed)  # the same seed builds the same untrained student
    student = build_student(teachers)
    student.requires_grad_(False)
    params = trained_parameters(student, options.stage)
    for p in params:
        p.requires_grad_(True)
    g_optim = torch.optim.Adam(params, lr=options.lr, betas=ADAM_BETAS)
    for warning in teachers.warnings:
        log.warn(warning)
    return Session(
        options=options, processes=processes, device=device, layout=layout, teachers=teachers, pairs=pairs,
        student=student, model=student, ema=make_ema(student), g_optim=g_optim, log=log, cancel=cancel,
        precision=precision,
    )
