"""Drive one engine job from its events: non-blocking ticks for Blender's modal timer, or a blocking loop.

No bpy: ``client`` is an ``EngineClient`` and ``api`` the namespace from ``engine_client.load()``
(so the typed errors are the ones the client raises).
"""

from __future__ import annotations

import time

from .job_tracker import CANCELLED, FAILED, JobTracker

LOST_FIX = "start the engine again (Start in the VToonify panel, or turn on Auto-start), then press Stylize again"
"""What to do when the engine went away mid-render: "reconnect" means nothing to an artist in Blender."""


def _status_event(client, api, job: str) -> dict | None:
    """Turn a ``status`` reply into the matching final event (covers events missed before subscribe)."""
    try:
        status = client.status(job)
    except api.EngineError:  # a status probe must never mask the real outcome
        return None
    state = str(status.get("state", ""))
    if state in ("done", "finished", "job_done") and status.get("result"):
        return {"event": "job_done", "job": job, "result": status["result"]}
    if state in ("failed", "error", "job_failed"):
        return {"event": "job_failed", "job": job, "error": status.get("error") or {}}
    if state in ("cancelled", "job_cancelled"):
        return {"event": "job_cancelled", "job": job}
    return None


class PolledJob:
    """Drive one submitted job without blocking: the modal timer calls ``tick()``, batch mode loops it.

    Mutable on purpose (one per running job, owned by its operator or caller, never global).
    """

    def __init__(self, client, api, settings: dict, cancel_wait_s: float = 60.0,
                 probe_after_s: float = 2.0) -> None:
        self.client, self.api = client, api
        self.tracker = JobTracker(str(client.submit(settings)))
        # subscribing replays the job's latest event, so nothing is missed; only without it does
        # tick() fall back to asking for the status (a round trip, so rarely)
        self.subscribed = True
        try:
            client.subscribe(self.tracker.job)
        except api.EngineError as err:
            self.subscribed = False
            print(f"VToonify: subscribe to job {self.tracker.job} failed ({err}); polling its status")
        self.cancel_wait_s, self.probe_after_s = cancel_wait_s, probe_after_s
        self.cancel_deadline: float | None = None
        self._quiet_since = time.monotonic()

    @property
    def cancelling(self) -> bool:
        return self.cancel_deadline is not None

    def cancel(self) -> None:
        """Ask the engine to stop; the job ends when its ``job_cancelled`` arrives (or the wait runs out)."""
        if self.cancelling or self.tracker.finished:
            return
        self.cancel_deadline = time.monotonic() + self.cancel_wait_s
        try:
            self.client.cancel(self.tracker.job)
        except self.api.EngineError:
            self.tracker.state = CANCELLED

    def _error_of(self, err) -> dict:
        """The protocol's error object (problem, fix) for an error raised while following the job."""
        if isinstance(err, self.api.UnreachableError):
            err = self.api.UnreachableError(err.message, LOST_FIX)
        return err.to_dict()

    def tick(self, wait_s: float = 0.0) -> JobTracker:
        """Apply the queued events (waiting up to ``wait_s`` for the first one) and return the tracker."""
        tracker = self.tracker
        try:
            events = []
            if wait_s > 0:
                first = self.client.wait_event(wait_s)
                events = [first] if first is not None else []
            events += self.client.poll_events(max_n=100)
        except self.api.EngineError as err:
            tracker.state, tracker.error = FAILED, self._error_of(err)
            return tracker
        fed = [tracker.feed(e) for e in events]  # every event, in order (any() would stop at the first)
        if any(fed):
            self._quiet_since = time.monotonic()
        now = time.monotonic()
        if not tracker.finished and getattr(self.client, "closed", False):
            tracker.state = FAILED
            tracker.error = self.api.UnreachableError("lost the connection to the engine (it stopped or crashed)",
                                                      LOST_FIX).to_dict()
        if not tracker.finished and not self.subscribed and now - self._quiet_since > self.probe_after_s:
            self._quiet_since = now
            final = _status_event(self.client, self.api, tracker.job)
            if final is not None:
                tracker.feed(final)
        if not tracker.finished and self.cancelling and now > self.cancel_deadline:
            tracker.state = CANCELLED
        return tracker


def run_job(client, api, settings: dict, progress=None, poll_s: float = 0.5) -> JobTracker:
    """Submit and wait for the job's end; ``progress(tracker)`` returning False cancels it."""
    job = PolledJob(client, api, settings)
    while not job.tracker.finished:
        job.tick(wait_s=poll_s)
        if not job.cancelling and not job.tracker.finished and progress is not None and progress(job.tracker) is False:
            job.cancel()
    return job.tracker
