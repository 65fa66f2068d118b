"""C kernels built on first use (Winograd tile transforms, the gated fusion's mask), with the torch ops
as the fallback.

As with NVlabs' custom ops, the sources ship beside this module (``winograd_tiles.c``, ``fusion_gate.c``)
and are compiled
once per machine by the system C compiler (``$CC``, else ``cc``/``gcc``/``clang``) into a private cache
(``$VTOONIFY_NATIVE_DIR``, else ``<user cache>/vtoonify/native``), keyed by the sources, the compiler
and the CPU's flags. It is loaded with ctypes: no Python headers, no torch headers, a one-second build,
and the calls release the GIL. OpenMP comes from the ``libgomp`` torch already loaded, so the kernels
share torch's thread pool.

Where there is no compiler, the build fails, the cache is not private to this user, or the built
library disagrees with ``F.conv2d`` on a small self-test, ``library()`` returns None, ``problem()``
says why, and callers keep the torch route (same numbers within float rounding). ``VTOONIFY_NATIVE=0``
turns the kernels off.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

from engine.user_dirs import user_dir

log = logging.getLogger(__name__)

SOURCES = (Path(__file__).with_name("winograd_tiles.c"), Path(__file__).with_name("fusion_gate.c"))
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
FALLBACK_FLAGS = ("-O3", "-fopenmp", "-shared", "-fPIC")
"""Tried when the compiler knows no ``-march=native`` (some clang targets)."""
BUILD_TIMEOUT_S = 120

_lock = threading.Lock()
_state: dict[str, object] = {}


def cache_dir() -> Path:
    """Where built kernels are kept (per user; override with ``VTOONIFY_NATIVE_DIR``)."""
    override = os.environ.get("VTOONIFY_NATIVE_DIR")
    if override:
        return Path(override)
    return user_dir("cache") / "native"


def compiler() -> str | None:
    """The C compiler to build with: ``$CC`` (a name or path), else the first of cc, gcc, clang."""
    for name in ([os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]):
        path = shutil.which(name)
        if path:
            return path
    return None


def _cpu_flags() -> str:
    """What ``-march=native`` depends on: a library built on another CPU must not be loaded here."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    import platform

    return platform.processor() + platform.machine()


