"""Test entry point: ``engine render`` whose frame reads block in the kernel like a stalled mount.

``python blocking_render.py FIFO MARKER render ...``: every sequence frame read first touches MARKER, then
opens FIFO for reading, which blocks until a writer appears (none does). Used to prove Ctrl-C / SIGTERM
end the CLI even inside such a read. Test-only: the engine carries no hook for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import engine.io.sequence as sequence
from engine.cli import main


def blocking_read(path):
    Path(MARKER).touch()
    with open(FIFO, "rb") as fh:  # blocks in open(2): no writer will come
        fh.read()
    raise AssertionError("unreachable")


FIFO, MARKER = sys.argv[1:3] if __name__ == "__main__" else (None, None)


if __name__ == "__main__":
    sequence.read_rgb8 = blocking_read
    sys.argv = [sys.argv[0], *sys.argv[3:]]  # the process's own command line, as `python -m engine`
    sys.exit(main())
