"""Atomic file writes: write to a hidden temp name in the target folder, check it, then ``os.replace``.

Why: farm chunks and ``--resume`` decide "is frame N done?" by the file existing, so a file must
never exist half-written. The temp file sits in the same folder (same filesystem, so the rename is
atomic) and is named ``.<name>.<host>-<pid>.<random>.tmp`` so it is hidden and cannot be mistaken for
output. It is created here with ``O_CREAT|O_EXCL|O_NOFOLLOW`` under a name nobody can predict, so a
link planted in the folder is never written through; the rename checks it is still the file created, and
never replaces a link at the target name (the engine makes none, so a link there is somebody's).
Writers that open by name (OIIO) get a name that reopens the created file itself (``atomic_reopenable``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.errors import DiskFullError, EngineError, OutputError, setting
from engine.host_name import host_tag
from engine.io import write_gate

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_EXCLUSIVE = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
LOW_SPACE_BYTES = 1 << 20
"""Free space under which a failed write is reported as a full disk (writers that hide the errno)."""


def temp_path_for(path: str | os.PathLike, token: str | None = None) -> Path:
    """A hidden temp name for writing ``path``: ``.<name>.<host>-<pid>.<random>.tmp``.

    The host and pid are part of the name because farm nodes share output folders: only the node that
    wrote a temp can tell whether its process is gone (``engine.pipeline.outputs.clean_stale_temps``).
    The random part makes the name unpredictable, so nobody can plant a link there in advance.
    """
    target = Path(path)
    token = token or secrets.token_hex(6)
    return target.with_name(f".{target.name}.{host_tag()}-{os.getpid()}.{token}.tmp")


TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)(?:\.[0-9a-f]{12})?\.tmp$")
"""A temp name of :func:`temp_path_for` (``.<name>.<host>-<pid>[.<random>].tmp``)."""


def remove_stale_temps(folder: Path, wanted: Callable[[str], bool] = lambda name: True) -> list[Path]:
    """Delete this host's temps in ``folder`` whose process is gone (killed mid-write: the rename never
    came) and whose target name passes ``wanted``; returns them.

    Why here: every writer that goes through this module can leave one, and only the host that made it can
    tell its process is gone. Temps of live processes, of other hosts, links and other hidden files stay.
    """
    from engine.service.connection import pid_alive  # stdlib-only; also knows Windows

    here = host_tag()
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = TEMP_NAME.match(entry.name)
        if not m or m.group("host") != here or not wanted(m.group("name")):
            continue
        if pid_alive(int(m.group("pid"))) or entry.is_symlink():
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def create_exclusive(path: Path, mode: int = 0o666, dirfd: int | None = None) -> int:
    """Create ``path`` (its name inside the open folder ``dirfd``, when given) as a new regular file and
    return its fd; never opens an existing file or link.

    ``0o666`` less the process's umask, as ``touch`` or ``cp`` would: a studio running with umask 002 in
    group-shared folders gets 0664 files its whole group may write (a fixed 0644 kept the group out), and
    umask 077 keeps them private."""
    return os.open(path.name if dirfd is not None else path, _EXCLUSIVE, mode, dir_fd=dirfd)


def new_temp(target: Path, attempts: int = 8, dirfd: int | None = None) -> tuple[Path, int]:
    """Create a fresh temp file beside ``target`` (in the open folder ``dirfd``, when given): (path, open
    fd). A name that exists is skipped."""
    for _ in range(attempts):
        temp = temp_path_for(target)
        try:
            return temp, create_exclusive(temp, dirfd=dirfd)
        except FileExistsError:
            continue
    raise OutputError(f"cannot create a temporary file beside {target}: every name tried exists",
                      "remove stray hidden files from the output folder")


def is_disk_full(exc: BaseException | None, folder: Path) -> bool:
    """True for ENOSPC/EDQUOT, or when a writer failed without an errno and the volume is (nearly) full."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < LOW_SPACE_BYTES


def disk_full_error(target: Path) -> DiskFullError:
    return DiskFullError(f"the disk holding {target.parent} is full or over quota; {target.name} was not written",
                         f"free space (or raise the quota) and run again with {setting('resume', True)}")


class TargetExistsError(OutputError):
    """``replace=False`` and a file (or link) already sits at the target name; nothing was written there."""