def _private(path: Path, directory: bool) -> str | None:
    """Why ``path`` cannot hold (``directory``) or be code this process will load, or None: it must be
    a real directory or regular file (never a link), owned by this user, writable by no one else."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if directory and not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory (a link or a file)"
    if not directory and not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        return f"{path} is not private to this user (owner or group/other write permission)"
    return None


def _build(cc: str, target: Path) -> str | None:
    """Compile SOURCES into ``target`` (temp name, then rename); why not, or None."""
    errors = []
    for flags in (FLAGS, FALLBACK_FLAGS):
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target.parent)
        os.close(fd)
        try:
            run = subprocess.run([cc, *flags, "-o", tmp, *map(str, SOURCES)], capture_output=True, text=True,
                                 timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)
            if run.returncode == 0:
                os.chmod(tmp, 0o700)
                os.replace(tmp, target)
                return None
            errors.append(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            errors.append(str(exc))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return f"{Path(cc).name} could not build {', '.join(p.name for p in SOURCES)}: {errors[-1]}"


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i, long_, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_float
    common = [p, i, p, p, p, long_, long_, i, i, i, i]
    for tile in (4, 6):
        for suffix in ("", "_bf16"):  # float32 and bfloat16 maps
            getattr(lib, f"f{tile}_input{suffix}").argtypes = [*common, p, long_, long_, i]
            getattr(lib, f"f{tile}_output{suffix}").argtypes = [*common, long_, long_, p, i, f, p, i]
            getattr(lib, f"f{tile}_input{suffix}").restype = getattr(lib, f"f{tile}_output{suffix}").restype = None
    for suffix in ("", "_bf16"):  # float32 and bfloat16 feature maps
        getattr(lib, f"gate_moments{suffix}").argtypes = [p, p, long_, i, p, p, i]
        getattr(lib, f"gate_taps{suffix}").argtypes = [p, p, long_, i, p, p, p, p, i]
        getattr(lib, f"skip_taps{suffix}").argtypes = [p, p, p, long_, i, p, p, i]
        for name in ("gate_moments", "gate_taps", "skip_taps"):
            getattr(lib, name + suffix).restype = None
    return lib


def _self_test(lib: ctypes.CDLL) -> str | None:
    """A miscompiled library must not render: odd-sized, dilated, biased convs against F.conv2d, and
    a fusion mask against its torch route."""
    from engine.ops import gate, winograd

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 19, 11, 9, generator=gen).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(21, 19, 3, 3, generator=gen) / 13
    bias = torch.randn(21, generator=gen)
    for d, tile in ((1, 4), (2, 4), (1, 6), (2, 6)):
        ref = torch.nn.functional.leaky_relu(torch.nn.functional.conv2d(x, weight, bias, padding=d, dilation=d), 0.2)
        got = winograd.winograd_native(lib, x, winograd.winograd_weight(weight, tile), d, bias, 0.2, tile)
        if not torch.allclose(got, ref, atol=1e-4, rtol=1e-4):
            return f"the built kernels disagree with F.conv2d (max error {(got - ref).abs().max().item():.2e})"
        low = winograd.winograd_native(lib, x.bfloat16(), winograd.winograd_weight(weight, tile).bfloat16(), d, bias,
                                       0.2, tile).float()
        error = ((low - ref).abs().mean() / ref.abs().mean()).item() if low.shape == ref.shape else float("inf")
        if not error < 0.1:  # bf16 roundings amplified by the transforms: 1.6% (F4), 3.2% (F6) here
            return f"the built bf16 kernels disagree with F.conv2d (mean relative error {error:.2e})"
    g, e = torch.randn(2, 2, 19, 7, 5, generator=gen).unbind(0)
    gamma, beta = torch.randn(2, 1, 38, 1, 1, generator=gen).unbind(0)
    weight, bias = torch.randn(1, 38, 3, 3, generator=gen) / 18, torch.randn(1, generator=gen)
    ref = gate.mask_logits(g, e, gamma, beta, weight, bias, impl="ref")
    got = gate.mask_logits(g, e, gamma, beta, weight, bias, lib=lib)
    if not torch.allclose(got, ref, atol=1e-4, rtol=1e-4):
        return f"the built fusion-mask kernels disagree with torch (max error {(got - ref).abs().max().item():.2e})"
    low = g.bfloat16(), e.bfloat16()  # the bf16 entry points: float32 maths on the same values
    ref = gate.mask_logits(*(v.float() for v in low), gamma, beta, weight, bias, impl="ref")
    got = gate.mask_logits(*low, gamma, beta, weight, bias, lib=lib)
    if not torch.allclose(got, ref, atol=1e-4, rtol=1e-4):
        error = (got - ref).abs().max().item()
        return f"the built bf16 fusion-mask kernels disagree with torch (max error {error:.2e})"
    skip, m = torch.randn(2, 3, 7, 5, generator=gen), torch.rand(2, 1, 7, 5, generator=gen)
    weight, bias = torch.randn(3, 22, 3, 3, generator=gen) / 14, torch.randn(3, generator=gen)
    ref = gate.skip_conv(skip, e, m, weight, bias, impl="ref")
    got = gate.skip_conv(skip, e, m, weight, bias, lib=lib)
    if not torch.allclose(got, ref, atol=1e-4, rtol=1e-4):
        return f"the built skip-conv kernel disagrees with torch (max error {(got - ref).abs().max().item():.2e})"
    low = skip.bfloat16(), e.bfloat16()
    ref = gate.skip_conv(*(v.float() for v in low), m, weight, bias, impl="ref").bfloat16()  # rounded as returned
    got = gate.skip_conv(*low, m, weight, bias, lib=lib)
    if got.dtype != torch.bfloat16 or not torch.allclose(got.float(), ref.float(), atol=1e-2, rtol=1e-2):
        error = (got.float() - ref.float()).abs().max().item()
        return f"the built bf16 skip-conv kernel disagrees with torch (max error {error:.2e})"
    return None


def _load() -> tuple[ctypes.CDLL | None, str | None]:
    if os.environ.get("VTOONIFY_NATIVE", "1") == "0":
        return None, "turned off by VTOONIFY_NATIVE=0"
    cc = compiler()
    key = hashlib.sha256()
    for source in SOURCES:
        key.update(source.read_bytes())
    key.update(repr((cc, FLAGS, _cpu_flags(), torch.__version__)).encode())
    if cc:
        try:
            key.update(subprocess.run([cc, "--version"], capture_output=True, timeout=30).stdout)
        except (OSError, subprocess.TimeoutExpired):
            pass
    folder = cache_dir()
    target = folder / f"kernels-{key.hexdigest()[:16]}.so"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        return None, f"cannot create {folder}: {exc.strerror}"
    problem = _private(folder, directory=True)
    if problem:
        return None, problem
    if not os.path.lexists(target):
        if cc is None:
            return None, "no C compiler found (install gcc or clang, or set CC)"
        problem = _build(cc, target)
        if problem:
            return None, problem
    problem = _private(target, directory=False)
    if problem:
        return None, problem
    try:
        lib = _bind(ctypes.CDLL(str(target)))
    except (OSError, AttributeError) as exc:  # AttributeError: a library without one of the kernels
        return None, f"cannot load {target} ({exc}); delete it to rebuild"
    problem = _self_test(lib)
    return (None, f"{problem} ({target}; delete it to rebuild)") if problem else (lib, None)


def library() -> ctypes.CDLL | None:
    """The loaded kernels, built on the first call; None where they cannot be had (see ``problem``)."""
    with _lock:
        if "lib" not in _state:
            _state["lib"], _state["problem"] = _load()
            if _state["problem"]:
                log.info("native kernels off, torch ops used instead: %s", _state["problem"])
        return _state["lib"]  # type: ignore[return-value]


def problem() -> str | None:
    """Why ``library()`` is None (after it was called), else None."""
    library()
    return _state.get("problem")  # type: ignore[return-value]


def reset() -> None:
    """Forget the loaded state (tests: another cache dir or ``VTOONIFY_NATIVE`` setting)."""
    with _lock:
        _state.clear()
