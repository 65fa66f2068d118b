"""Output file names, the no-clobber and writability checks, and stale temp-file cleanup.

Output frame N of a job is always ``<stem>.<N padded>.<ext>``, whatever chunk renders it, so farm
chunks and resumed runs agree on names. Every file the engine writes carries its job key in the header
(``vtoonify/job``): that stamp, not a name pattern, is what makes a file "ours" to skip on ``--resume`` or
delete on ``--overwrite``. A file counts as done only if it is a regular file (not a link) that reads back
completely and carries this job's stamp. The engine never makes links: a link at any of a job's names is
refused up front, with ``--overwrite`` and ``--resume`` too, and never followed or replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import OutputError, setting

JOB_STAMP = "vtoonify/job"
"""Header attribute holding the job key of every file the engine writes."""


def safe_stem(text: str) -> str:
    """A file stem of letters (any script), digits, '.', '_' and '-' (so it cannot name another folder):
    ``catalog.file_stem``, the one rule the panel shares."""
    from engine.service import catalog

    return catalog.file_stem(text)


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

    def number(self, frame: int) -> str:
        """``digits`` digits, after a minus sign for negative frames (``-0005``), as ``#`` announces
        (the one grammar the panel and the add-on use too)."""
        from engine.service import catalog

        return catalog.frame_name("", frame, self.digits, "")

    def beauty(self, frame: int) -> Path:
        return self.out_dir / f"{self.stem}.{self.number(frame)}.{self.ext}"

    def matte(self, name: str, frame: int) -> Path:
        return self.out_dir / f"{self.stem}.matte_{name}.{self.number(frame)}.{self.ext}"

    def files(self, frame: int) -> list[Path]:
        files = [self.beauty(frame)]
        if self.matte_files:
            files += [self.matte(n, frame) for n in self.mattes]
        return files

    def complete(self, frame: int, job: str | None = None) -> bool:
        """Every file of ``frame`` is a regular file that reads back whole (and carries ``job``'s stamp)."""
        return all(is_complete_file(p, self.ext, job) for p in self.files(frame))

    @property
    def pattern(self) -> str:
        return str(self.out_dir / f"{self.stem}.{'#' * self.digits}.{self.ext}")

    def matte_patterns(self) -> dict[str, str]:
        if not self.matte_files:
            return {}
        return {n: str(self.out_dir / f"{self.stem}.matte_{n}.{'#' * self.digits}.{self.ext}")
                for n in self.mattes}


def job_stamp(path: Path) -> str | None:
    """The ``vtoonify/job`` key in a regular file's header; None for links, other files, unreadable ones."""
    return header_text(path, JOB_STAMP)


def header_text(path: Path, name: str) -> str | None:
    """The text attribute ``name`` in a regular file's header; None for links, other files, unreadable ones
    and headers without it."""
    import OpenImageIO as oiio

    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    from engine.io.oiio_errors import error_text, libpng_lines_dropped

    with libpng_lines_dropped():
        inp = oiio.ImageInput.open(str(path))
    if inp is None:
        error_text()  # clear it (never raising, even for a garbled header)
        return None
    try:
        value = inp.spec().getattribute(name)
    finally:
        inp.close()
    return value if isinstance(value, str) and value else None


def is_complete_file(path: Path, fmt: str, job: str | None = None) -> bool:
    """A regular file (never a link) that reads back to its last row, stamped ``job`` when given."""
    from engine.errors import OutputError
    from engine.io.oiio_write import check_written

    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return False
    try:
        check_written(path, "openexr" if fmt == "exr" else fmt)
    except OutputError:
        return False
    return job is None or job_stamp(path) == job


def earlier_job_files(out_dir: Path, stem: str, keep_job: str, sources: list[str] = ()) -> list[Path]:
    """Files of an earlier job in ``out_dir``: named like this stem's frames or mattes AND stamped by the
    engine with another job key. Source files, links and unstamped files are never included."""
    pattern = re.compile(rf"^{re.escape(stem)}\.(?:matte_[A-Za-z0-9_]+\.)?-?\d+\.(?:exr|png)$")
    protected = {os.path.realpath(p) for p in sources}
    found = []
    for path in sorted(out_dir.iterdir()):
        if not pattern.match(path.name) or os.path.realpath(path) in protected:
            continue
        stamp = job_stamp(path)
        if stamp is not None and stamp != keep_job:
            found.append(path)
    return found


def check_foreign_files(naming: OutputNaming, frames: list[int], job: str) -> None:
    """Refuse to replace a file at an output name that this engine did not write (no job stamp), or a link
    (the engine never makes one, so any link there is somebody's: never followed, never replaced).

    Empty regular files hold nothing to lose."""
    for frame in frames:
        for path in naming.files(frame):
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                raise foreign_link_error(path)
            if stat.S_ISDIR(st.st_mode):  # a rename cannot replace it: refused before any frame is rendered
                raise OutputError(f"{path.name} in {naming.out_dir} is a folder, so the frame of that name cannot "
                                  "be written",
                                  f"move the folder away, or choose another output folder or {setting('name')}")
            if not stat.S_ISREG(st.st_mode):  # a FIFO, socket or device: somebody's, the rename would delete it
                raise OutputError(f"{path.name} in {naming.out_dir} is not a regular file (a FIFO, socket or device) "
                                  "and would be replaced",
                                  f"move it away, or choose another output folder or {setting('name')}")
            if st.st_size > 0 and job_stamp(path) is None:
                raise OutputError(f"{path.name} in {naming.out_dir} was not written by VToonify Studio "
                                  "and would be overwritten",
                                  f"move it away, or choose another output folder or {setting('name')}")


def foreign_link_error(path: Path) -> OutputError:
    """The refusal of a link at one of the job's file names, saying where it points and the fix."""
    try:
        points = f" (to {os.readlink(path)})"
    except OSError:
        points = ""
    return OutputError(f"{path.name} in {path.parent} is a link{points} that VToonify Studio did not make; the engine "
                       "never writes through a link or replaces one", "remove the link or move it away (what it "
                       f"points at is not needed), or choose another output folder or {setting('name')}")


def check_no_links(folder: Path, names: list[str]) -> None:
    """Refuse a link at any of ``names`` in ``folder`` (the sidecar, the style codes) before the job
    writes anything: the engine never makes links, so one there is somebody's and is left alone."""
    for name in names:
        path = folder / name
        if os.path.islink(path):
            raise foreign_link_error(path)


def frame_digits(frames: list[int]) -> int:
    return max(4, max((len(str(abs(f))) for f in frames), default=4))


@contextlib.contextmanager
def output_folder(path: str) -> Iterator[Path]:
    """Create the output folder, prove it is writable, and remove what was created if the job fails
    before putting anything in it (so a bad input leaves no empty folders behind)."""
    if not os.path.isabs(os.path.expanduser(path)) and _working_folder_gone():
        raise OutputError(f"output folder {path} is relative, but the working folder no longer exists (another "
                          "process removed it), so there is nothing to place it in",
                          f"give {setting('output')} as an absolute path, or cd to an existing folder first")
    try:
        out = Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop: RuntimeError before Python 3.13, then OSError
        raise OutputError(f"output folder {path} cannot be reached: {exc}",
                          f"fix or remove the symlink loop, or give another folder for {setting('output')}") from None
    given = Path(os.path.abspath(os.path.expanduser(path)))  # /proc/self/cwd/x resolves out of /proc
    for shown in (out, given):
        system = system_folder(shown)
        if system is not None:
            raise OutputError(f"output folder {shown} is {'inside ' if str(shown) != system else ''}the system "
                              f"folder {system}; the engine never writes there", "render into a folder of your own")
    try:
        created = _folders_to_create(out)
    except OSError as exc:  # a name longer than the file system holds (pathlib lets ENAMETOOLONG through)
        raise _unusable_folder(out, exc) from None
    check_new_folder_names(created)
    try:
        for folder in reversed(created):  # one level at a time: mkdir(parents=True) recurses once per level
            folder.mkdir(exist_ok=True)
        write_probe(out)
    except OSError as exc:
        _remove_empty(created)  # mkdir may succeed where files may not be made (ACLs, quotas)
        raise OutputError(f"cannot write to output folder {out} ({exc.strerror or exc})",
                          "choose a folder you can write to, or fix its permissions") from None
    from engine.io.atomic import pinned_folder

    with _open_jobs_lock:
        _open_jobs_created.append(created)
    try:
        with pinned_folder(out):  # a folder swapped for a link mid-job stops the job, never redirects it
            yield out
    except BaseException:
        _remove_empty(created)
        raise
    finally:
        with _open_jobs_lock:
            _open_jobs_created.remove(created)


_open_jobs_lock = threading.Lock()
_open_jobs_created: list[list[Path]] = []
"""The folders each job still inside ``output_folder`` created, for ``remove_abandoned_folders``."""


def remove_abandoned_folders() -> None:
    """Remove the still-empty folders of jobs the process gives up on without unwinding them: the CLI
    ends a job stuck in a step that cannot be interrupted (a read on a stalled mount, the face search
    of a huge frame) without waiting for it, so its ``output_folder`` never gets to clean up."""
    with _open_jobs_lock:
        for created in _open_jobs_created:
            _remove_empty(created)


def _folders_to_create(out: Path) -> list[Path]:
    """The folders ``mkdir -p out`` would create, deepest first; OutputError if a file is in the way."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {out} is a file, not a folder", f"give a folder for {setting('output')}")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():  # mkdir would only say "Not a directory"
        raise OutputError(f"output folder {out} cannot be made: {blocker} is a file, not a folder",
                          f"give a folder for {setting('output')} whose parent folders are folders")
    return [p for p in [out, *out.parents] if not p.exists()]


def _unusable_folder(out: Path, exc: OSError) -> OutputError:
    """OutputError for an output folder the file system refuses to even look up, its name cut short."""
    shown = str(out) if len(str(out)) <= 200 else f"{str(out)[:120]}...{str(out)[-40:]}"
    if exc.errno == errno.ENAMETOOLONG:
        longest = max(len(os.fsencode(part)) for part in out.parts)
        fix = (f"use shorter folder names for {setting('output')} (at most 255 bytes each)" if longest > 255 else
               f"use a shorter path for {setting('output')} (at most 4095 bytes in all)")
        return OutputError(f"output folder {shown} has a name too long for the file system (longest "
                           f"{longest} bytes, path {len(os.fsencode(str(out)))} bytes)", fix)
    return OutputError(f"output folder {shown} cannot be used ({exc.strerror or exc})",
                       f"give another folder for {setting('output')}")


def check_new_folder_names(created: list[Path]) -> None:
    """Refuse to create a folder Windows cannot open (``CON``, ``aux``, ``shot.``, ``take 2 ``, ``take:2``), so a
    studio sharing the output over SMB with Windows hosts never gets frames it cannot reach. Folders
    that already exist are the user's and are used as they are."""
    from engine.service.catalog import windows_device_name, windows_forbidden_chars, windows_reserved

    for folder in created:
        name = folder.name
        if not windows_reserved(name):
            continue
        bad = windows_forbidden_chars(name)
        if bad:
            shown = ", ".join(repr(c) for c in bad)
            why = f"holds {shown}, which Windows cannot hold in a name"
            better = "".join("_" if c in bad else c for c in name).rstrip(". ") or "renders"
        elif windows_device_name(name):
            why = "is a name Windows keeps for a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
            better = f"{name.split('.', 1)[0].rstrip(' ')}_renders"
        else:
            why = f"ends in a {'dot' if name.endswith('.') else 'space'}, which Windows drops"
            better = name.rstrip(". ") or "renders"
        raise OutputError(f"output folder {folder} would be created, but its name {name!r} {why}: a Windows host "
                          "could not open it over a shared folder", f"name the folder otherwise, e.g. {better!r}")


def _working_folder_gone() -> bool:
    """True when this process's working folder was removed under it (``os.getcwd`` then fails)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders a failed job created, deepest first; stops at the first that is not empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys",
                  "/usr", "/System")
"""Folders of the operating system (and the filesystem root itself): an output there, e.g. sent over the
socket by a confused or hostile client to an engine running as root, is refused (symlinks resolved)."""
SCRATCH_FOLDERS = ("/dev/shm",)
"""Inside a system folder yet open to every user, as /tmp is (a world-writable tmpfs): Linux's RAM disk, where
TDs render a shot fast before copying it to the show's storage; nothing of the system lives in its files."""


def system_folder(resolved: Path) -> str | None:
    """The system folder that ``resolved`` (an absolute, resolved path) is or lies in, else None."""
    text = resolved.as_posix()
    if text == "/" or (os.name == "nt" and resolved == Path(resolved.anchor)):
        return text
    if os.name == "nt":
        windows = Path(os.environ.get("SystemRoot", "C:/Windows"))
        return str(windows) if resolved == windows or windows in resolved.parents else None
    if any(text == f or text.startswith(f + "/") for f in SCRATCH_FOLDERS):
        return None
    return next((f for f in SYSTEM_FOLDERS if text == f or text.startswith(f + "/")), None)


def check_name_lengths(naming: OutputNaming, frames: list[int], margin: int = 0) -> None:
    """Refuse, before anything is written, a stem whose files (or their temp names, which add the host,
    pid and a random part) would pass the file system's name limit: a 245-character source name
    otherwise fails mid-job with a misleading "cannot be opened (File name too long)"."""
    from engine.errors import ConfigError
    from engine.io.atomic import temp_path_for

    names = [p.name for frame in {frames[0], frames[-1]} for p in naming.files(frame)] if frames else []
    names += [f"{naming.stem}.vtoonify.json", f"{naming.stem}.vtoonify.style.pt"]
    need = max(len(os.fsencode(temp_path_for(naming.out_dir / name).name)) for name in names) + margin
    try:
        limit = int(os.pathconf(naming.out_dir, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer
        limit = 255
    if need > limit:
        raise ConfigError(f"output names for the stem '{naming.stem[:40]}...' ({len(naming.stem)} characters) "
                          f"would be {need} bytes long, over the {limit}-byte file name limit of {naming.out_dir}",
                          f"give a shorter output name ({setting('name')})")


def write_probe(folder: Path) -> None:
    """Prove ``folder`` is writable by creating (exclusively, under a random name) and removing a file."""
    from engine.io.atomic import new_temp

    probe, fd = new_temp(folder / ".vtoonify-write-test")
    os.close(fd)
    os.unlink(probe)


def check_no_clobber(naming: OutputNaming, frames: list[int], source_files: list[str]) -> None:
    """Refuse output names that are source files (e.g. output folder = source folder, same stem). By
    path, and by identity on disk: on a case-insensitive disk (Windows, macOS) ``shot.0001.png`` IS the
    source ``Shot.0001.png`` though no path comparison says so, and a hard link is a source by any name."""
    sources = {os.path.realpath(p) for p in source_files}
    identities = {_identity(p) for p in source_files} - {None}
    for frame in frames:
        for path in naming.files(frame):
            if os.path.realpath(path) in sources or (identities and _identity(path) in identities):
                raise OutputError(
                    f"output file {path.name} would overwrite a source frame in {naming.out_dir}",
                    f"choose another output folder or {setting('name')}")


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` (links followed), None when there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def clean_stale_temps(out_dir: Path, stem: str) -> list[Path]:
    """Delete temp files of this job left by killed processes of this host (their pid is gone).

    Temps of other hosts are left alone: a farm node cannot see another node's processes.
    """
    from engine.io.atomic import remove_stale_temps

    return remove_stale_temps(out_dir, lambda name: name.startswith(stem))


BYTES_PER_OUTPUT_PIXEL = 48
"""Peak bytes per output pixel while a frame is placed and written: float RGBA canvas, the placed crop,
the quantised or half copy handed to the writer, mattes."""


def host_memory() -> tuple[int | None, int | None]:
    """(available, total) bytes of host memory, None where unknown: ``memory.memory_figures``, the one
    place that reads them (tests fake it there)."""
    from engine.pipeline import memory

    return memory.memory_figures("cpu")


def check_frame_memory(out_w: int, out_h: int, fix: str, cause: str = "this job") -> None:
    """Refuse, before allocating, an output frame that does not fit (``check_memory``)."""
    need = int(out_w) * int(out_h) * BYTES_PER_OUTPUT_PIXEL
    check_memory(need, f"{cause} makes {out_w}x{out_h} output frames that need about {need / 2**30:.1f} GiB of "
                       "memory each", fix)


def check_memory(need: int, what: str, fix: str) -> None:
    """Refuse ``need`` bytes that do not fit: more than the machine has at all (exit 2, ``fix``), or more
    than is free now because other processes hold memory (exit 75: a farm retries the task later or on
    another worker), as ``engine.pipeline.memory`` decides for faces."""
    from engine.errors import ConfigError, DeviceOutOfMemoryError

    available, total = host_memory()
    if total is not None and need > total:
        raise ConfigError(f"{what}, more than the {total / 2**30:.1f} GiB this machine has", fix)
    if available is not None and need > available:
        raise DeviceOutOfMemoryError(f"{what}, but only {available / 2**30:.1f} GiB is free now "
                                     "(other processes hold the rest)",
                                     f"retry when memory is free, or on another worker; or {fix}")


def check_rescale_memory(crops, source_size: tuple[int, int]) -> None:
    """The official crop resizes the whole plate by its scale before cutting the face out, so a small face
    on a large plate needs scale squared times the plate (eyes 13 px apart on a 4096x6144 plate: scale 4.8,
    a 19661x29491 frame of 1.6 GiB). Checked once the crops are known, so such a job is refused with the
    fix instead of failing inside OpenCV's resize as an internal error."""
    crop = max(crops, key=lambda c: c.w * c.h)
    need = int(crop.w) * int(crop.h) * 3
    w, h = int(source_size[0]), int(source_size[1])
    check_memory(need, f"the face is small in this {w}x{h} plate: the official crop scales the whole frame by "
                       f"{crop.scale:.2f} to {crop.w}x{crop.h} (about {need / 2**30:.1f} GiB) before cutting the "
                       "face out",
                 "crop the plate around the face (or scale it down) before rendering, so the face fills more of it")


def check_output_memory(config, source_size: tuple[int, int]) -> None:
    """Up-front check of a plate-space job's frame size (``--scale 8`` on an 8K plate), with the fix."""
    if config.output_space != "plate":
        return  # crop-space frames are sized by the face; FrameWriter checks them once it is known
    w, h = int(source_size[0]), int(source_size[1])
    scale = float(config.scale)
    available, total = host_memory()
    per_pixel = max(w * h * BYTES_PER_OUTPUT_PIXEL, 1)
    never = total is not None and per_pixel * scale * scale > total   # then the scale that ever fits
    fitting = ((total if never else available or 0) / per_pixel) ** 0.5
    fix = (f"use {setting('scale', max(0.05, int(fitting * 100) / 100))} or less on this {w}x{h} "
           f"plate, or {setting('output_space', 'crop')}" if fitting >= 0.05 else
           "render on a machine with more memory")
    check_frame_memory(max(1, round(w * scale)), max(1, round(h * scale)), fix,
                       f"{setting('scale', scale)} on a {w}x{h} plate")