def _rename_new(temp: Path, target: Path, dirfd: int | None = None) -> None:
    """Rename that never replaces: a hard link fails when the name is taken (atomic); file systems
    without hard links fall back to a check and a rename."""
    at = _At(dirfd)
    try:
        os.link(at.name(temp), at.name(target), src_dir_fd=dirfd, dst_dir_fd=dirfd, follow_symlinks=False)
    except FileExistsError:
        raise TargetExistsError(f"{target} already exists", "pick another name") from None
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}:
            raise
        if at.exists(target):
            raise TargetExistsError(f"{target} already exists", "pick another name") from None
        os.rename(at.name(temp), at.name(target), src_dir_fd=dirfd, dst_dir_fd=dirfd)
        return
    os.unlink(at.name(temp), dir_fd=dirfd)


class _At:
    """Names relative to an open folder (``dirfd``: the folder checked, even if its path is swapped for a
    link meanwhile), or whole paths where the system has no ``dir_fd`` (Windows)."""

    def __init__(self, dirfd: int | None) -> None:
        self.dirfd = dirfd

    def name(self, path: Path) -> str:
        return path.name if self.dirfd is not None else os.fspath(path)

    def lstat(self, path: Path) -> os.stat_result:
        return os.lstat(self.name(path), dir_fd=self.dirfd)

    def exists(self, path: Path) -> bool:
        try:
            self.lstat(path)
        except FileNotFoundError:
            return False
        return True


def refuse_link(target: Path, at: _At) -> None:
    """OutputError if a link sits at ``target``: the engine makes no links, so one there is somebody's and
    is never replaced (jobs refuse them up front; this catches one planted while the job ran)."""
    try:
        if not stat.S_ISLNK(at.lstat(target).st_mode):
            return
    except OSError:
        return
    raise OutputError(f"{target.name} in {target.parent} is a link the engine did not make; it was not replaced "
                      "(nor what it points at)", "remove the link or move it away, then run again with "
                      f"{setting('resume', True)} (it keeps the frames already written)")


def _same_file(temp: Path, created: os.stat_result, dirfd: int | None = None) -> bool:
    try:
        now = _At(dirfd).lstat(temp)
    except OSError:
        return False
    return stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino)


# --- the output folder of a job, pinned ------------------------------------------------------------
# A job checks its output folder once; if someone who may write into the folder ABOVE it then swaps the
# folder for a link (or another folder), path-based writes would land wherever that link points. While
# a folder is pinned, every write into it goes through the folder opened at the time of the write AND
# that folder must be the one pinned, so a swap stops the job instead of redirecting its files.

_pinned: dict[str, tuple[int, int, int]] = {}
"""Folder path -> (device, inode, number of jobs that pinned it)."""
_pinned_lock = threading.Lock()


@contextlib.contextmanager
def pinned_folder(folder: Path) -> Iterator[None]:
    """Pin ``folder`` (as it is now) for the duration of a job (see above)."""
    key = os.fspath(folder)
    now = os.stat(folder)
    with _pinned_lock:
        _, _, count = _pinned.get(key, (0, 0, 0))
        _pinned[key] = (now.st_dev, now.st_ino, count + 1)  # a re-made folder: the earlier job's is gone
    try:
        yield
    finally:
        with _pinned_lock:
            dev, ino, count = _pinned.get(key, (0, 0, 1))
            if count <= 1:
                _pinned.pop(key, None)
            else:
                _pinned[key] = (dev, ino, count - 1)


def _open_folder(folder: Path) -> int | None:
    """The folder as an open fd (None where ``dir_fd`` is not supported), checked against its pin."""
    if os.open not in os.supports_dir_fd or not hasattr(os, "O_DIRECTORY"):
        return None
    dirfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    with _pinned_lock:
        pin = _pinned.get(os.fspath(folder))
    if pin is not None:
        st = os.fstat(dirfd)
        if (st.st_dev, st.st_ino) != pin[:2]:
            os.close(dirfd)
            raise OutputError(f"output folder {folder} was replaced (by a link or another folder) while the job ran; "
                              "nothing more is written there", "check who else writes into the folder above it, "
                                                               f"then render again with {setting('resume', True)}")
    return dirfd


@contextlib.contextmanager
def _atomic_temp(path: str | os.PathLike, verify: Callable[[Path], None] | None,
                 replace: bool = True) -> Iterator[tuple[Path, int]]:
    """Create the temp exclusively, yield (temp, open fd), then check it and rename it onto ``path``
    (``replace=False``: only if that name is free, else TargetExistsError). Held open in ``write_gate``,
    so a process giving up on its job waits for this file rather than leave it half-written."""
    with write_gate.writing():
        yield from _gated_temp(path, verify, replace)


