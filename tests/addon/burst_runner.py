"""A stand-in render pipeline for the engine service (``--job-runner burst_runner:run``).

It writes tiny files and fires every event at once, so many events wait in the client's queue
between two timer ticks; ``name="slow"`` makes it run until cancelled.
"""

from __future__ import annotations

import os
import time

from engine.errors import JobCancelled
from engine.pipeline.frames import parse_frame_ranges


def run(config, on_event, cancel, models) -> dict:
    frames = parse_frame_ranges(config.frames)
    os.makedirs(config.output, exist_ok=True)
    pattern = os.path.join(config.output, f"{config.name}.####.png")
    outputs = []
    for done, frame in enumerate(frames, 1):
        if config.name == "slow":
            while not cancel.is_set():
                time.sleep(0.02)
        if cancel.is_set():
            raise JobCancelled("cancelled")
        path = pattern.replace("####", f"{frame:04d}")
        with open(path, "wb") as handle:
            handle.write(b"frame %d" % frame)
        outputs.append(path)
        on_event({"event": "frame_done", "frame": frame, "path": path})
        on_event({"event": "progress", "done": done, "total": len(frames), "frame": frame, "fps": 100.0,
                  "eta_s": 0.0})
    return {"outputs": outputs, "pattern": pattern, "matte_patterns": {}, "frames": [frames[0], frames[-1]],
            "count": len(frames), "backend": "burst", "sidecar": ""}
