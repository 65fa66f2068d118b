"""Output file names, the no-clobber and writability checks, and stale temp-file cleanup.

Output frame N of a job is always ``<stem>.<N padded>.<ext>``, whatever chunk renders it, so farm
chunks and resumed runs agree on names and a complete file is one that exists (writes are atomic).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import OutputError
from engine.service.connection import pid_alive  # stdlib-only; also knows Windows

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.tmp$")


def safe_stem(text: str) -> str:
    """A file stem with only letters, digits, '.', '_' and '-' (so it cannot name another folder)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return stem or "render"


def source_stem(path_pattern: str) -> str:
    """``/a/shot.####.exr`` -> ``shot``; ``/a/clip.mp4`` -> ``clip``."""
    name = os.path.basename(path_pattern)
    name = re.sub(r"(%0?\d*d|#+|@+)", "", name)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return safe_stem(stem.rstrip("._-"))


@dataclass(frozen=True)
class OutputNaming:
    out_dir: Path
    stem: str
    ext: str
    digits: int
    mattes: tuple[str, ...] = ()
    matte_files: bool = False

    def beauty(self, frame: int) -> Path:
        return self.out_dir / f"{self.stem}.{frame:0{self.digits}d}.{self.ext}"

    def matte(self, name: str, frame: int) -> Path:
        return self.out_dir / f"{self.stem}.matte_{name}.{frame:0{self.digits}d}.{self.ext}"

    def files(self, frame: int) -> list[Path]:
        files = [self.beauty(frame)]
        if self.matte_files:
            files += [self.matte(n, frame) for n in self.mattes]
        return files

    def complete(self, frame: int) -> bool:
        return all(p.exists() and p.stat().st_size > 0 for p in self.files(frame))

    @property
    def pattern(self) -> str:
        return str(self.out_dir / f"{self.stem}.{'#' * self.digits}.{self.ext}")

    def matte_patterns(self) -> dict[str, str]:
        if not self.matte_files:
            return {}
        return {n: str(self.out_dir / f"{self.stem}.matte_{n}.{'#' * self.digits}.{self.ext}")
                for n in self.mattes}


def existing_frame_files(out_dir: Path, stem: str) -> list[Path]:
    """Frame and matte files of a job with this stem: ``<stem>[.matte_<class>].<frame>.<exr|png>``."""
    pattern = re.compile(rf"^{re.escape(stem)}\.(?:matte_[A-Za-z0-9_]+\.)?-?\d+\.(?:exr|png)$")
    return sorted(p for p in out_dir.iterdir() if pattern.match(p.name) and p.is_file())


def frame_digits(frames: list[int]) -> int:
    return max(4, max((len(str(abs(f))) for f in frames), default=4))


@contextlib.contextmanager
def output_folder(path: str) -> Iterator[Path]:
    """Create the output folder, prove it is writable, and remove what was created if the job fails
    before putting anything in it (so a bad input leaves no empty folders behind)."""
    out = Path(path).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} is a file, not a folder", "give a folder for -o/--output")
    created = [p for p in [out, *out.parents] if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".vtoonify-write-test.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {out} ({exc.strerror or exc})",
                          "choose a folder you can write to, or fix its permissions") from None
    try:
        yield out
    except BaseException:
        for folder in created:  # deepest first; stops at the first folder that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def check_no_clobber(naming: OutputNaming, frames: list[int], source_files: list[str]) -> None:
    """Refuse output names that are source files (e.g. output folder = source folder, same stem)."""
    sources = {os.path.realpath(p) for p in source_files}
    for frame in frames:
        for path in naming.files(frame):
            if os.path.realpath(path) in sources:
                raise OutputError(
                    f"output file {path.name} would overwrite a source frame in {naming.out_dir}",
                    "choose another output folder or --name")


def clean_stale_temps(out_dir: Path, stem: str) -> list[Path]:
    """Delete temp files of this job left by killed processes of this host (their pid is gone).

    Temps of other hosts are left alone: a farm node cannot see another node's processes.
    """
    from engine.io.atomic import host_tag

    here = host_tag()
    removed = []
    for entry in out_dir.iterdir():
        m = _TEMP.match(entry.name)
        if not m or not m.group("name").startswith(stem) or m.group("host") != here:
            continue
        if pid_alive(int(m.group("pid"))):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed

