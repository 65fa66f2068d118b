"""Terminal progress for long renders and training: a bar with rate and ETA, JSON lines for wrappers, or
the ``openjd_progress`` / ``openjd_status`` / ``openjd_fail`` lines Open Job Description workers read."""

from __future__ import annotations

import json
import sys
import time


def one_line(text: str) -> str:
    """``text`` as one log line: a newline, tab or terminal escape in a file name is written as ``\\n``,
    ``\\t``, ``\\x1b`` (farm logs and artists' terminals read one message per line, and only text)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def write_out(stream, text: str) -> None:
    """Write and flush, saying nothing when the reader is gone: a closed terminal (EIO after SIGHUP)
    or a wrapper that stopped reading (EPIPE) must not turn a render or training that stops cleanly,
    or goes on, into a crash; its files, not its log, are what counts."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # ValueError: the stream was closed
        pass


class ProgressBar:
    """Redraws one stderr line per event; silent when stderr is not a terminal except at the end."""

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "warning":
            self._line(f"warning: {one_line(event['message'])}\n")
        elif kind == "progress":
            total, done = event.get("total") or 0, event.get("done") or 0
            now = time.monotonic()
            if not self.tty and done not in (0, total) and now - self._last < 5.0:
                return
            self._last = now
            filled = int(self.width * done / total) if total else self.width
            eta = event.get("eta_s")
            what = "frames searched for faces" if event.get("phase") == "analysis" else "frames"
            text = (f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{total} {what}"
                    f"  {event.get('fps') or 0:.2f} fps  ETA {_clock(eta) if eta is not None else '--:--'}")
            if event.get("skipped"):
                text += f"  ({event['skipped']} already done)"
            self._line(("\r" + text) if self.tty else text + "\n")
            if self.tty and total and done >= total:
                self._line("\n")

    def _line(self, text: str) -> None:
        write_out(self.stream, text)


class StepBar:
    """Progress of an iteration loop (training): ``[###---] 120/2000 it  1.3 it/s  ETA 24:05  <detail>``.

    Redraws one stderr line on a terminal; elsewhere prints a line at most every 5 s and at the end.
    """

    def __init__(self, total: int, start: int = 0, stream=None, width: int = 30, unit: str = "it") -> None:
        self.total = total
        self.start = start
        self.stream = stream or sys.stderr
        self.width = width
        self.unit = unit
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, detail: str = "") -> None:
        now = time.monotonic()
        if not self.tty and done < self.total and now - self._last < 5.0:
            return
        self._last = now
        rate = (done - self.start) / max(now - self._start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else None
        filled = int(self.width * done / self.total) if self.total else self.width
        text = (f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total} {self.unit}"
                f"  {rate:.2f} {self.unit}/s  ETA {_clock(eta) if eta is not None else '--:--'}  {detail}")
        end = "\n" if self.tty and done >= self.total else ""
        write_out(self.stream, (("\r" + text) if self.tty else text + "\n") + end)

    def warn(self, message: str) -> None:
        write_out(self.stream, f"warning: {one_line(message)}\n")


class JsonProgress:
    """One JSON object per line on stdout (``--json-progress``)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: dict) -> None:
        write_out(self.stream, json.dumps(event, default=str) + "\n")


class OpenJDProgress:
    """Open Job Description stdout messages (``--openjd-progress``): the worker agent turns
    ``openjd_progress: <percent>`` into the task's progress bar, ``openjd_status: <text>`` into its
    status line and ``openjd_fail: <text>`` into its failure message; other output is plain log text."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.percent: float | None = None

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "progress" and event.get("phase") == "analysis":  # the shot analysis, before any frame
            if event.get("done") in (0, event.get("total")):
                self._line(f"openjd_status: shot analysis: faces searched in {event.get('done')}/"
                           f"{event.get('total')} frames")
        elif kind == "progress" and event.get("total"):
            self._progress(100.0 * (event.get("done") or 0) / event["total"])
        elif kind == "warning":
            self._line(f"openjd_status: warning: {event['message']}")
        elif kind == "job_done":
            result = event.get("result") or {}
            if "analysed" in result:
                self._line(f"openjd_status: shot analysis {'computed' if result['analysed'] else 'reused'} "
                           f"({result.get('sidecar', '')})")
            if self.percent != 100.0:
                self._progress(100.0)
        elif kind == "job_failed":
            self._line(f"openjd_fail: {event['error']['message']}")

    def _progress(self, percent: float) -> None:
        self.percent = round(percent, 1)
        self._line(f"openjd_progress: {self.percent:.1f}")

    def _line(self, text: str) -> None:
        write_out(self.stream, one_line(text) + "\n")


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
