"""The signals that ask a job or the engine to stop cleanly: Ctrl-C, a farm's or init's SIGTERM, and
SIGHUP (the terminal that started ``engine render``/``serve`` was closed, an ssh session dropped),
whose default action would end the process on the spot: frames being written abandoned as temp files,
the connection file left behind, jobs found interrupted only by the next engine."""

from __future__ import annotations

import signal

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
