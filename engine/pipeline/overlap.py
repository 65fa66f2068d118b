"""Threads joined by bounded queues, so decoding, the network and writing overlap.

Each stage is one thread (order is kept: one producer, one consumer per queue); the queues are
small, so at most a few batches are in flight and memory stays bounded. The first error of any
stage stops every stage and is raised again in the calling thread (a stage may instead pass a ``Failed``
marker down, so the items before it are finished first); ``stop()`` ends all waits
(cancel), and a stage that is waiting on a full or empty queue notices it within ``POLL_S``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

POLL_S = 0.05
DONE = object()
"""End-of-stream marker passed down the queues."""


class Failed:
    """End-of-stream marker carrying a stage's error, passed down the queues in order: the stages after it
    finish every item before it, then the last one raises it. Why: a frame that cannot be read in the
    middle of a batch must not cost the good frames decoded before it (they are written, so a resume
    after the fix renders only what is missing)."""

    def __init__(self, error: BaseException, frame: int | None = None) -> None:
        self.error = error
        self.frame = frame
        """The frame whose read failed (None where it is not one frame's)."""


class Stopped(Exception):
    """Raised inside a stage when the pipeline stopped (an error elsewhere, or cancel)."""


class Stages:
    """Owner of the stage threads and their queues."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def queue(self, size: int) -> queue.Queue:
        return queue.Queue(maxsize=size)

    def start(self, name: str, body: Callable[[], None]) -> None:
        """Run ``body()`` on a daemon thread; its exception (other than Stopped) stops the pipeline."""

        def run() -> None:
            try:
                body()
            except Stopped:
                pass
            except BaseException as exc:  # handed to the caller by raise_error()
                self.fail(exc)

        thread = threading.Thread(target=run, name=f"render-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = exc
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def put(self, q: queue.Queue, item) -> None:
        while True:
            self.check()
            try:
                q.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        while True:
            self.check()
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                continue

    def check(self) -> None:
        """Raise Stopped once the pipeline is stopping (the owner raises the real error)."""
        if self._stop.is_set():
            raise Stopped()

    def join(self, timeout_s: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout_s)

    def raise_error(self) -> None:
        """Raise the first stage error, if any (in the caller's thread)."""
        if self._error is not None:
            raise self._error
