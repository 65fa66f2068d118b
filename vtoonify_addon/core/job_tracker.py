"""Follow one engine job through its events; shared by the modal operator and batch mode."""

from __future__ import annotations

from dataclasses import dataclass, field

from .error_report import in_controls

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"


@dataclass
class JobTracker:
    """Consumes event dicts; ignores other jobs' events. Mutable on purpose: one per running job."""

    job: str
    state: str = RUNNING
    done_frames: int = 0
    total_frames: int = 0
    fps: float = 0.0
    eta_s: float | None = None
    phase: str = ""
    """``analysis`` while the engine searches every frame for the faces (follow faces), ``render`` once
    frames render, ``""`` before the first progress event (the job is queued or finding the face)."""
    result: dict | None = None
    error: dict | None = None
    written: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """The job's ``warning`` events (e.g. auto fell back to the classic backend), in order."""
    ended_by_engine: bool = False
    """True once the engine itself sent the job's final event: only then has it stopped writing."""

    @property
    def finished(self) -> bool:
        return self.state != RUNNING

    @property
    def fraction(self) -> float:
        return self.done_frames / self.total_frames if self.total_frames else 0.0

    def feed(self, event: dict) -> bool:
        """Apply one event; True when it belonged to this job."""
        if str(event.get("job")) != str(self.job) or self.finished:
            return False
        kind = event.get("event")
        if kind == "progress":
            self.done_frames = int(event.get("done", self.done_frames))
            self.total_frames = int(event.get("total", self.total_frames))
            self.fps = float(event.get("fps") or 0.0)
            self.eta_s = event.get("eta_s")
            self.phase = "analysis" if event.get("phase") == "analysis" else "render"
        elif kind == "warning":  # the settings it names (protocol fields) as the add-on's controls
            message = in_controls(str(event.get("message") or ""), event.get("settings"))
            if message and message not in self.warnings:
                self.warnings.append(message)
        elif kind == "frame_done":
            if event.get("path"):
                self.written.append(str(event["path"]))
        if kind in ("job_done", "job_failed", "job_cancelled"):
            self.ended_by_engine = True
        if kind == "job_done":
            self.state, self.result = DONE, dict(event.get("result") or {})
            self.done_frames = self.total_frames = int(self.result.get("count", self.total_frames) or 0)
        elif kind == "job_failed":
            self.state, self.error = FAILED, dict(event.get("error") or {})
        elif kind == "job_cancelled":
            self.state = CANCELLED
        return True

    def status_line(self) -> str:
        """Short text for the header/status bar."""
        if self.state == RUNNING:
            if not self.phase:
                return "VToonify: analysing the shot (finding the face)..."
            eta = f", {self.eta_s:.0f}s left" if isinstance(self.eta_s, (int, float)) else ""
            percent = f"{100 * self.fraction:.0f}% " if self.total_frames else ""
            what = "frames searched for faces" if self.phase == "analysis" else "frames"
            return f"VToonify: {percent}{self.done_frames}/{self.total_frames or '?'} {what}{eta}"
        if self.state == FAILED:
            return f"VToonify failed: {(self.error or {}).get('message', 'unknown error')}"
        return f"VToonify: {self.state}"


def outcome_notes(tracker: JobTracker, asked_backend: str) -> list[str]:
    """What the artist must know about a finished job beyond "done": the backend that really ran when
    it is not the one asked for (``auto`` fell back to classic), and every warning."""
    result = tracker.result or {}
    notes = []
    used = result.get("backend")
    if used and used != asked_backend:
        notes.append(f"rendered with the {used} backend ({asked_backend} was asked for)")
    settings = result.get("warning_settings")
    for message in list(tracker.warnings) + [in_controls(str(w), settings) for w in result.get("warnings") or []]:
        if message not in notes:
            notes.append(message)
    return notes
