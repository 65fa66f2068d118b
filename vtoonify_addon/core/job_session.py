"""One render as the modal operator sees it: connect (maybe auto-start) and submit on a worker
thread, then non-blocking ticks on Blender's timer; cancel and abandon never block the main thread.

No bpy. ``connect()`` returns a connected ``EngineClient`` (it may take up to the engine's start
timeout); ``api`` is the namespace from ``engine_client.load()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .background import BackgroundCall
from .job_runner import PolledJob

CONNECTING, RUNNING, FINISHED = "connecting", "running", "finished"


class JobSession:
    """Mutable on purpose: one per running render, owned by its operator."""

    def __init__(self, connect: Callable[[], object], api, settings: dict, cancel_wait_s: float = 60.0) -> None:
        self.api = api
        self.cancel_wait_s = cancel_wait_s
        self.job: PolledJob | None = None
        self.start_error: BaseException | None = None
        self.cancel_requested = False
        self.abandoned = False
        """Set by ``abandon``: the render was ended from outside (file opened, add-on disabled, quit)."""
        self._call = BackgroundCall(lambda: self._start(connect, settings), name="vtoonify-connect")

    def _start(self, connect, settings: dict) -> PolledJob:
        client = connect()
        try:
            return PolledJob(client, self.api, settings, cancel_wait_s=self.cancel_wait_s)
        except BaseException:
            client.close()
            raise

    @property
    def phase(self) -> str:
        if self.start_error is not None or (self.job is not None and self.job.tracker.finished):
            return FINISHED
        return RUNNING if self.job is not None else CONNECTING

    def tick(self) -> str:
        """Never blocks: pick up the worker's outcome once ready, then apply the job's queued events."""
        if self.job is None and self.start_error is None:
            if not self._call.done:
                return CONNECTING
            try:
                self.job = self._call.outcome()
            except Exception as err:  # EngineError, OSError...: shown to the artist by the operator
                self.start_error = err
                return FINISHED
            if self.cancel_requested:
                self.job.cancel()
        if self.job is not None and not self.job.tracker.finished:
            self.job.tick()
        return self.phase

    def cancel(self) -> None:
        """Ask the engine to stop (now, or as soon as the job is submitted)."""
        self.cancel_requested = True
        if self.job is not None:
            self.job.cancel()

    def close(self) -> None:
        if self.job is not None:
            self.job.client.close()

    def abandon(self, on_stopped: Callable[[bool], None]) -> threading.Thread:
        """Cancel, and on a worker thread wait for the engine to end the job before ``on_stopped(ended)``.

        ``ended`` is True when the engine confirmed the job's end (or nothing was submitted), so
        its files may be deleted; False when it never answered (it may still be writing).
        """
        self.cancel_requested = self.abandoned = True

        def wait_and_clean() -> None:
            self._call.wait()
            job = self.job
            if job is None:
                try:
                    job = self._call.outcome()
                except BaseException:
                    on_stopped(True)  # nothing was submitted, so nothing is being written
                    return
            try:
                job.cancel()
                while not job.tracker.finished:
                    job.tick(wait_s=0.2)
                on_stopped(job.tracker.ended_by_engine)
            finally:
                job.client.close()

        thread = threading.Thread(target=wait_and_clean, name="vtoonify-abandon", daemon=True)
        thread.start()
        return thread