def _gated_temp(path: str | os.PathLike, verify: Callable[[Path], None] | None,
                replace: bool) -> Iterator[tuple[Path, int]]:
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist", "create it or pick another output folder")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable", "check its permissions or pick another folder")
    dirfd = _open_folder(folder)
    at = _At(dirfd)
    try:
        temp, fd = new_temp(target, dirfd=dirfd)
    except OSError as exc:
        _close(dirfd)
        if is_disk_full(exc, folder):
            raise disk_full_error(target) from exc
        raise OutputError(f"could not write {target}: {exc.strerror or exc}", "check folder permissions") from exc
    except BaseException:
        _close(dirfd)
        raise
    created = os.fstat(fd)
    held = [fd]
    """The temp's fd while it is open: closed before the temp is renamed or removed, because Windows
    refuses to rename or delete a file that any handle still holds (a sharing violation)."""

    def close_temp() -> None:
        if held:
            with contextlib.suppress(OSError):
                os.close(held.pop())

    def remove_temp() -> None:
        close_temp()
        with contextlib.suppress(OSError):
            os.unlink(at.name(temp), dir_fd=dirfd)

    try:
        yield temp, fd
        if not _same_file(temp, created, dirfd):
            raise OutputError(f"the temporary file for {target.name} was replaced while it was written",
                              "make sure no other program writes into the output folder")
        if os.fstat(fd).st_size == 0:
            raise OutputError(f"nothing was written for {target}", "check free disk space and permissions")
        if verify is not None:
            verify(Path(fd_name(fd) or temp))  # the file written, whatever its name points at now
        close_temp()
        if replace:
            refuse_link(target, at)  # never replaces a link it did not make (it makes none)
            os.replace(at.name(temp), at.name(target), src_dir_fd=dirfd, dst_dir_fd=dirfd)
        else:
            _rename_new(temp, target, dirfd)
    except (DiskFullError, TargetExistsError):
        remove_temp()
        raise
    except EngineError as exc:
        full = isinstance(exc, OutputError) and is_disk_full(None, folder)  # before the temp frees space
        remove_temp()
        if full:
            raise disk_full_error(target) from exc
        raise
    except OSError as exc:
        full = is_disk_full(exc, folder)
        remove_temp()
        if full:
            raise disk_full_error(target) from exc
        if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST) and os.path.isdir(target):
            raise OutputError(f"{target.name} in {folder} is a folder, so the file of that name cannot be written",
                              f"move the folder away, or choose another output folder or {setting('name')}") from exc
        raise OutputError(f"could not write {target}: {exc.strerror or exc}",
                          "check free disk space and folder permissions") from exc
    except BaseException:
        remove_temp()
        raise
    finally:
        close_temp()
        _close(dirfd)


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, verify: Callable[[Path], None] | None = None, *,
                replace: bool = True) -> Iterator[Path]:
    """Yield a freshly created, empty temp path to write (for writers that take a name, such as OIIO);
    on success rename it onto ``path``.

    ``verify(temp)`` runs before the rename and raises OutputError if the file is not complete (a writer
    that failed silently). On any failure the temp is deleted; a full disk raises DiskFullError. The
    folder must already exist (the engine creates the output folder once, up front). ``replace=False``
    never replaces a file already at ``path`` (TargetExistsError, the temp is deleted).
    """
    with _atomic_temp(path, verify, replace) as (temp, _fd):
        yield temp


@contextlib.contextmanager
def atomic_reopenable(path: str | os.PathLike, verify: Callable[[Path], None] | None = None, *,
                      replace: bool = True) -> Iterator[str]:
    """Like ``atomic_path``, for writers that open the file again by name (OIIO): yields a name that reopens
    the very file created here (Linux: ``/proc/self/fd/N``), so a temp swapped for a link in the instant
    after it was created (someone watching the folder sees its name) is never written through; the swap
    is then reported and nothing is renamed. Where there is no such name, the temp's own name."""
    with _atomic_temp(path, verify, replace) as (temp, fd):
        yield fd_name(fd) or str(temp)


def fd_name(fd: int) -> str | None:
    """A path that opens the file behind ``fd`` itself, not whatever its name points at now; None where
    the system has none (``/proc/self/fd`` is Linux's; macOS's ``/dev/fd`` would share the fd instead)."""
    name = f"/proc/self/fd/{fd}"
    return name if os.path.exists(name) else None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator:
    """Like ``atomic_path`` but yields the temp as a file object on the exclusively created fd (Python
    writers: JSON, torch.save), so nothing is reopened by name."""
    with _atomic_temp(path, None) as (_temp, fd):
        fh = os.fdopen(os.dup(fd), mode, **kwargs)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
