"""Safe checkpoint reading: no pickled code ever runs, and every mismatch becomes one clear error.

Model files come from the internet and from artists' disks, so loading must never execute code
(``torch.load(weights_only=True)`` only; ``exstyle_code.npy`` through a restricted unpickler), and a
wrong, truncated or foreign file must say what it is and what was expected instead of a stack trace.

torch is imported inside the functions that need it: ``inventory``, ``models list`` and the service's
``capabilities`` (style names from ``exstyle_code.npy``, :func:`read_exstyle_arrays`) import this module
without paying torch's seconds of import.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import reprlib
import stat
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from numpy.lib import format as npy_format

from engine.commands import engine_command
from engine.errors import ModelFileError
from engine.models.pickle_scan import PickleTooDeep, check_pickle_depth
from engine.models.safe_npy import DamagedPickle, ForbiddenPickle, unpickle_arrays

if TYPE_CHECKING:
    import torch
    from torch import nn

_FAMILY_FOLDER_RE = re.compile(r"^vtoonify_(?P<kind>[dt])_(?P<style>[A-Za-z0-9][A-Za-z0-9_-]*)$")
"""A family folder of the models folder (as ``inventory`` reads it): ``vtoonify_d_<style>``."""


def family_backbone(path: str | Path) -> str | None:
    """The backbone the family folder of model file ``path`` holds (``dualstylegan`` for ``vtoonify_d_*``,
    ``toonify`` for ``vtoonify_t_*``), or None outside a models folder's layout."""
    match = _FAMILY_FOLDER_RE.match(Path(path).parent.name)
    if not match:
        return None
    return "dualstylegan" if match["kind"] == "d" else "toonify"


def refetch_fix(path: str | Path) -> str:
    """How to replace the bad model file ``path``: the ``models fetch`` command (as the user can paste it,
    ``engine.commands``) that downloads its family into its folder (``--style``/``--backbone``, and
    ``--models`` for a folder other than the default, as ``models list`` says it), when it is official."""
    from engine.models.inventory import OFFICIAL_FILES, SHARED_FILES, fetch_command, models_command

    path = Path(path)
    parent = path.parent
    match = _FAMILY_FOLDER_RE.match(parent.name)
    if match:
        style = match["style"]
        backbone = "dualstylegan" if match["kind"] == "d" else "toonify"
        if (style, backbone) not in OFFICIAL_FILES:  # a studio-trained style: `models fetch` has no copy
            return (f"{style!r} is not an official style (`models fetch` only downloads those): copy the original "
                    f"file into {parent}, or train it again with `engine train` (docs/TRAINING.md)")
        command = fetch_command(style, backbone, parent.parent)
    elif path.name in SHARED_FILES:
        command = models_command("fetch", models_dir=parent)
    else:  # not in a models folder's layout: no folder or style to name
        return (f"download it again with `{engine_command('models', 'fetch')}` or copy the original file into the "
                "models folder")
    return f"download it again with `{command}` or copy the original file to {path}"

IGNORABLE_MISSING_SUFFIXES = ("num_batches_tracked", ".kernel")
"""Keys a file may lack: BatchNorm counters (unused in eval; old files lack them) and FIR kernels
(constants derived from [1,3,3,1] that the module computes itself)."""
IGNORABLE_UNEXPECTED_SUFFIXES = (".kernel",)
"""Keys a file may carry that a module need not have (a module may compute its FIR kernels)."""


MAX_INFLATED_BYTES = 16 << 30
"""Largest checkpoint accepted once unpacked (the biggest official file, encoder.pt, is ~1.2 GB)."""
MAX_INFLATE_RATIO = 4.0
"""``torch.save`` stores its zip entries uncompressed, so a real checkpoint unpacks to about its size
on disk; one that claims more than this many times that is a zip bomb (or no torch file)."""
MAX_ZIP_ENTRIES = 1_000_000


def _display(path: str | Path) -> str:
    return str(Path(path))


