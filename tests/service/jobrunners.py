"""A small, real job runner for service tests: it reads the source and writes one file per frame.

It stands in for engine.pipeline.render where the test is about transport, queueing and robustness
(fast and torch-free), with the same contract: progress/frame_done events, cancel checked between
frames, InputError when the source vanishes, files written to a temp name then renamed (no partial
file ever has the final name). Started in the engine process via
``engine_entry.py --job-runner jobrunners:write_frames``.

Knobs (settings keys that are no RenderConfig field, ``config.knobs``: see knobs.py): ``delay_s`` per
frame, ``pad_bytes`` of filler in each progress event (to flood slow readers), ``progress_per_frame``
events per frame,
``warning`` (a message sent as a ``warning`` event before the first frame).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from engine.errors import FrameRangeError, InputError, JobCancelled


def frame_numbers(text: str | None) -> list[int]:
    if not text:
        return [1]
    first, _, last = text.partition("-")
    try:
        return list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise FrameRangeError(f"bad frame range {text!r}", "use FIRST-LAST") from None


def write_frames(config, on_event, cancel, models) -> dict:
    source = Path(config.source)
    frames = frame_numbers(config.frames)
    delay_s = float(config.knobs.get("delay_s", 0.0))
    pad = "x" * int(config.knobs.get("pad_bytes", 0))
    per_frame = int(config.knobs.get("progress_per_frame", 1))
    out_dir = Path(config.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = config.name or source.stem
    if config.knobs.get("warning"):
        on_event({"event": "warning", "message": str(config.knobs["warning"])})
    outputs, skipped = [], 0
    started = time.monotonic()
    for done, frame in enumerate(frames, start=1):
        if cancel.is_set():
            raise JobCancelled("job cancelled")
        try:
            data = source.read_bytes()
        except OSError:
            raise InputError(f"cannot read source {source}", "check the file still exists") from None
        target = out_dir / f"{stem}.{frame:04d}.txt"
        if config.resume and target.exists():
            skipped += 1
        else:
            time.sleep(delay_s)
            tmp = out_dir / f".{target.name}.tmp"
            tmp.write_text(f"frame {frame} of {source.name}: {len(data)} bytes\n")
            os.replace(tmp, target)
        outputs.append(str(target))
        on_event({"event": "frame_done", "frame": frame, "path": str(target)})
        elapsed = time.monotonic() - started
        for _ in range(per_frame):
            on_event({"event": "progress", "done": done, "total": len(frames), "frame": frame,
                      "fps": done / max(elapsed, 1e-6), "eta_s": 0.0, "pad": pad})
    return {"outputs": outputs, "pattern": str(out_dir / f"{stem}.####.txt"), "matte_patterns": {},
            "frames": [frames[0], frames[-1]], "count": len(frames), "backend": "test-writer",
            "sidecar": "", "skipped": skipped}


def write_preview(config, frame, out_dir, models) -> dict:
    target = Path(out_dir) / f"preview.{frame:04d}.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"preview of {config.source} frame {frame}\n")
    return {"path": str(target), "source_path": str(config.source), "frame": frame}


def write_frames_with_model(config, on_event, cancel, models) -> dict:
    """Like write_frames, but first gets ``config.knobs['model_path']`` from the worker's ModelCache
    (a real load through engine.pipeline.modelcache, counted in its stats)."""
    model = models.get("tiny", config.knobs["model_path"], load_tiny_model)
    result = write_frames(config, on_event, cancel, models)
    return dict(result, model_id=id(model))


def load_tiny_model(path: str):
    import torch

    model = torch.nn.Linear(4, 4)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def compute_ignoring_cancel(config, on_event, cancel, models) -> dict:
    """A job inside a long torch computation that never checks cancel (a 1.2 GB model load, one frame of
    the full-size network on one thread), for timing shutdown."""
    import torch

    on_event({"event": "progress", "done": 0, "total": 1, "frame": None, "fps": 0.0, "eta_s": None})
    a = torch.randn(256, 256)
    while True:
        a = torch.tanh(a @ a)


def slow_model_load(config, on_event, cancel, models) -> dict:
    """The real pipeline (``jobs.pipeline_runner``) with a BiSeNet load that first touches the ``marker`` knob's
    file, then takes ``load_s`` seconds more (a full-size model on a busy machine: 2.5-7 s of C++ that
    never looks at cancel), so a test can cancel while a model loads."""
    import engine.models as models_module
    from engine.service.jobs import pipeline_runner

    real = models_module.load_face_parser
    marker, load_s = Path(config.knobs["marker"]), float(config.knobs.get("load_s", 6.0))

    def slow(path, *args, **kwargs):
        marker.touch()
        time.sleep(load_s)
        return real(path, *args, **kwargs)

    models_module.load_face_parser = slow
    try:
        return pipeline_runner(config, on_event, cancel, models)
    finally:
        models_module.load_face_parser = real
