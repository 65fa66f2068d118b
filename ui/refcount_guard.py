"""Keep None, True and False alive for the whole run on Python 3.11 and older, as 3.12 does.

Some PySide6 wheels hand a singleton back without taking a reference for it: on Python 3.11 each
call of a Qt method that returns nothing (``setToolTip``, ``setEnabled``…) with 6.12.0, and each
signal ``emit`` with 6.11.2, takes one reference from None or from True/False. CPython 3.11 counts
those references (3.12 made the singletons immortal), so after some thousands of calls, a queue of
200 jobs or an hour of progress events, the panel died with "Fatal Python error: none_dealloc:
deallocating None". Giving each singleton 2**40 references (64-bit) up front makes that count unreachable,
whichever PySide6 is installed; ``ui/__init__`` does it before any Qt call.
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = min(1 << 40, sys.maxsize // 4)  # a 32-bit Python: a quarter of what its count holds


def protect_singletons() -> bool:
    """Add RESERVE references to None, True and False (once); False where nothing needs doing:
    Python 3.12 and later, another Python than CPython, or a debug build whose objects start with
    other fields than their reference count."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12) or hasattr(sys, "getobjects"):
        return False
    for singleton in (None, True, False):
        if sys.getrefcount(singleton) < RESERVE:
            ctypes.c_ssize_t.from_address(id(singleton)).value += RESERVE
    return True
