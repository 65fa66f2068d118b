"""What the panel says about the engine: running or not, which backend ``auto`` will use, which
style families are installed (from the engine's ``capabilities``, not a list kept here), and the
exact command that fetches missing models. No bpy."""

from __future__ import annotations

import shlex
import textwrap
from dataclasses import dataclass

from .error_report import problem_and_fix
from .style_choices import InstalledStyle, NotReadyStyle, installed_styles, not_ready_styles


@dataclass(frozen=True)
class EngineStatus:
    running: bool
    version: str = ""
    devices: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    """Families whose model files the engine found (usable now)."""
    models_dir: str = ""
    error: str = ""
    installed: tuple[InstalledStyle, ...] = ()
    """The installed families with their backbones and exemplar counts (the Style menu's entries)."""
    not_ready: tuple[NotReadyStyle, ...] = ()
    """Families ``engine train`` left half done, with the engine's problem and fix."""
    pid: int = 0
    """The process id of the engine that answered (0: unknown): the add-on can tell when one it
    started has exited since."""
    unreachable: bool = False
    """A request found no engine to connect to (``error`` then says why and what to do)."""
    truncated: str = ""
    """The engine's note on what it cut from its capabilities reply to fit the protocol's line limit (style
    names past a prefix, whole families): the Style menu then lists less than is installed, and says why."""

    def style_lines(self) -> list[tuple[str, str]]:
        """(text, icon) of the lines that list the installed styles: the families, then the engine's note
        when its reply was cut, so an artist who misses a style or a style id learns why."""
        installed = ", ".join(self.styles) or "none (classic look only)"
        return [(f"Installed styles: {installed}", "NONE"), *([(self.truncated, "INFO")] if self.truncated else [])]

    def style_problem(self, style: str) -> str:
        """The engine's problem and fix when ``style`` is a half-trained family, else empty."""
        return next((s.reason() for s in self.not_ready if s.name == style), "")

    def style_blocker(self, style: str) -> str:
        """Why Stylize is greyed out for a half-trained ``style``, in an artist's words, else empty."""
        return next((s.ARTIST_REASON for s in self.not_ready if s.name == style), "")

    @property
    def auto_backend(self) -> str:
        """What ``auto`` renders with: VToonify when some family is installed, else classic."""
        return "vtoonify" if "vtoonify" in self.backends and self.styles else "classic"

    def summary(self) -> str:
        if not self.running:
            state = "not reachable" if self.unreachable else "not running"
            return f"Engine {state}{': ' + self.error if self.error else ''}"
        devices = ", ".join(self.devices) or "?"
        return f"Engine {self.version} on {devices}: Auto uses {self.auto_backend.title()}"


def status_from_capabilities(caps: dict, pid: int = 0) -> EngineStatus:
    styles = sorted({str(s.get("style")) for s in caps.get("styles") or [] if s.get("style")})
    return EngineStatus(running=True, version=str(caps.get("engine_version", "")),
                        devices=tuple(caps.get("devices") or ()), backends=tuple(caps.get("backends") or ()),
                        styles=tuple(styles), models_dir=str(caps.get("models_dir") or ""),
                        installed=installed_styles(caps), not_ready=not_ready_styles(caps), pid=pid,
                        truncated=str(caps.get("truncated") or ""))


def exited_status(exit_code: int) -> EngineStatus:
    """What the panel says once the engine that answered its last check (one this Blender started)
    has exited: how it ended and how to get one again, instead of the old "running" line."""
    if exit_code == 0:
        how = "it stopped (its idle timeout, or a shutdown from outside)"
    elif exit_code < 0:
        how = f"it was killed (signal {-exit_code}) or crashed"
    else:
        how = f"it exited with code {exit_code} (its log says why)"
    return EngineStatus(running=False, error=f"{how}; press Start, or Stylize with Auto-start on to start it again")


def unreachable_status(err: BaseException) -> EngineStatus | None:
    """The status a request that could not connect to the engine leaves (refused, no answer, lost
    mid-render: the ``unreachable`` code), with its problem and fix; None for any other error (a bad
    setting, a refused job: the engine did answer). Judged by the connection, not a process id: an
    engine reached through an SSH tunnel has no process here."""
    if getattr(err, "code", "") != "unreachable":
        return None
    problem, fix = problem_and_fix(err)
    return EngineStatus(running=False, unreachable=True, error=f"{problem}; {fix}" if fix else problem)


def query_status(connector, api) -> EngineStatus:
    """Connect (``connector()``), ask for capabilities, disconnect; a failure is a not-running status."""
    try:
        client = connector()
    except (api.EngineError, OSError) as err:
        return unreachable_status(err) or EngineStatus(running=False,
                                                       error=getattr(err, "user_message", None) or str(err))
    try:
        pid = int(getattr(getattr(client, "info", None), "pid", 0) or 0)
        return status_from_capabilities(client.capabilities(), pid=pid)
    except (api.EngineError, OSError) as err:
        return unreachable_status(err) or EngineStatus(running=False,
                                                       error=getattr(err, "user_message", None) or str(err))
    finally:
        client.close()


def fetch_command(python_exe: str, style: str, models_dir: str = "", backbone: str = "dualstylegan") -> str:
    """The shell command that downloads the official files of ``style`` (what the panel shows to copy)."""
    words = [python_exe or "python", "-m", "engine", "models", "fetch", "--style", style, "--backbone", backbone]
    if models_dir:
        words += ["--models", models_dir]
    return shlex.join(words)


def wrap(text: str, width_px: float, char_px: float = 7.0, measure=None) -> list[str]:
    """Panel lines for ``text`` at a region ``width_px`` wide (labels cut long text in the middle).
    ``measure`` (text -> px, the UI font's) fits each line exactly; without it, ``char_px`` a character."""
    if measure is None:
        columns = max(20, int(width_px / char_px))
        return textwrap.wrap(text, columns) or [""]
    lines: list[str] = []
    line = ""
    for word in text.split():
        joined = f"{line} {word}" if line else word
        if measure(joined) <= width_px:
            line = joined
            continue
        if line:
            lines.append(line)
        while measure(word) > width_px and len(word) > 1:  # a long path: cut where it no longer fits
            cut = max(1, next((n for n in range(len(word) - 1, 0, -1) if measure(word[:n]) <= width_px), 1))
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    return [*lines, line] if line or not lines else lines
