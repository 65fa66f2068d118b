"""Unpickling the dict of arrays inside an ``np.save``-d object array (``exstyle_code.npy``) without
running anything numpy's own unpickling would run.

Why not numpy's rebuild functions behind an allow-list: ``ndarray.__setstate__`` trusts the state it is
given, and an object array whose shape claims more values than its list holds reads past the list's
end: a 200-byte file killed the engine (and the service listing its styles) with a segmentation fault.
Here ``_reconstruct``, ``dtype`` and ``scalar`` resolve to small builders that check every state (a
plain dtype, a shape and data that agree, a bounded size) and then build the array with ``np.empty`` /
``np.frombuffer``; the pickle's arrays are swapped for them after loading (:func:`built`).
"""

from __future__ import annotations

import io
import math
import pickle
import re
from typing import Any

import numpy as np

MAX_ARRAY_VALUES = 64 << 20
"""Most values one array may hold (the codes of an official file: a few hundred arrays of 9,216)."""

_DTYPE_SPEC_RE = re.compile(r"^[a-zA-Z]\d{0,10}(\[\w{1,8}\])?$")
"""A plain dtype as numpy pickles it ('f4', 'O8', 'M8[s]'); structured and sub-array specs never match."""


class ForbiddenPickle(pickle.UnpicklingError):
    """The pickle asked for something outside the allow-list (raised before anything is called)."""


class DamagedPickle(ValueError):
    """The pickle's arrays do not describe themselves consistently (a damaged or hand-made file)."""


class _Dtype:
    """Stands for ``np.dtype(spec, align, copy)`` until its state (byte order) arrives."""

    def __init__(self, spec: Any, _align: Any = False, _copy: Any = True) -> None:
        if not isinstance(spec, str) or not _DTYPE_SPEC_RE.match(spec):
            raise DamagedPickle(f"it holds an array of a structured or sub-array dtype ({str(spec)[:40]!r})")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) >= 5 and state[2:5] == (None, None, None)):
            raise DamagedPickle("it holds an array of a structured or sub-array dtype")
        if state[1] in ("<", ">") and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(state[1])


def _plain_dtype(value: Any) -> np.dtype:
    if not isinstance(value, _Dtype):
        raise DamagedPickle(f"it names {type(value).__name__} where an array's dtype belongs")
    return value.dtype


def _kind(dtype: np.dtype) -> str:
    return "an object" if dtype.hasobject else f"a {dtype.name}"


class _Array:
    """Stands for ``_reconstruct(ndarray, ...)`` until ``__setstate__`` brings its shape, dtype and data."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]  # (version, shape, dtype, fortran, data); version 0 files leave it out
        if not (isinstance(state, tuple) and len(state) == 4):
            raise DamagedPickle("it holds an array whose state is not (shape, dtype, order, data)")
        shape, dtype, fortran, data = state
        if not (
            isinstance(shape, tuple)
            and len(shape) <= 32
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise DamagedPickle(f"it holds an array of shape {str(shape)[:60]}")
        dtype, count, order = _plain_dtype(dtype), math.prod(shape), "F" if fortran else "C"
        if count > MAX_ARRAY_VALUES:
            raise DamagedPickle(f"it holds an array of {count:,} values, more than the {MAX_ARRAY_VALUES:,} read")
        if dtype.hasobject:
            if not isinstance(data, list) or len(data) != count:
                held = f"{len(data)} values" if isinstance(data, list) else f"a {type(data).__name__}"
                raise DamagedPickle(f"{_kind(dtype)} array of {count} values holds {held}")
            flat = np.empty(count, dtype=object)
            for index, value in enumerate(data):
                flat[index] = value
            self.array = flat.reshape(shape, order=order)
            return
        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
            held = f"{len(data)} bytes" if isinstance(data, (bytes, bytearray)) else f"a {type(data).__name__}"
            raise DamagedPickle(f"{_kind(dtype)} array of {count} values holds {held}, not {count * dtype.itemsize}")
        if count == 0:
            self.array = np.empty(shape, dtype=dtype, order=order)
            return
        self.array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order=order).copy()


def _reconstruct(cls: Any, _shape: Any = (0,), _typecode: Any = b"b") -> _Array:
    if cls is not np.ndarray:
        raise DamagedPickle(f"it rebuilds a {type(cls).__name__} where an ndarray belongs")
    return _Array()


def _scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar``: a number from its bytes (object-dtype scalars are refused)."""
    dtype = _plain_dtype(dtype)
    if dtype.hasobject or not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise DamagedPickle(f"it holds a {dtype.name} scalar that is not {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


_GLOBALS = {
    **{(module, "_reconstruct"): _reconstruct for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): _scalar for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _Dtype,
    ("builtins", "dict"): dict,
}
"""The only globals an ``np.save``-d dict of float arrays needs (files of numpy 1 name ``numpy.core``,
numpy 2 ``numpy._core``), each a checking builder."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _GLOBALS.get((module, name))
        if found is None:
            raise ForbiddenPickle(f"forbidden global {module}.{name}")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise ForbiddenPickle("persistent ids are not allowed")


def built(value: Any) -> Any:
    """``value`` with a pickled array swapped for the array it built (DamagedPickle if it never got its
    state); anything else as it is."""
    if isinstance(value, _Array):
        if value.array is None:
            raise DamagedPickle("it holds an array that never received its data")
        return value.array
    return value


def unpickle_arrays(data: bytes) -> Any:
    """The object pickled in ``data`` (an ``np.save``-d object array's payload): for the layout of an
    official file (a 0-d object array holding a dict of arrays), real ndarrays at every level.
    Raises ForbiddenPickle for any other global, DamagedPickle for arrays that do not add up."""
    top = built(_RestrictedUnpickler(io.BytesIO(data)).load())
    if isinstance(top, np.ndarray) and top.dtype.hasobject and top.shape == ():
        inner = built(top.item())
        if isinstance(inner, dict):
            inner = {key: built(value) for key, value in inner.items()}
        top = np.empty((), dtype=object)
        top[()] = inner
    return top
