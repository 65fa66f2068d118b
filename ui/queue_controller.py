"""The queue's behaviour: send waiting rows one at a time, follow every job the engine knows,
and keep rows truthful when the engine goes away or comes back.

* Start/Pause: waiting rows are sent one after another while the queue runs, each with its output
  folder resolved by its policy just before sending (``ui.output_policy``). Once every row it sent
  has finished and none waits, the queue stops by itself (``running_changed(False)``): idle again.
  Start with nothing waiting is refused with a status line and the queue stays idle, and removing
  the last waiting rows before they are sent idles it too: it never stays "armed" to send rows
  added later (those wait for the next Start, as after a drain).
* The engine's ``jobs`` listing (on connect and every few seconds) adds rows for jobs other
  clients sent and brings known rows in line; active ones are followed (``subscribe``).
* Engine lost: rows on it turn "interrupted" at once; Retry resumes them on the engine that comes
  back (``resume``; a new engine without the journal gets the same settings with ``resume``).
* Cancel never waits on an engine: a row not on one is cancelled here at once.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ui import job_records as jr
from ui import output_policy
from ui.engine_bridge import CONNECTED, FAILED, EngineBridge
from ui.queue_model import JobQueueModel
from ui.wording import warning_text, with_fix

NOTHING_WAITING = "Nothing waiting in the queue: add a shot first"
LOST_MESSAGE = ("the engine stopped before this job finished; press 'Restart engine and resume' (top of the window), "
                "or Retry once an engine is back (the panel joins one that comes back by itself): the frames "
                "already rendered are kept")
RESTART_LABEL = "Restart engine and resume"


def engine_end_words(returncode: int | None) -> str:
    """Why the engine went away, as an artist reads it: killed, crashed or ended by itself (the exit status
    of the engine this panel started; None when it was another's, or is not known yet)."""
    if returncode is None:
        return "the engine stopped unexpectedly (it crashed, was killed or was shut down)"
    if returncode in (-9, 137):
        return "the engine stopped unexpectedly: it was killed (signal 9, e.g. kill -9 or the system out of memory)"
    if returncode < 0:
        return f"the engine stopped unexpectedly: it crashed (signal {-returncode})"
    return f"the engine stopped unexpectedly (exit status {returncode})"


class QueueController(QObject):
    notice = Signal(str)           # a line for the status area
    problem = Signal(str, str)     # code, message
    warning = Signal(str)
    restart_offered = Signal(int)  # jobs a lost engine stopped that one action can resume (0: none left)
    queue_finished = Signal(str)   # the finish notice
    running_changed = Signal(bool)  # the queue stopped by itself (drained): the panel shows it idle

    def __init__(self, model: JobQueueModel, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.bridge = bridge
        self.running = False
        self.hidden: dict[str, None] = {}   # engine jobs the artist removed from this panel (in order)
        self._following: set[str] = set()   # jobs this connection gets events of
        self._ran_any = False
        self._lost_keys: list[int] = []     # rows the lost engine stopped, for 'Restart engine and resume'
        self._resume_on_connect = False
        bridge.job_submitted.connect(self._on_submitted)
        bridge.submit_failed.connect(self._on_submit_failed)
        bridge.engine_event.connect(self.on_event)
        bridge.jobs_listed.connect(self.on_jobs_listed)
        bridge.resume_unknown.connect(self._on_resume_unknown)
        bridge.connection_lost.connect(self.on_lost)
        bridge.state_changed.connect(self._on_state)
        model.cancel_needed.connect(bridge.cancel)
        model.job_finished.connect(self._on_finished)

    # --- start / pause / dispatch -------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        if running and not self.running and self.model.next_waiting() is None:
            self.notice.emit(NOTHING_WAITING)
            self.running_changed.emit(False)  # the panel's Start button goes back to idle
            return
        self.running = bool(running)
        if running:
            self._ran_any = False
            if self.bridge.state != CONNECTED:
                self.notice.emit("the queue starts sending once an engine is connected")
        self.dispatch()

    def dispatch(self) -> None:
        """Send the next waiting row when the queue runs, an engine is there and none of this
        panel's jobs is on it (one at a time keeps Pause and the row order meaningful)."""
        if not self.running or self.bridge.state != CONNECTED:
            return
        if any(r.mine and r.active for r in self.model.records()):
            return
        row = self.model.next_waiting()
        if row is None:
            return
        record = self.model.record(row)
        taken = {(r.output, output_policy.shot_stem(r.effective)) for r in self.model.records() if r.sent is not None}
        settings = output_policy.resolve(record.settings, record.policy, taken)
        self.model.mark_sent(row, settings)
        self._ran_any = True
        self.bridge.submit(record.key, settings)

    # --- row actions --------------------------------------------------------------------------
    def cancel_rows(self, rows: list[int]) -> None:
        connected = self.bridge.state == CONNECTED
        for row in rows:
            record = self.model.record(row)
            if record.finished:
                continue
            if record.status == jr.PENDING or not connected:
                self.model.cancel_here(row)
                continue
            record = self.model.mark_cancelling(row)
            if record.job_id:
                self.bridge.cancel(record.job_id)

    def retry_rows(self, rows: list[int]) -> None:
        """Continue stopped jobs: frames already written are kept (the engine's resume)."""
        for row in rows:
            record = self.model.record(row)
            if not record.resumable:
                continue
            if record.job_id is None or record.sent is None:
                self.model.reset_for_retry(row)   # never reached an engine: wait to be sent again
                continue
            if self.bridge.state != CONNECTED:
                self.problem.emit("not_connected", "no engine is connected; Retry once one is back "
                                                   "(the panel reconnects by itself)")
                return
            record = self.model.mark_resuming(row)
            self.bridge.resume(record.key, record.job_id)
        self._forget_resumed()
        self.dispatch()

    def _forget_resumed(self) -> None:
        """Rows resumed or removed another way leave the 'Restart engine and resume' offer (gone once empty)."""
        if not self._lost_keys:
            return
        rows = {k: self.model.row_of_key(k) for k in self._lost_keys}
        still = [k for k, row in rows.items() if row is not None and self.model.record(row).status == jr.INTERRUPTED]
        if still != self._lost_keys:
            self._lost_keys = still
            self.restart_offered.emit(len(still))

    def remove_rows(self, rows: list[int]) -> None:
        """Rows leave this panel; active jobs are cancelled first (the engine keeps its history)."""
        self.cancel_rows([r for r in rows if self.model.record(r).active])
        for record in self.model.remove_rows(rows):
            if record.job_id:
                self.hidden[record.job_id] = None
        self._forget_resumed()
        self.dispatch()
        if self.running and not any(r.status == jr.PENDING or (r.mine and r.active) for r in self.model.records()):
            self.running = False  # the last waiting rows left before being sent: idle, not armed for later rows
            self.running_changed.emit(False)

    def clear_finished(self) -> None:
        self.remove_rows([i for i, r in enumerate(self.model.records()) if r.finished])

    def mine_active_job_ids(self) -> list[str]:
        return [r.job_id for r in self.model.records() if r.mine and r.active and r.job_id]

    # --- engine -------------------------------------------------------------------------------
    def _on_state(self, state: str, detail: str) -> None:
        if state == CONNECTED:
            self._following = set()
            if self._resume_on_connect:
                self._resume_on_connect = False
                self._resume_lost()
            self.dispatch()
        elif state == FAILED:
            self._resume_on_connect = False  # the start failed: the offer stays, the reason is in the log

    def on_lost(self, detail: str) -> None:
        rows = self.model.mark_interrupted(LOST_MESSAGE)
        self._following = set()
        self._lost_keys += [self.model.record(r).key for r in rows if self.model.record(r).status == jr.INTERRUPTED]
        if rows:
            self.problem.emit("interrupted", f"{engine_end_words(self._exit_status())}; {len(rows)} job"
                                             f"{'s' if len(rows) > 1 else ''} interrupted: press "
                                             f"'{RESTART_LABEL}' (top of the window) to start it again and continue "
                                             f"{'them' if len(rows) > 1 else 'it'}, keeping the frames already "
                                             "rendered")
        self.restart_offered.emit(len(self._lost_keys))

    def _exit_status(self) -> int | None:
        process = self.bridge.started_process
        if process is None:
            return None
        try:
            return process.wait(timeout=0.2)  # its socket closed as it died: the status follows at once
        except Exception:  # still running (only its connection broke), or not ours to wait on
            return None

    def restart_and_resume(self) -> None:
        """One action after a lost engine: start one again (or use the one already back) and resume every
        job the loss stopped, from the frames already on disk."""
        if self.bridge.state == CONNECTED:
            self._resume_lost()
            return
        self._resume_on_connect = True
        self.bridge.start_engine()

    def _resume_lost(self) -> None:
        rows = [self.model.row_of_key(k) for k in self._lost_keys]
        self._lost_keys = []
        self.restart_offered.emit(0)
        self.retry_rows([r for r in rows if r is not None])

    def on_jobs_listed(self, jobs: list) -> None:
        for job_id in self.model.merge_listing([j for j in jobs if isinstance(j, dict)], self.hidden):
            if job_id not in self._following:
                self._following.add(job_id)
                self.bridge.subscribe(job_id)
        self.dispatch()

    def on_event(self, event: dict) -> None:
        self.model.apply_event(event)
        self._tell_warning(event)

    def _tell_warning(self, event: dict) -> None:
        row = self.model.row_of_job(str(event.get("job", "")))
        if event.get("event") == "warning" and row is not None:  # held events are told once their row is known
            said = warning_text(event.get("message"), event.get("settings"))  # named as the panel's controls
            self.warning.emit(f"{self.model.record(row).shot}: {said}")

    def _on_submitted(self, key: int, job_id: str) -> None:
        self._following.add(job_id)  # submit and resume subscribe this connection
        for event in self.model.assign_job_id(key, job_id):
            self._tell_warning(event)

    def _on_submit_failed(self, key: int, code: str, message: str) -> None:
        row = self.model.row_of_key(key)
        was_finished = row is None or self.model.record(row).finished
        self.model.mark_submit_failed(key, message, code)  # a row turning failed is reported by _on_finished
        if was_finished:
            shot = self.model.record(row).shot if row is not None else "job"
            self.problem.emit(code, f"{shot}: {message}")
        self.dispatch()

    def _on_resume_unknown(self, key: int, job_id: str) -> None:
        """The engine that came back does not know the job (no journal): send it again with
        resume, so the frames already on disk are kept."""
        row = self.model.row_of_key(key)
        if row is None:
            return
        record = self.model.record(row)
        self.bridge.submit(key, dict(record.sent or record.settings, resume=True, overwrite=False))

    def _on_finished(self, key: int, status: str) -> None:
        """Every row that ends is told here, whichever way the panel learnt it: a job_failed event,
        one held until the submit reply (the engine can fail a job before that reply arrives), or
        the ``jobs`` listing. Rows the engine loss interrupted are told by on_lost in one line."""
        row = self.model.row_of_key(key)
        record = self.model.record(row) if row is not None else None
        if record is not None and status == jr.DONE:
            kept = f", {record.skipped} frames kept from before" if record.skipped else ""
            self.notice.emit(f"{record.shot}: done with {record.backend or 'the engine'}{kept}")
        elif record is not None and status == jr.FAILED and record.error_code != "interrupted":
            text = with_fix(record.error or "", record.fix)
            self.problem.emit(record.error_code or "engine_error", f"{record.shot}: {text}")
        self.dispatch()
        records = self.model.records()
        if self.running and self._ran_any and records and not any(r.status == jr.PENDING or (r.mine and r.active)
                                                                   for r in records):
            self._ran_any = False
            self.running = False  # drained: idle again, so rows added later wait for Start (as they did before)
            self.running_changed.emit(False)
            done = sum(1 for r in records if r.status == jr.DONE)
            other = len(records) - done
            self.queue_finished.emit(f"Queue finished: {done} done" + (f", {other} not done" if other else ""))
