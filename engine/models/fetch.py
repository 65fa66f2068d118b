"""``models fetch``: download the official files from Hugging Face, resumably and verified.

Only runs when explicitly called (the engine never touches the network on its own). Each file is
streamed into ``<file>.part`` (an HTTP Range request continues a cut download), hashed, checked
against a pinned sha256 or the sha256 that Hugging Face reports for LFS files (``X-Linked-Etag``),
recorded in ``<models_dir>/SHA256SUMS`` (``sha256sum -c`` format) and renamed into place atomically,
so a half-written or wrong file never carries the real name. A body that does not start like its kind
of file (a Wi-Fi login page or proxy error answering every URL with 200) is deleted before any
checksum is recorded: with no published checksum it would otherwise be kept as the model.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from engine.errors import DiskFullError, ModelFileError, NetworkInterruptedError, OfflineError
from engine.failures import DISK_FULL_ERRNOS
from engine.models.inventory import models_command, unreadable_fix, unreadable_problem

HF_BASE_URL = "https://huggingface.co/PKUWilliamYang/VToonify/resolve/main/models/"
SUMS_FILE = "SHA256SUMS"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

ProgressCallback = Callable[[str, int, "int | None"], None]
"""progress(relpath, bytes_done, bytes_total_or_None), called as data arrives."""


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file."""

    relpath: str
    path: str
    sha256: str
    bytes: int
    verified: bool
    """True when the hash matched a pinned or server-reported sha256 (False: recorded on first use)."""
    skipped: bool = False
    """Already present and matching SHA256SUMS: nothing was downloaded."""
    kept_as: str = ""
    """Where a different file found at this name, which fetch had not written, was moved (never overwritten)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VerifyResult:
    relpath: str
    status: str
    """'ok', 'missing', 'mismatch', 'unreadable (<why>)', 'symlink loop', 'dangling symlink', 'a folder, not a
    file', 'not a regular file (a FIFO, socket or device)' or 'refused: <why>' (an entry outside the folder)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _check_relpath(relpath: str) -> str:
    """Reject paths that would escape the models folder (absolute, '..', backslashes)."""
    pure = PurePosixPath(relpath)
    if not relpath or pure.is_absolute() or ".." in pure.parts or "\\" in relpath or ":" in relpath:
        raise ModelFileError(f"bad model file name {relpath!r}", "use paths relative to the models folder")
    return pure.as_posix()


