"""Whose process ids a file name's pid is: the tag that temp and journal names carry (stdlib only, so the
service can use it without importing the media libraries that ``engine.io`` loads)."""

from __future__ import annotations

import os
import socket

INITIAL_PID_NAMESPACE = 0xEFFFFFFC
"""The inode Linux gives the host's own PID namespace (``PROC_PID_INIT_INO``)."""


def pid_namespace() -> int | None:
    """The inode of this process's PID namespace; None where there is no ``/proc`` (macOS, Windows)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def host_tag() -> str:
    """This machine's name, reduced to characters that are safe in a file name, plus ``_pidns<inode>``
    inside a container. Containers can share the host's name (Docker with host networking takes it) while
    each numbers its processes anew, so without it one container's job took another's live temp for a dead
    process's leftover and deleted it mid-write."""
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in socket.gethostname().split(".")[0] or "host")
    space = pid_namespace()
    return name if space in (None, INITIAL_PID_NAMESPACE) else f"{name}_pidns{space}"
