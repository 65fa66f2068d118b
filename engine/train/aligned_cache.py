"""The aligned style images of ``train finetune`` on disk (``OUT/vtoonify_t_NAME/finetune_aligned/``).

Why: a studio may point the fine-tuning at thousands of images, and at 1024 px each aligned face is
3 MiB; held in memory, the run's footprint would grow with the folder. So each image is aligned once,
written atomically as a ``.npy`` array (uint8 [3, S, S]) and read back per batch.

Each file is named by a SHA-256 of the source file's bytes and the alignment settings (size, dlib or
``--aligned``, this format's version): a resumed or repeated run reuses it, an edited source gets a new
name and is aligned again, and after a complete scan the entries no source names any more are removed.
The folder carries a mark (``cache.json``) written when it was made: a folder of that name without the
mark, a link in place of the folder or of an entry, or an entry of the wrong size is never followed,
read as pixels or replaced without a word (links and foreign folders are refused, damaged entries of
ours are aligned again). Sizes are checked from the ``.npy`` header before anything is allocated.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from engine.errors import InputError, OutputError

CACHE_DIR = "finetune_aligned"
MARK_FILE = "cache.json"
FORMAT = "vtoonify-studio-aligned/1"
"""Also part of every entry's name: a change of the alignment rule bumps it, so old entries are unused."""
READER = "pixels/2"
"""How a source file's pixels are read, also part of every entry's name: 2 keeps a 16-bit grey image's
tones (1 clipped them to white), so entries read the old way are not reused (the folder's mark, FORMAT,
stays: an earlier folder is still ours)."""
ENTRY = re.compile(r"^([0-9a-f]{64})\.npy$")
LEFTOVER = re.compile(r"^\.[0-9a-f]{64}\.npy\..+\.tmp$")
"""The hidden temp name of an entry being written (engine.io.atomic); one left by a killed run."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def content_hash(path: Path) -> str:
    """SHA-256 of a source file's bytes (read in 1 MiB chunks; a link is not opened)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry_key(content: str, size: int, aligned: bool) -> str:
    """The cache name of one source: its content hash and how it is aligned."""
    how = "aligned-centre-square" if aligned else "dlib68-ffhq-quad"
    return hashlib.sha256(f"{FORMAT}|{READER}|{size}|{how}|{content}".encode()).hexdigest()


class AlignedCache:
    """One run's folder of aligned images, all ``[3, size, size]`` uint8."""

    def __init__(self, folder: Path, size: int):
        self.folder = Path(folder)
        self.size = size
        self.shape = (3, size, size)

    # --- the folder ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create the folder with its mark, or check that the one there is ours (OutputError if not)."""
        folder = self.folder
        fix = f"remove or rename {folder} (it only holds aligned copies; they are made again)"
        if folder.is_symlink():
            raise OutputError(f"{folder} is a link; training never writes through a link it did not make", fix)
        mark = folder / MARK_FILE
        if folder.exists():
            if not folder.is_dir():
                raise OutputError(f"{folder} is a file, not the aligned-image folder of `train finetune`", fix)
            if not self._marked():
                raise OutputError(f"{folder} is not an aligned-image folder of `train finetune` (no {MARK_FILE} "
                                  "of ours in it); training never writes into a folder it did not make", fix)
            return
        try:
            folder.mkdir()
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror or exc}", "pick another --out folder") from None
        from engine.io.atomic import atomic_open

        with atomic_open(mark, "w") as fh:
            json.dump({"format": FORMAT, "size": self.size}, fh)

    def _marked(self) -> bool:
        mark = self.folder / MARK_FILE
        if mark.is_symlink() or not mark.is_file() or mark.stat().st_size > 4096:
            return False
        try:
            return json.loads(mark.read_text()).get("format") == FORMAT
        except (OSError, ValueError, UnicodeDecodeError, AttributeError):
            return False

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    # --- entries ------------------------------------------------------------------------------

    def read(self, key: str) -> np.ndarray | None:
        """The entry's pixels, or None when there is none or it is damaged (wrong header or size).
        A link in its place is an OutputError (never followed, never replaced)."""
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP or path.is_symlink():
                raise OutputError(f"{path} is a link; the aligned-image folder holds only files `train finetune` "
                                  "wrote", f"remove {path} (it is aligned again)") from None
            raise
        with os.fdopen(fd, "rb") as f:
            return self._parse(f)

    def _parse(self, f) -> np.ndarray | None:
        """Check the ``.npy`` header (shape, dtype, order) and the file's length, then read the pixels."""
        fmt = np.lib.format
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                return None
        except (ValueError, OSError, SyntaxError):
            return None
        count = int(np.prod(self.shape))
        if tuple(shape) != self.shape or dtype != np.uint8 or fortran:
            return None
        if os.fstat(f.fileno()).st_size - f.tell() != count:
            return None
        data = f.read(count)
        if len(data) != count:
            return None
        return np.frombuffer(data, np.uint8).reshape(self.shape)

    def load(self, key: str) -> np.ndarray:
        """An entry the scan of this run found or wrote; InputError if it went missing since."""
        pixels = self.read(key)
        if pixels is None:
            raise InputError(f"the aligned image {self.path(key)} vanished or changed while training ran",
                             "leave the run's folder alone while it trains; run the same command with "
                             "--resume auto (it aligns the image again)")
        return pixels

    def write(self, key: str, pixels: np.ndarray) -> None:
        """Write an entry atomically (a damaged one of ours is replaced; a link there is refused by read).
        Not fsynced: a copy that a power cut leaves short fails the length check and is aligned again."""
        from engine.io.atomic import atomic_reopenable

        if pixels.shape != self.shape or pixels.dtype != np.uint8:
            raise ValueError(f"aligned image of shape {pixels.shape} {pixels.dtype}, expected {self.shape} uint8")
        path = self.path(key)
        if path.is_symlink():
            raise OutputError(f"{path} is a link; training never replaces it", f"remove {path}")
        with atomic_reopenable(path) as name, open(name, "wb") as fh:  # the created temp itself, never a link
            np.save(fh, np.ascontiguousarray(pixels), allow_pickle=False)

    def prune(self, keep: set[str]) -> int:
        """Remove the entries (and leftover temp files) no current source names; returns how many.
        Only regular files named as entries are touched."""
        removed = 0
        for entry in self.folder.iterdir():
            match = ENTRY.match(entry.name)
            stale = (match is not None and match.group(1) not in keep) or LEFTOVER.match(entry.name) is not None
            if not stale:
                continue
            if entry.is_symlink() or not entry.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
        return removed
