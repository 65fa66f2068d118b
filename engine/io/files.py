"""Refuse anything but a regular file as media, before it is opened.

Why: opening a FIFO for reading blocks until a writer appears, a socket or device never ends, so one
typo (or a hostile path sent to the service) would wedge the CLI or a service worker. ``stat`` never
blocks on these, so the check runs first; links are followed (a plate may be a link to a real file).
"""

from __future__ import annotations

import os
import stat

from engine.errors import InputError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def require_regular_file(path: str | os.PathLike) -> None:
    """Raise InputError unless ``path`` is (a link to) an existing regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):  # a sequence member linked to a render that was moved or deleted
            raise InputError(f"{path} is a link that leads nowhere (its target {os.readlink(path)} is missing)",
                             "point the link at the media file, or replace it with the file itself") from None
        raise InputError(f"no such file: {path}", "check the path") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", "check the path and its permissions") from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise InputError(f"{path} is {kind}, not a media file",
                     "give a video, an image, or a sequence pattern such as shot.####.exr")


def require_utf8_path(text: str) -> None:
    """Raise InputError when ``text`` holds bytes that are not UTF-8 (a Latin-1 name copied off an old
    drive): OpenImageIO and FFmpeg take UTF-8 names only and would fail with an internal error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text).decode("utf-8", "backslashreplace")
        raise InputError(f"the path {shown} is not UTF-8 text (a name from another encoding), which the "
                         "media readers cannot open", "rename the file or folder to a UTF-8 name, e.g. "
                         "convmv -f latin1 -t utf-8 --notest NAME") from None
