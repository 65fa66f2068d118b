"""Atomic file writes: write to a hidden temp name in the target folder, then ``os.replace``.

Why: farm chunks and ``--resume`` decide "is frame N done?" by the file existing, so a file must
never exist half-written. The temp file sits in the same folder (same filesystem, so the rename is
atomic) and is named ``.<name>.<pid>.tmp`` so it is hidden and cannot be mistaken for output.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from engine.errors import EngineError, OutputError


def temp_path_for(path: str | os.PathLike) -> Path:
    """The hidden temp name used while ``path`` is being written: ``.<name>.<host>-<pid>.tmp``.

    The host is part of the name because farm nodes share output folders: only the node that wrote a
    temp can tell whether its process is gone (``engine.pipeline.outputs.clean_stale_temps``).
    """
    target = Path(path)
    return target.with_name(f".{target.name}.{host_tag()}-{os.getpid()}.tmp")


def host_tag() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    name = socket.gethostname().split(".")[0] or "host"
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to write; on success rename it onto ``path``, on any failure delete it.

    The folder must already exist (the engine creates the output folder once, up front); a missing
    or read-only folder raises OutputError naming it.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist", "create it or pick another output folder")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable", "check its permissions or pick another folder")
    temp = temp_path_for(target)
    try:
        yield temp
        if not temp.exists():
            raise OutputError(f"nothing was written for {target}", "check free disk space and permissions")
        os.replace(temp, target)
    except EngineError:
        _remove_quietly(temp)
        raise
    except OSError as exc:
        _remove_quietly(temp)
        raise OutputError(f"could not write {target}: {exc.strerror or exc}",
                          "check free disk space and folder permissions") from exc
    except BaseException:
        _remove_quietly(temp)
        raise
