"""Test entry point: ``engine render`` whose shot analysis computes in torch and never checks cancel.

``python busy_render.py MARKER render ...``: the face search is replaced by a loop of torch matrix
products (as a 1.2 GB model load or a pSp pass on one thread: seconds of C++ with no cancel check) that
first touches MARKER. Used to time how long Ctrl-C / SIGTERM take to end the CLI there, and that it still
exits 130 (torch's threads alive at interpreter exit made it abort, exit -6). Test-only: the engine
carries no hook for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import engine.pipeline.shot as shot
from engine.cli import main


def busy_face_search(source, cancel=None):
    import torch

    Path(MARKER).touch()
    a = torch.randn(256, 256)
    while True:  # never looks at cancel
        a = torch.tanh(a @ a)


MARKER = sys.argv[1] if __name__ == "__main__" else None


if __name__ == "__main__":
    shot.find_face_frame = busy_face_search
    sys.argv = [sys.argv[0], *sys.argv[2:]]  # the process's own command line, as `python -m engine`
    sys.exit(main())