def check_model_file(path: str | Path, what: str = "model file") -> None:
    """Raise ModelFileError naming what is at ``path`` when it is not a readable regular file: missing,
    a link to nothing or to itself, a folder, a FIFO/socket/device (whose read would block or never end),
    or a file the engine's user may not read.
    A link to a real file is fine (shared model folders are often linked in)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if os.path.islink(path):
            target = os.readlink(path)
            problem = ("links to itself round a loop" if getattr(exc, "errno", None) == 40
                       else f"is a link to {target}, which does not exist")
            raise ModelFileError(f"{what} {_display(path)} {problem}",
                                 f"fix or remove the link, then {refetch_fix(path)}") from None
        if isinstance(exc, FileNotFoundError):
            raise ModelFileError(f"{what} not found: {_display(path)}", refetch_fix(path)) from None
        raise ModelFileError(f"{what} {_display(path)} cannot be read ({exc.strerror or exc})",
                             f"fix its permissions, or {refetch_fix(path)}") from None
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"{what} {_display(path)} is a folder, not a file",
                             f"move the folder away, then {refetch_fix(path)}")
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"{what} {_display(path)} is not a regular file (a FIFO, socket or device)",
                             f"remove it, then {refetch_fix(path)}")
    if not os.access(path, os.R_OK):  # reading it would raise PermissionError: an internal error
        raise ModelFileError(f"{what} {_display(path)} cannot be read (permission denied)",
                             f"let the engine's user read it (e.g. `chmod a+r {path}`), or {refetch_fix(path)}")


def _refused_global(message: str) -> str:
    """The line of torch's weights-only refusal that names what the pickle asked for
    (``unsupported GLOBAL posix.system``), not its closing pointer to the documentation."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported" in line or "unsupported" in line]
    return (named or lines[-1:] or ["weights-only refusal"])[0][:200]


def check_zip_sizes(path: Path) -> None:
    """Refuse a checkpoint zip whose central directory promises more than it can honestly hold,
    BEFORE anything is inflated: the directory is read, no entry is."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a readable zip: torch.load reports it as corrupt
    on_disk = path.stat().st_size
    inflated = sum(entry.file_size for entry in entries)
    if len(entries) > MAX_ZIP_ENTRIES or inflated > MAX_INFLATED_BYTES or inflated > MAX_INFLATE_RATIO * on_disk:
        raise ModelFileError(
            f"refusing to load {_display(path)}: its {len(entries)} zip entries would unpack to "
            f"{inflated / 1e6:.1f} MB from {on_disk / 1e6:.1f} MB on disk (a zip bomb, not a checkpoint "
            f"written by torch.save)", "use the official checkpoint files; never load model files from "
                                       "untrusted sources")


CRC_CHUNK_BYTES = 16 << 20


def check_zip_crcs(path: Path) -> None:
    """Refuse a checkpoint zip whose stored bytes fail the CRC-32 that ``torch.save`` recorded for them.

    Why: torch's zip reader never checks CRCs, so a file damaged on disk or in a copy (one flipped
    byte) loads its changed bytes as weights without a word. Reads the file once (~0.5 s for the 1.2 GB
    encoder.pt); an entry recorded with CRC 0 (``torch.serialization.set_crc32_options(False)``) has
    nothing to check."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a readable zip: torch.load reports it as corrupt
    with archive:
        for entry in archive.infolist():
            if entry.CRC == 0 or entry.is_dir():
                continue
            try:
                with archive.open(entry) as stream:
                    while stream.read(CRC_CHUNK_BYTES):
                        pass
            except zipfile.BadZipFile as exc:
                damage = (f"its entry {entry.filename} fails its CRC-32 check (its bytes changed after it was "
                          "written)" if "CRC" in str(exc) else f"its entry {entry.filename} is damaged ({exc})")
                raise ModelFileError(f"model file {_display(path)} is corrupt: {damage}", refetch_fix(path)) from None
            except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error):
                return  # truncated, or stored in a way zipfile cannot read: torch.load names it


