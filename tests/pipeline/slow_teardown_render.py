"""Test entry point: ``engine render`` whose process takes seconds to tear down, as one holding gigabytes
of model weights does (2.7 s measured after a cancelled full-size VToonify-D job).

``python slow_teardown_render.py MARKER render ...``: the face search touches MARKER, then waits for the
cancel and stops as the real one does; an object whose finalizer sleeps 5 s stands for the weights.
Test-only: the engine carries no hook for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import engine.pipeline.shot as shot
from engine.cli import main


class Weights:
    def __del__(self) -> None:
        time.sleep(5)


HELD = []


def waiting_face_search(source, cancel=None):
    HELD.append(Weights())
    Path(MARKER).touch()
    while not cancel.is_set():
        time.sleep(0.01)
    shot.stop_if_cancelled(cancel)


MARKER = sys.argv[1] if __name__ == "__main__" else None


if __name__ == "__main__":
    shot.find_face_frame = waiting_face_search
    sys.argv = [sys.argv[0], *sys.argv[2:]]  # the process's own command line, as `python -m engine`
    sys.exit(main())