def link_problem(path: str | Path) -> str | None:
    """'symlink loop' / 'dangling symlink' when ``path`` is a link that leads nowhere, else None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if os.path.islink(path):
            return "dangling symlink"
    return None


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def read_sums(models_dir: str | Path) -> dict[str, str]:
    """relpath -> sha256 from ``SHA256SUMS`` (missing file -> empty)."""
    sums_path = Path(models_dir) / SUMS_FILE
    if not sums_path.is_file():
        return {}
    sums: dict[str, str] = {}
    try:
        raw = sums_path.read_bytes()
    except PermissionError:
        raise ModelFileError(f"{sums_path} cannot be read (permission denied)",
                             f"let the engine's user read it (e.g. `chmod a+r {sums_path}`)") from None
    # surrogateescape: `sha256sum *` in a folder with a Latin-1 file name writes that name's raw bytes; they
    # come back as the name os.listdir gives for the file (and are written back unchanged)
    for line in raw.decode("utf-8", "surrogateescape").splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and _SHA256_RE.match(parts[0].lower()):
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


MAX_DOWNLOAD_BYTES = 4 << 30
"""Most bytes read for one file (the largest official model, encoder.pt, is about 1.2 GB)."""


def _partial_size(part: Path, relpath: str, models_dir: Path) -> int:
    """Bytes of an earlier partial download at ``part`` to resume from (0: none). A link or anything but
    a regular file there was not left by a download: refused, never written through."""
    try:
        info = os.lstat(part)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(info.st_mode):
        kind = "a link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise ModelFileError(f"{part} (where {relpath} is downloaded) is {kind}, not a partial download",
                             f"remove it, then run {_fetch_again(models_dir)}")
    return info.st_size


def _write_sums(models_dir: Path, sums: Mapping[str, str]) -> None:
    """Rewrite SHA256SUMS atomically (temp file in the same folder, then os.replace). The temp is made with
    the umask's mode, not mkstemp's 0600: in a shared models folder other users read (and a colleague's
    fetch rewrites) the sums file."""
    from engine.io.atomic import create_exclusive, temp_path_for

    text = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(sums.items()))
    tmp = temp_path_for(models_dir / SUMS_FILE)
    fd = create_exclusive(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)
        os.replace(tmp, models_dir / SUMS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects and keeps each hop's headers: Hugging Face sends ``X-Linked-Etag`` (the LFS
    sha256) on the first 302 response, not on the CDN response that carries the bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.hop_headers: list[Mapping[str, str]] = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hop_headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _server_sha256(headers_list: Iterable[Mapping[str, str]]) -> str | None:
    """The sha256 a server states for a file: ``X-Linked-Etag`` (LFS) or an ETag that is a sha256."""
    for headers in headers_list:
        for name in ("X-Linked-Etag", "ETag"):
            value = headers.get(name)
            if not value:
                continue
            value = value.strip()
            value = value.removeprefix("W/")
            value = value.strip('"').lower()
            if _SHA256_RE.match(value):
                return value
    return None


def _fetch_again(models_dir: Path) -> str:
    """'the same fetch again', as a command to paste (``engine.commands``)."""
    return f"`{models_command('fetch', models_dir=models_dir)}` again"


def _hiccup(exc: BaseException) -> str | None:
    """'timed out' / 'connection reset' when ``exc`` (or the reason a URLError wraps) is a network hiccup a
    retry gets past: a stalled server or proxy, a dropped connection. None for anything else (a refused
    connection, an unknown host, an HTTP error), which a retry would meet again."""
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, http.client.IncompleteRead)):
        return "connection reset"
    return None


_RETRY = "it may be retried"
"""Said in the message of a download stopped by a network hiccup: the farm's retry (exit 75) is the fix."""


def _retry_fix(models_dir: Path) -> str:
    return (f"retry the task (a farm requeues it), or run {_fetch_again(models_dir)} to resume (with the --style "
            "and --backbone given before)")


def _offline(base_url: str, models_dir: Path, reason: object) -> OfflineError:
    parsed = urlparse(base_url)
    host = parsed.netloc or base_url
    return OfflineError(
        f"cannot reach {host} to download models ({reason})",
        f"check the network, or copy the files by hand into {models_dir}, see "
        f"`{models_command('list', models_dir=models_dir)}`",
    )


_MAGIC = {".pt": (b"PK\x03\x04", b"\x80"), ".pth": (b"PK\x03\x04", b"\x80"), ".npy": (b"\x93NUMPY",)}
"""How each kind of model file starts: torch.save's zip archive (or the legacy format's pickle), numpy's .npy."""


def _not_a_model_file(relpath: str, part: Path, content_type: str) -> str | None:
    """What the server sent instead of ``relpath`` (a captive portal's HTML page, a proxy's error text),
    or None when it starts like such a model file (or is of a kind not checked here)."""
    starts = _MAGIC.get(PurePosixPath(relpath).suffix.lower())
    if starts is None:
        return None
    with open(part, "rb") as handle:
        head = handle.read(16)
    if any(head.startswith(magic) for magic in starts):
        return None
    page = content_type.lower().startswith("text/html") or head.lstrip()[:1] == b"<"
    what = ("a web page" if page else "an empty body" if not head
            else f"data that is not a {PurePosixPath(relpath).suffix} file")
    return f"{what} (starting {head!r}{f', Content-Type {content_type[:60]}' if content_type else ''})"


_NOT_WRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def _not_writable(path: Path, exc: OSError) -> ModelFileError:
    """A models folder ``fetch`` may not write (permissions, a read-only disk): the user's to fix, not a
    cut download to resume (what the message said before) nor an internal error."""
    return ModelFileError(f"cannot write {path} ({exc.strerror or exc})",
                          "let the engine's user write the models folder (or mount it writable), or pass --models "
                          "with a folder you can write")


