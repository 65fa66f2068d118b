"""A look at a pickle's instructions before anything unpickles it: how deep its objects nest.

Why: unpickling (torch's weights-only unpickler and the restricted ``.npy`` one alike) puts keys into
dicts, and hashing a tuple key nested a million deep recurses in C until the process dies with SIGSEGV;
no Python-level check can catch that. Real model files nest a few levels (state dicts of tensors, an
options dict), so a pickle nesting deeper than :data:`MAX_PICKLE_DEPTH` is refused unread.

The depth is followed through the pickle's stack machine (``pickletools.genops``, one pass, nothing
built or called). Containers filled later (APPEND, SETITEM, BUILD) grow to hold what is put in them; a
tuple or frozenset, the only containers a dict key can be, gets its depth once, when it is made.
"""

from __future__ import annotations

import io
import pickletools
from typing import IO

MAX_PICKLE_DEPTH = 200
"""Deepest nesting accepted (official files: under 10)."""
MAX_PICKLE_OPCODES = 2_000_000
"""Most instructions read (an official checkpoint's pickle: tens of thousands)."""

_MARK = -1
_FROM_MARK = {"TUPLE", "LIST", "DICT", "FROZENSET", "OBJ", "INST"}
"""Instructions that gather everything above the last MARK into a new container."""
_FILL_FROM_MARK = {"APPENDS", "SETITEMS", "ADDITEMS"}
"""Instructions that put everything above the last MARK into the container below it."""
_FILL = {"APPEND": 1, "SETITEM": 2, "BUILD": 1}
"""Instructions that put the top N items into the container below them."""
_MAKE = {
    "TUPLE1": 1,
    "TUPLE2": 2,
    "TUPLE3": 3,
    "REDUCE": 2,
    "NEWOBJ": 2,
    "NEWOBJ_EX": 3,
    "STACK_GLOBAL": 2,
    "BINPERSID": 1,
}
"""Instructions that make one object of the top N items."""
_EMPTY = {"EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}


class PickleTooDeep(ValueError):
    """A pickle nests its objects deeper than any model file (or holds far more instructions)."""


def _pop_to_mark(stack: list[int]) -> list[int]:
    items = []
    while stack and stack[-1] != _MARK:
        items.append(stack.pop())
    if stack:
        stack.pop()
    return items


def pickle_depth(stream: IO[bytes]) -> int:
    """The deepest nesting of the one pickle read from ``stream`` (left just after its STOP).
    Raises PickleTooDeep past :data:`MAX_PICKLE_OPCODES` instructions; a damaged pickle's own error
    (ValueError from ``genops``) is left to the unpickler to report, so it ends the scan quietly."""
    stack: list[int] = []
    memo: dict[int, int] = {}
    deepest = 0
    try:
        for count, (opcode, arg, _pos) in enumerate(pickletools.genops(stream)):
            if count > MAX_PICKLE_OPCODES:
                raise PickleTooDeep(f"its pickle holds more than {MAX_PICKLE_OPCODES:,} instructions")
            name = opcode.name
            if name == "MARK":
                stack.append(_MARK)
            elif name in _FROM_MARK:
                stack.append(1 + max(_pop_to_mark(stack), default=0))
            elif name in _FILL_FROM_MARK:
                items = _pop_to_mark(stack)
                if stack and items:
                    stack[-1] = max(stack[-1], 1 + max(items))
            elif name in _FILL:
                items = [stack.pop() for _ in range(min(_FILL[name], len(stack)))]
                if stack and items:
                    stack[-1] = max(stack[-1], 1 + max(items))
            elif name in _MAKE:
                items = [stack.pop() for _ in range(min(_MAKE[name], len(stack)))]
                stack.append(1 + max(items, default=0))
            elif name in _EMPTY:
                stack.append(1)
            elif name in _MEMO_PUT:
                if stack:
                    memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in _MEMO_GET:
                stack.append(memo.get(arg, 0))
            elif name == "POP":
                if stack:
                    stack.pop()
            elif name == "POP_MARK":
                _pop_to_mark(stack)
            elif name == "DUP":
                stack.append(stack[-1] if stack else 0)
            elif name == "STOP":
                break
            elif opcode.stack_after:  # a number, a string, None, a global...: one atom more
                stack.append(0)
            if stack and stack[-1] > deepest:
                deepest = stack[-1]
    except ValueError as exc:
        if isinstance(exc, PickleTooDeep):
            raise
    return deepest


def check_pickle_depth(data: bytes | IO[bytes], pickles: int = 1) -> None:
    """PickleTooDeep when any of the first ``pickles`` pickles in ``data`` nests deeper than
    :data:`MAX_PICKLE_DEPTH` (torch's legacy format writes several in a row)."""
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    for _ in range(pickles):
        depth = pickle_depth(stream)
        if depth > MAX_PICKLE_DEPTH:
            raise PickleTooDeep(
                f"its pickle nests objects {depth:,} deep (a model file's: under 10; at most "
                f"{MAX_PICKLE_DEPTH} read, since deeper keys crash the unpickler)"
            )