def check_pickle_nesting(path: Path | IO[bytes], legacy: bool | None = None) -> None:
    """Refuse a checkpoint whose pickle nests deeper than any model file, before torch unpickles it (a
    key nested a million deep crashes the process: ``engine.models.pickle_scan``). The zip format's
    ``data.pkl`` is read; the legacy format's leading pickles (magic, protocol, system info, data).
    ``path`` may be an open binary file (read from its start, left there); ``legacy`` None: told by its
    first byte. Every ``torch.load`` of a file the engine did not just write goes through this."""
    if not isinstance(path, Path | str):
        start, shown = path.tell(), str(getattr(path, "name", "the file"))
        try:
            path.seek(0)
            _check_nesting(path, path.read(1) == b"\x80" if legacy is None else legacy, shown)
        finally:
            path.seek(start)
        return
    if legacy is None:
        with open(path, "rb") as handle:
            legacy = handle.read(1) == b"\x80"
    _check_nesting(path, legacy, _display(path))


def _check_nesting(source: Path | IO[bytes], legacy: bool, shown: str) -> None:
    try:
        if legacy:
            if isinstance(source, Path | str):
                with open(source, "rb") as handle:
                    check_pickle_depth(handle, pickles=4)
            else:
                source.seek(0)
                check_pickle_depth(source, pickles=4)
            return
        with zipfile.ZipFile(source) as archive:
            entry = next((e for e in archive.infolist() if e.filename.endswith("data.pkl")), None)
            if entry is None:
                return  # torch.load names what is missing
            with archive.open(entry) as stream:
                check_pickle_depth(stream)
    except PickleTooDeep as exc:
        raise ModelFileError(f"refusing to load {shown}: {exc}",
                             "use the official checkpoint files; never load model files from untrusted "
                             "sources") from None
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error):
        return  # not a readable zip: torch.load reports it


_NEWER_PROTOCOL_RE = re.compile(r"Unsupported operand (14\d|15[0-2])\b")
"""torch's weights-only refusal of an instruction protocol 4/5 added (140 SHORT_BINUNICODE to 152
READONLY_BUFFER; it reads protocol 2/3, which torch.save writes by default)."""


LEGACY_MAGIC = b"\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
"""How a checkpoint in torch's legacy (pre-1.6, not zip) format begins, after its pickle's PROTO (and any
FRAME) opcode: its magic number 0x1950a86a20f9469cfc6c, pickled as a LONG1."""


def load_torch_file(path: str | Path) -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with typed errors.

    Missing -> ModelFileError; pickle asks for code or a non-tensor class -> ModelFileError (nothing
    runs: the weights-only unpickler refuses before calling anything); truncated/corrupt, or bytes that
    fail their CRC-32 (which torch never checks) -> ModelFileError naming the file.
    """
    path = Path(path)
    check_model_file(path)
    if path.stat().st_size == 0:
        raise ModelFileError(f"model file {_display(path)} is empty (0 bytes)", refetch_fix(path))
    with open(path, "rb") as handle:
        head = handle.read(32)
    magic = head[:6]
    if magic[:2] == b"PK":
        check_zip_sizes(path)
        check_zip_crcs(path)
    check_pickle_nesting(path, legacy=head[:1] == b"\x80")
    if magic == b"\x93NUMPY":
        raise ModelFileError(
            f"{_display(path)} is a numpy .npy file (such as exstyle_code.npy), not a torch checkpoint",
            "pick the .pt/.pth model file; style codes are read from the family folder automatically",
        )
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if _NEWER_PROTOCOL_RE.search(str(exc)):  # FRAME/MEMOIZE/...: protocol 4+, no sign of code
            raise ModelFileError(
                f"cannot load {_display(path)}: its pickle uses protocol 4 or later, which torch's weights-only "
                "loader (the only one the engine uses) cannot read; nothing in it ran",
                "if you trust the file, save its weights again with torch.save's default pickle_protocol=2; "
                f"else {refetch_fix(path)}") from None
        if "weights only" in str(exc).lower():
            first = _refused_global(str(exc))
            raise ModelFileError(
                f"refusing to load {_display(path)}: it contains objects other than tensors and plain "
                f"data (a pickle that could run code): {first}",
                "use the official checkpoint files; never load model files from untrusted sources",
            ) from None
        raise ModelFileError(f"model file {_display(path)} is corrupt ({exc})", refetch_fix(path)) from None
    except Exception as exc:  # any decoder error of a damaged file (struct, zip, runtime...) is the same fault
        if head[:1] == b"\x80" and LEGACY_MAGIC in head:  # pre-1.6 format (loadable): a pickle, then storages
            raise ModelFileError(
                f"model file {_display(path)} is truncated or corrupt (a checkpoint in torch's legacy (pre-1.6) "
                f"format: {_decoder_reason(exc)})", refetch_fix(path)) from None
        if magic[:2] != b"PK":  # every torch.save file since 1.6 is a zip archive
            raise ModelFileError(
                f"model file {_display(path)} is not a PyTorch checkpoint (expected a zip archive; found "
                f"{path.stat().st_size} bytes starting with {magic!r})", refetch_fix(path)) from None
        reason = _decoder_reason(exc)
        raise ModelFileError(
            f"model file {_display(path)} is truncated or corrupt ({reason})", refetch_fix(path)
        ) from None
    check_claimed_sizes(loaded, path)
    return loaded


def _tensors_in(obj: Any) -> list[torch.Tensor]:
    """Every tensor in a loaded checkpoint's dicts, lists and tuples (each object once; no recursion, so
    a deeply nested pickle cannot overflow the stack)."""
    import torch

    found, seen, stack = [], set(), [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            found.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother, _SHORT_REPR.maxlong = 3, 60, 60, 40


def shown_name(key: Any) -> str:
    """A file's key as a message shows it: at most ~80 characters, however long or deeply nested it is
    (a hand-made file's 5 MB name or a tuple nested 100,000 deep once made a 5 MB message or a
    RecursionError)."""
    if isinstance(key, str):
        return key if len(key) <= 80 else key[:77] + "..."
    return _SHORT_REPR.repr(key)


def _kind_of(value: Any) -> str:
    """What a style-code entry is, for a message: an array's dtype and shape, else the type's name."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {tuple(value.shape)}"
    return type(value).__name__


