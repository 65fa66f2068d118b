"""The signals that ask a job or the engine to stop cleanly: Ctrl-C, a farm's or init's SIGTERM, and
SIGHUP (the terminal that started ``engine render``/``serve`` was closed, an ssh session dropped),
whose default action would end the process on the spot: frames being written abandoned as temp files,
the connection file left behind, jobs found interrupted only by the next engine."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def interrupting() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread, as Ctrl-C does, for a command that
    works there (`models fetch` on a stalled download): their default action killed it (exit -15 / -1)
    where the command's own handling exits 130 and keeps its ``.part`` for the resume."""

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS if sig != signal.SIGINT}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
