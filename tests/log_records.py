"""Training's JSON log lines as tests compare them: without the wall-clock fields (``it_per_s``, ``eta_s``),
which no two runs share, while the losses a resumed run logs must equal the uninterrupted run's exactly."""

from __future__ import annotations

import json

TIMING_FIELDS = ("it_per_s", "eta_s")


def untimed(line: str) -> dict:
    """One JSON log line as a record, its timing fields dropped."""
    return {key: value for key, value in json.loads(line).items() if key not in TIMING_FIELDS}