def check_claimed_sizes(obj: Any, path: str | Path) -> None:
    """Refuse a checkpoint whose tensors claim far more values than the file stores.

    ``torch.save`` writes each tensor over its own bytes, but a hand-made file can hold stride-0 views
    (``expand``) that claim billions of values over one stored number. The model is built from the
    tensors' shapes, so loading would try to allocate all of them: an out-of-memory error that a farm
    retries forever (exit 75) instead of a bad file (exit 2). Checked right after unpickling, before
    any value is read.
    """
    import torch

    claimed, stored, storages = 0, 0, set()
    for tensor in _tensors_in(obj):
        if tensor.layout != torch.strided:  # sparse: no storage; refused by name where it is used
            continue
        claimed += tensor.numel() * tensor.element_size()
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in storages:
            storages.add(storage.data_ptr())
            stored += storage.nbytes()
    if claimed > MAX_INFLATE_RATIO * stored + (1 << 20):
        raise ModelFileError(
            f"refusing to load {_display(path)}: its tensors claim {claimed / 1e6:,.1f} MB of values over "
            f"{stored / 1e6:,.1f} MB stored (views that repeat the same numbers, made to exhaust memory; "
            "torch.save never writes such a model)",
            "use the official checkpoint files; never load model files from untrusted sources")


