"""The C kernels of ``engine.ops.native`` for tests that need them: skipped, with the reason, where they
cannot be built (no compiler, a refused cache)."""

from __future__ import annotations

import pytest

from engine.ops import native


def require():
    """The loaded kernels, or a skip naming why there are none."""
    lib = native.library()
    if lib is None:
        pytest.skip(f"native kernels unavailable here: {native.problem()}")
    return lib