def _keep_aside(dest: Path) -> Path:
    """Move a file fetch did not write (copied in by hand, a studio's own model, a link) out of the way of
    the download, to the first free ``<name>.old[N]``: fetch never overwrites what it did not write."""
    for n in range(1000):
        kept = dest.with_name(f"{dest.name}.old{n or ''}")
        if not os.path.lexists(kept):
            os.rename(dest, kept)
            return kept
    raise ModelFileError(f"{dest} is in the way of the download and {dest.name}.old ... .old999 are taken",
                         f"move {dest} away, then run the fetch again")


def _discard(part: Path, new_folders: list[Path]) -> None:
    """Delete a rejected download and the folders made for it (deepest first): no trace is left."""
    part.unlink(missing_ok=True)
    _remove_empty(new_folders)


def _remove_empty(new_folders: list[Path]) -> None:
    for folder in new_folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _download_one(
    relpath: str,
    models_dir: Path,
    base_url: str,
    expected: str | None,
    progress: ProgressCallback | None,
    timeout_s: float,
    chunk_bytes: int,
    recorded: bool = False,
) -> FetchResult:
    """One file into place; ``recorded``: SHA256SUMS lists it, so a file at its name is fetch's own."""
    dest = models_dir / relpath
    part = dest.with_name(dest.name + ".part")
    if dest.is_dir() or (os.path.lexists(dest) and not os.path.islink(dest) and not dest.is_file()):
        kind = "a folder" if dest.is_dir() else "not a regular file"  # os.replace would fail after the download
        raise ModelFileError(f"{dest} is {kind}, where `models fetch` puts {relpath}",
                             f"move it away, then run {_fetch_again(models_dir)}")
    new_folders = [p for p in [dest.parent, *dest.parent.parents] if not p.exists()]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in _NOT_WRITABLE_ERRNOS:
            raise _not_writable(dest.parent, exc) from None
        raise ModelFileError(f"cannot make the folder {dest.parent} for {relpath} ({exc.strerror or exc}): "
                             "something that is not a folder is in the way",
                             f"move it away, then run {_fetch_again(models_dir)}") from None
    have = _partial_size(part, relpath, models_dir)
    url = base_url.rstrip("/") + "/" + relpath
    request = urllib.request.Request(url, headers={"User-Agent": "vtoonify-studio"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)
    try:
        response = opener.open(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is already complete (or longer than the file)
            part.unlink()
            return _download_one(relpath, models_dir, base_url, expected, progress, timeout_s, chunk_bytes, recorded)
        if exc.code in (401, 403, 404):
            raise ModelFileError(
                f"{url} is not available (HTTP {exc.code})",
                f"check the file name against `{models_command('list', models_dir=models_dir)}`",
            ) from None
        raise _offline(base_url, models_dir, f"HTTP {exc.code} for {relpath}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        _remove_empty(new_folders)  # nothing was written: leave no empty family folder behind
        hiccup = _hiccup(exc)
        if hiccup is not None:
            host = urlparse(url).netloc or url
            waited = f" within {timeout_s:g} s" if hiccup == "timed out" else ""
            raise NetworkInterruptedError(f"{host} did not answer the download of {relpath}{waited} ({hiccup}); "
                                          f"{_RETRY}", _retry_fix(models_dir)) from None
        raise _offline(base_url, models_dir, reason) from None

    with response:
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0  # server ignored the range (or nothing to resume): start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        server_sha = _server_sha256([*redirects.hop_headers, response.headers])
        content_type = response.headers.get("Content-Type") or ""
        done = have
        try:
            # never through a link planted at the .part name (it would overwrite the link's target)
            flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_APPEND if resumed else os.O_TRUNC)
            with os.fdopen(os.open(part, flags, 0o666), "ab" if resumed else "wb") as handle:  # less the umask
                while block := response.read(chunk_bytes):
                    handle.write(block)
                    done += len(block)
                    if done > MAX_DOWNLOAD_BYTES:
                        break
                    if progress is not None:
                        progress(relpath, done, total)
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE_ERRNOS:  # nor a folder it may not write
                raise _not_writable(part, exc) from None
            if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # a full disk is no network fault
                raise DiskFullError(f"the disk is full or over quota writing {part} after {done} bytes",
                                    f"free space (or raise the quota), then run {_fetch_again(models_dir)} "
                                    "to resume (with the --style and --backbone given before)") from None
            hiccup = _hiccup(exc)
            if hiccup is not None:
                waited = f": the server sent nothing for {timeout_s:g} s" if hiccup == "timed out" else ""
                raise NetworkInterruptedError(f"download of {relpath} {hiccup} after {done} bytes{waited}; {_RETRY}",
                                              _retry_fix(models_dir)) from None
            raise OfflineError(
                f"download of {relpath} was interrupted after {done} bytes ({exc})",
                f"run {_fetch_again(models_dir)} to resume (with the --style and --backbone given before)",
            ) from None
    if done > MAX_DOWNLOAD_BYTES:  # an endless or wrong answer: never fill the disk with it
        part.unlink(missing_ok=True)
        raise ModelFileError(f"{url} sent more than {MAX_DOWNLOAD_BYTES >> 30} GiB for {relpath}, more than any "
                             "model file holds; the download was deleted",
                             "check --base-url: the server or a proxy is not serving the model file")
    if total is not None and done < total:  # the connection closed early (a proxy or server dropped it)
        raise NetworkInterruptedError(
            f"download of {relpath} was interrupted after {done} of {total} bytes (the connection closed early); "
            f"{_RETRY}",
            _retry_fix(models_dir),
        )

    answered = _not_a_model_file(relpath, part, content_type)
    if answered is not None:  # checked before any checksum: with none published it would be recorded as good
        _discard(part, new_folders)
        raise OfflineError(f"{url} answered with {answered} instead of the model file; the download was deleted",
                           "a Wi-Fi login page, a proxy or a wrong --base-url answered instead of the model server: "
                           f"log in to the network or check --base-url, then run {_fetch_again(models_dir)}")
    actual = sha256_of(part)
    wanted = expected or server_sha
    if wanted is not None and actual != wanted:
        _discard(part, new_folders)
        raise ModelFileError(
            f"checksum mismatch for {relpath}: expected sha256 {wanted}, got {actual}; the download was deleted",
            f"run {_fetch_again(models_dir)} (with the same --style and --backbone); if it repeats, the server "
            "or a proxy is serving a wrong file",
        )
    kept = ""
    theirs = not recorded or os.path.islink(dest)  # fetch makes no links: one at a recorded name is someone's
    if theirs and os.path.lexists(dest) and not (dest.is_file() and sha256_of(dest) == actual):
        kept = str(_keep_aside(dest))
    os.replace(part, dest)
    return FetchResult(relpath, str(dest), actual, done, verified=wanted is not None, kept_as=kept)


def fetch_models(
    models_dir: str | Path,
    files: Iterable[str],
    base_url: str = HF_BASE_URL,
    progress: ProgressCallback | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    chunk_bytes: int = 1 << 20,
    replace_modified: bool = False,
) -> list[FetchResult]:
    """Download ``files`` (paths relative to the models folder) from ``base_url`` into ``models_dir``.

    Files already present whose sha256 matches SHA256SUMS are skipped. ``checksums`` pins expected
    sha256 values (relpath -> hex); otherwise the server's LFS sha256 is used when it states one.
    A listed file whose sha256 no longer matches SHA256SUMS was changed after fetch wrote it (by hand,
    perhaps a studio's own model under the official name): refused before downloading, unless
    ``replace_modified`` (the CLI's ``--replace-modified``) says to replace it.
    Raises OfflineError (no network / cut connection; the ``.part`` stays for resuming) or
    ModelFileError (404, checksum mismatch: the partial file is deleted).
    """
    root = Path(models_dir).expanduser()
    if root.exists() or root.is_symlink():
        check_models_folder(root)  # a file, a link to nowhere or a loop: said with the fix
    made = [p for p in [root, *root.parents] if not p.exists()]  # removed again if nothing lands in them
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way, no permission, a read-only disk
        raise ModelFileError(f"cannot create the models folder {root} ({exc.strerror or exc})",
                             "pass --models with a folder you can write (it is created when missing)") from None
    try:
        return _fetch_into(root, files, base_url, progress, checksums, timeout_s, chunk_bytes, replace_modified)
    except BaseException:
        _remove_empty(made)  # an offline or refused fetch leaves no empty models folder behind
        raise


def _fetch_into(root: Path, files, base_url, progress, checksums, timeout_s, chunk_bytes,
                replace_modified: bool) -> list[FetchResult]:
    pinned = {k: v.lower() for k, v in (checksums or {}).items()}
    results: list[FetchResult] = []
    for raw in files:
        relpath = _check_relpath(raw)
        sums = read_sums(root)
        dest = root / relpath
        if dest.is_file() and relpath in sums:
            digest = sha256_of(dest)
            if digest == sums[relpath] and pinned.get(relpath, digest) == digest:
                results.append(
                    FetchResult(relpath, str(dest), digest, dest.stat().st_size, True, skipped=True)
                )
                continue
            if digest != sums[relpath] and not replace_modified:
                raise _modified_by_hand(dest, relpath, digest, sums[relpath], root)
        result = _download_one(relpath, root, base_url, pinned.get(relpath), progress, timeout_s, chunk_bytes,
                               recorded=relpath in sums)
        sums = read_sums(root)
        sums[relpath] = result.sha256
        _write_sums(root, sums)
        results.append(result)
    return results


def _modified_by_hand(dest: Path, relpath: str, actual: str, recorded: str, models_dir: Path) -> ModelFileError:
    """A file SHA256SUMS lists whose bytes changed since fetch wrote them: someone's own file now (fetch never
    overwrites what it did not write), or a damaged download; only the user can tell which."""
    return ModelFileError(
        f"{dest} has sha256 {actual}, but `models fetch` recorded {recorded} for {relpath} in "
        f"{models_dir / SUMS_FILE}: it was changed after the download, so fetch will not overwrite it",
        f"if it is your own file, move it aside (e.g. `mv {dest} {dest}.mine`), then run {_fetch_again(models_dir)}; "
        "if it is a damaged download, run the fetch again with --replace-modified to replace it",
    )


def check_models_folder(models_dir: str | Path) -> Path:
    """The models folder, or ModelFileError when it is missing, a file or a symlink loop."""
    root = Path(models_dir).expanduser()
    problem = link_problem(root)
    if problem:
        raise ModelFileError(f"models folder {root} is a {problem}",
                             "fix or remove the link, or pass --models with a real folder")
    if not root.exists():
        raise ModelFileError(f"models folder {root} does not exist",
                             "pass --models with the folder that holds the model files, or run "
                             f"`{models_command('fetch', models_dir=root)}` to create it")
    if not root.is_dir():
        raise ModelFileError(f"--models {root} is a file, not a folder",
                             "pass the folder that holds the model files (e.g. the folder of encoder.pt)")
    if not os.access(root, os.R_OK | os.X_OK):  # else every read below is a PermissionError (internal error)
        raise ModelFileError(unreadable_problem(root, PermissionError()), unreadable_fix(root))
    return root


def not_a_file_status(path: Path) -> str:
    """``models verify``'s word for a folder, FIFO, socket or device where a model file belongs."""
    from engine.models.inventory import what_is_in_the_way

    return (what_is_in_the_way(path) or "not a regular file").removeprefix("is ")


def verify_models(models_dir: str | Path) -> list[VerifyResult]:
    """Check every file listed in SHA256SUMS. An entry that would lead outside the folder
    (absolute, '..', a drive) is refused, never read; a link that leads nowhere is named as such."""
    root = check_models_folder(models_dir)
    results = []
    for relpath, digest in sorted(read_sums(root).items()):
        try:
            _check_relpath(relpath)
        except ModelFileError:
            results.append(VerifyResult(relpath, "refused: outside the models folder"))
            continue
        path = root / relpath
        problem = link_problem(path)
        if problem:
            status = problem
        elif os.path.lexists(path) and not path.is_file():  # "missing" would send the user to a fetch that refuses it
            status = not_a_file_status(path)
        elif not path.is_file():
            status = "missing"
        else:
            try:
                status = "ok" if sha256_of(path) == digest else "mismatch"
            except OSError as exc:  # no read permission, an I/O error: said per file, the others still checked
                status = f"unreadable ({(exc.strerror or str(exc)).lower()})"
        results.append(VerifyResult(relpath, status))
    return results


verify = verify_models
"""Short name used by the task brief and the CLI (``vtoonify models verify``)."""