def _decoder_reason(exc: BaseException) -> str:
    """The decoder's own first sentence about a damaged file, without torch's appended advice ("This is
    an internal miniz error. If you are seeing this error, there is a high likelihood that your
    checkpoint file is corrupted...", which the 160-character cut used to end mid-sentence)."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0].split(" This is an internal miniz error")[0].rstrip(" .")
    return first if len(first) <= 160 else first[:157] + "..."


# --- exstyle_code.npy -------------------------------------------------------------------------

MAX_EXSTYLE_BYTES = 256 << 20
"""Largest ``exstyle_code.npy`` read (the official files are ~12 MB: a few hundred [1,18,512] codes)."""


MAX_EXSTYLE_VALUES = MAX_EXSTYLE_BYTES // 4
"""Most values all style codes may hold together (as float32, no more than the file cap): a pickle's memo
lets a 0.4 MB file name one array 20,000 times, which the float32 copies would turn into 740 MB."""


MAX_STYLE_CODES = 4096
"""Most style codes read from one file (official files hold 100 to 317)."""
MAX_STYLE_NAME_CHARS = 255
"""Longest style name (an exemplar image's file name, as official files name their codes)."""
MAX_STYLE_NAMES_CHARS = 64 << 10
"""Most characters all of one file's style names may hold together (official: under 8,000)."""


def check_style_names(codes: dict, path: str | Path) -> None:
    """ModelFileError for style names no exemplar file name has: not a string, too many, too long, or with
    control characters. Why: the service sends every style's names in one capabilities reply, which a single 2 MB
    name pushed past the protocol's 1 MiB line limit, so the panel and the add-on could list no style."""
    if len(codes) > MAX_STYLE_CODES:
        raise ModelFileError(f"{_display(path)} holds {len(codes):,} style codes, more than the {MAX_STYLE_CODES:,} "
                             "read (an official file: a few hundred)", refetch_fix(path))
    total = 0
    for key in codes:
        if not isinstance(key, str):  # str(5) would list a style "5" no exemplar is named; a style id is its index
            raise ModelFileError(f"{_display(path)}: style code named {shown_name(key)} (a {type(key).__name__}); an "
                                 "official file names each code by its exemplar's file name, a string",
                                 refetch_fix(path))
        name = key
        shown = repr(name[:10] + "…" if len(name) > 12 else name)
        if len(name) > MAX_STYLE_NAME_CHARS:
            raise ModelFileError(f"{_display(path)}: style name {shown} is {len(name):,} characters long; an "
                                 f"exemplar's file name has at most {MAX_STYLE_NAME_CHARS}", refetch_fix(path))
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
            raise ModelFileError(f"{_display(path)}: style name {shown} holds control characters, which no "
                                 "exemplar's file name has", refetch_fix(path))
        total += len(name)
    if total > MAX_STYLE_NAMES_CHARS:
        raise ModelFileError(f"{_display(path)}: its {len(codes):,} style names hold {total:,} characters, more than "
                             f"the {MAX_STYLE_NAMES_CHARS:,} read (an official file's: under 8,000)", refetch_fix(path))


def load_exstyle_codes(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official ``exstyle_code.npy``: style name -> extrinsic z+ code [1,18,512] (float32).

    The tensors share memory with :func:`read_exstyle_arrays`'s arrays (every check is made there).
    """
    import torch

    return {name: torch.from_numpy(code) for name, code in read_exstyle_arrays(path).items()}


def read_exstyle_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """An official ``exstyle_code.npy`` as style name -> contiguous float32 array [1,18,512], without torch
    (the service lists style names from it before any job has loaded torch).

    The file is a 0-d object array holding a pickled dict, which ``np.load(allow_pickle=True)`` would
    unpickle without limits; here only array, dtype and ``dict`` rebuilding are allowed, each through a
    builder that checks its state (``engine.models.safe_npy``), so a hostile file raises ModelFileError
    and nothing in it runs, nor does numpy's ``__setstate__`` (which crashed on an inconsistent one).
    Order is kept (``style_id`` indexes it).
    """
    path = Path(path)
    check_model_file(path, "style code file")
    size = path.stat().st_size
    if size > MAX_EXSTYLE_BYTES:  # checked before the file is read into memory
        raise ModelFileError(f"{_display(path)} is {size / 1e6:.0f} MB; an official exstyle_code.npy is about "
                             f"12 MB (at most {MAX_EXSTYLE_BYTES >> 20} MB is read)", refetch_fix(path))
    raw = path.read_bytes()
    stream = io.BytesIO(raw)
    try:
        version = npy_format.read_magic(stream)
        if version == (1, 0):
            shape, _fortran, dtype = npy_format.read_array_header_1_0(stream)
        else:
            shape, _fortran, dtype = npy_format.read_array_header_2_0(stream)
    except (ValueError, OSError, SyntaxError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]  # not numpy's "adjust max_header_size"
        raise ModelFileError(f"{_display(path)} is not a valid .npy file ({first})", refetch_fix(path)) from None
    if not dtype.hasobject:
        raise ModelFileError(
            f"{_display(path)} holds a plain {dtype} array of shape {list(shape)}, "
            "expected a pickled dict of style codes (official exstyle_code.npy)",
            refetch_fix(path),
        )
    try:
        check_pickle_depth(raw[stream.tell() :])
        array = unpickle_arrays(raw[stream.tell() :])
    except PickleTooDeep as exc:
        raise ModelFileError(f"refusing to load {_display(path)}: {exc}",
                             "use the official exstyle_code.npy; never load style files from untrusted "
                             "sources") from None
    except DamagedPickle as exc:
        raise ModelFileError(f"{_display(path)} is corrupt: {exc}", refetch_fix(path)) from None
    except ForbiddenPickle as exc:
        raise ModelFileError(
            f"refusing to load {_display(path)}: its pickle asks for code ({exc})",
            "use the official exstyle_code.npy; never load style files from untrusted sources",
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
    ) as exc:
        # a truncated or garbled pickle stream surfaces as any of these decoder errors
        raise ModelFileError(
            f"{_display(path)} is truncated or corrupt ({type(exc).__name__}: {exc})", refetch_fix(path)
        ) from None
    codes = array.item() if isinstance(array, np.ndarray) and array.shape == () else array
    if isinstance(codes, dict) and not codes:
        raise ModelFileError(f"{_display(path)} holds no style codes (an empty dict)", refetch_fix(path))
    if not isinstance(codes, dict):
        raise ModelFileError(
            f"{_display(path)} does not hold a dict of style codes (found {type(codes).__name__})",
            refetch_fix(path),
        )
    check_style_names(codes, path)
    values = sum(int(code.size) for code in codes.values() if isinstance(code, np.ndarray))
    if values > MAX_EXSTYLE_VALUES:  # a pickle may name one array a million times: each would be copied
        raise ModelFileError(f"{_display(path)} holds {len(codes)} style codes of {values:,} values in all, more than "
                             f"the {MAX_EXSTYLE_VALUES:,} read (an official file: a few hundred codes of 9,216)",
                             refetch_fix(path))
    result: dict[str, np.ndarray] = {}
    for name, code in codes.items():
        if not isinstance(code, np.ndarray) or code.dtype.kind != "f" or code.ndim < 1:
            raise ModelFileError(
                f"{_display(path)}: entry {name!r} is not a float array (found "
                f"{_kind_of(code)})",
                refetch_fix(path),
            )
        array = np.ascontiguousarray(code, dtype=np.float32)
        if not bool(np.isfinite(array).all()):
            raise ModelFileError(f"{_display(path)}: style code {name!r} holds NaN or infinite values",
                                 refetch_fix(path))
        if array.ndim == 2:
            array = array[np.newaxis]  # [18,512] -> [1,18,512]
        result[str(name)] = array
    return result


def read_exstyles(path: str | Path) -> dict[str, np.ndarray]:
    """:func:`read_exstyle_arrays`, each code checked to be [1, n_latent, width] (what VToonify-D takes;
    ``engine.models.load_exstyles`` is this as tensors, the service's style list is its names)."""
    codes = read_exstyle_arrays(path)
    bad = [name for name, code in codes.items() if code.ndim != 3 or code.shape[0] != 1]
    if bad:
        raise ModelFileError(
            f"{path}: style codes must be [1, n_latent, 512]; {bad[0]!r} is {list(codes[bad[0]].shape)}",
            "use exstyle_code.npy from the official vtoonify_d_<style> folder",
        )
    return codes


# --- recognising what a state dict is -----------------------------------------------------------


def unwrap_checkpoint(obj: Any) -> Mapping[str, Any] | None:
    """The state dict inside an official file layout, or None when there is none."""
    import torch

    if not isinstance(obj, Mapping):
        return None
    for key in ("g_ema", "state_dict"):
        inner = obj.get(key)
        if isinstance(inner, Mapping):
            return inner
    if (
        obj
        and all(isinstance(k, str) for k in obj)
        and any(isinstance(v, torch.Tensor) for v in obj.values())
    ):
        return obj
    return None


def describe_checkpoint(obj: Any) -> str:
    """Human name of the model a loaded checkpoint looks like (for "this is not X" messages)."""
    sd = unwrap_checkpoint(obj)
    if sd is None:
        if isinstance(obj, Mapping):
            return f"an unknown file (top-level keys: {', '.join(map(shown_name, list(obj)[:6]))})"
        return f"an unknown file (a {type(obj).__name__}, not a dict)"
    keys = {k for k in sd if isinstance(k, str)}  # a file may hold any key: 5, (1, 2)
    if (
        isinstance(obj, Mapping)
        and "latent_avg" in obj
        and any(k.startswith("encoder.input_layer.") for k in keys)
    ):
        return "the pSp style encoder (encoder.pt)"
    if "cp.resnet.conv1.weight" in keys:
        return "the BiSeNet face parser (faceparsing.pth)"
    if "input_layer.0.weight" in keys or "encoder.input_layer.0.weight" in keys:
        return "a pSp style encoder (encoder.pt)"
    if any(k.startswith("fusion_skip.") for k in keys):
        if any(k.startswith("generator.generator.") for k in keys):
            return "a VToonify-D model (vtoonify_d_*/vtoonify_*.pt)"
        return "a VToonify-T model (vtoonify_t_*/vtoonify.pt)"
    if any(k.startswith("generator.") for k in keys) and any(k.startswith("res.") for k in keys):
        return "a DualStyleGAN generator (generator.pt)"
    if "style.1.weight" in keys and "conv1.conv.weight" in keys:
        return "a StyleGAN2 generator (e.g. finetune-*.pt or stylegan2-ffhq-config-f.pt)"
    if any(k.startswith("convs.") for k in keys) and any("final_linear" in k for k in keys):
        return "a StyleGAN discriminator"
    sample = ", ".join(map(shown_name, sorted(keys)[:3]))
    return f"an unknown model (keys such as {sample})"


def locate_weights(obj: Any) -> tuple[str, str | None, str]:
    """(what model, top-level key that holds its weights or None, prefix on every name or '') of a loaded
    file, for a file kept in a layout other than the official one: the weights under another key
    (``state_dict``, ``generator``), or every name prefixed by the wrapper a training script saved
    (``module.`` of DataParallel/DDP). ``('', None, '')`` when no known model is found."""
    import torch

    candidates: list[tuple[Mapping[Any, Any], str | None]] = []
    if isinstance(obj, Mapping):
        if any(isinstance(value, torch.Tensor) for value in obj.values()):
            candidates.append((obj, None))
        candidates += [(value, key) for key, value in obj.items()
                       if isinstance(key, str) and isinstance(value, Mapping)]
    for state, key in candidates:
        what = describe_checkpoint(state)
        if not what.startswith("an unknown"):
            return what, key, ""
    for state, key in candidates:
        names = [k for k in state if isinstance(k, str) and "." in k]
        heads = {name.split(".", 1)[0] for name in names}
        if len(heads) != 1 or len(names) != len(state):
            continue
        prefix = heads.pop() + "."
        what = describe_checkpoint({name[len(prefix) :]: value for name, value in state.items()})
        if not what.startswith("an unknown"):
            return what, key, prefix
    return "", None, ""


def not_this_model(path: str | Path, obj: Any, model: str, marker: str, official_key: str | None, layout: str,
                   fix: str) -> ModelFileError:
    """The error of the loader of ``model`` for a file it cannot read. A file holding that model (its
    description contains ``marker``) in another layout is told so, naming the layout the engine reads
    (the official file's); any other file is named by what it looks like."""
    what, key, prefix = locate_weights(obj)
    places = ([f"under the key {shown_name(key)!r}"] if key is not None and key != official_key else []) + (
        [f"with every name prefixed {shown_name(prefix)!r}"] if prefix else [])
    if marker in what and places:
        return ModelFileError(
            f"{_display(path)} holds {what}, but {' and '.join(places)}, not in the official file's layout "
            f"({layout})",
            f"use the official file unchanged, or save these weights in that layout; {fix}")
    found = describe_checkpoint(obj)
    if found.startswith("an unknown") and what:  # a known model under a wrapper's names: say which
        found = f"{what} ({' and '.join(places)})"
    return ModelFileError(f"{_display(path)} is not {model}: it looks like {found}", fix)


# --- strict key and shape check -----------------------------------------------------------------


def _few(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def state_dict_problems(module: nn.Module, state_dict: Mapping[str, Any]) -> list[str]:
    """Every way ``state_dict`` differs from ``module`` (missing/unexpected keys, shape mismatches)."""
    import torch

    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith(IGNORABLE_MISSING_SUFFIXES)]
    unexpected = [  # keys that are no names at all (5, (1, 2): a hand-edited file) are unexpected too
        shown_name(k) for k in state_dict
        if not isinstance(k, str) or (k not in expected and not k.endswith(IGNORABLE_UNEXPECTED_SUFFIXES))
    ]
    problems: list[str] = []
    if missing:
        problems.append(f"missing {len(missing)} keys such as {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} keys such as {_few(unexpected)}")
    mismatched, wrong_type, not_plain, non_finite = [], [], [], []
    for key, target in expected.items():
        value = state_dict.get(key)
        if isinstance(value, torch.Tensor) and (value.layout != torch.strided or value.is_quantized):
            # sparse or quantized storage: the checks below (and load_state_dict) raise NotImplementedError
            kind = "quantized" if value.is_quantized else str(value.layout).removeprefix("torch.")
            not_plain.append(f"{key} ({kind})")
        elif isinstance(value, torch.Tensor) and tuple(value.shape) != tuple(target.shape):
            mismatched.append(f"{key} (file {list(value.shape)}, model {list(target.shape)})")
        elif key in state_dict and not isinstance(value, torch.Tensor):
            mismatched.append(f"{key} (file holds a {type(value).__name__}, not a tensor)")
        elif isinstance(value, torch.Tensor) and target.is_floating_point():
            # load_state_dict would silently cast int/bool weights and keep NaN/Inf: black or NaN frames
            if not value.is_floating_point():
                wrong_type.append(f"{key} ({str(value.dtype).removeprefix('torch.')})")
            elif value.device.type != "meta" and not all_finite(value):  # meta: shapes only
                non_finite.append(key)
    if not_plain:
        problems.append(f"{len(not_plain)} tensors are stored sparse or quantized, not as plain weights, such as "
                        f"{_few(not_plain, 2)}")
    if mismatched:
        problems.append(f"shape mismatch at {len(mismatched)} tensors such as {_few(mismatched, 2)}")
    if wrong_type:
        problems.append(f"{len(wrong_type)} weight tensors are not floating point, such as {_few(wrong_type, 2)}")
    if non_finite:
        problems.append(f"NaN or infinite values in {len(non_finite)} tensors such as {_few(non_finite, 2)}")
    return problems


def all_finite(value: torch.Tensor) -> bool:
    """A plain tensor with no NaN/Inf (False for sparse or quantized storage, which ``isfinite`` cannot
    check). 8-bit floats (a file quantised to float8) are checked as float32, since ``isfinite`` has no
    float8 kernel (they load like float16: cast to the module's dtype)."""
    import torch

    if value.layout != torch.strided or value.is_quantized:
        return False
    if value.element_size() < 2:
        value = value.float()
    return bool(torch.isfinite(value).all())


def load_state_dict_strict(
    module: nn.Module, state_dict: Mapping[str, Any], path: str | Path, model_name: str
) -> nn.Module:
    """Check names and shapes, then load; one ModelFileError lists every kind of mismatch.

    Keys in :data:`IGNORABLE_MISSING_SUFFIXES` absent from the file keep the module's own values;
    float16 tensors are cast to the module's dtype by ``load_state_dict``.
    """
    problems = state_dict_problems(module, state_dict)
    if problems:
        raise ModelFileError(
            f"{_display(path)} does not fit {model_name}: " + "; ".join(problems),
            f"use the file made for this model, or {refetch_fix(path)}",
        )
    own = module.state_dict()
    complete = {k: v for k, v in state_dict.items() if k in own}
    for key, value in own.items():
        complete.setdefault(key, value)
    module.load_state_dict(complete, strict=True)
    return module
