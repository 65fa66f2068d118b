"""A stand-in ``self`` for the add-on's modal operator, shared by the Blender tests that drive it.

bpy operators cannot be built from Python and bpy as a module has no event loop, so tests call the
operator's own methods on a namespace that records its reports and ticks ``modal`` by hand.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

OPERATOR_METHODS = ("_begin", "_prepare", "_connector", "_fail", "_setup_session", "_show_progress", "_finish",
                    "_release", "cancel", "modal", "_tell_outcome", "_landing", "_ended_from_outside",
                    "_waits_for_edit")


def stand_in_operator(addon, reports: list):
    """``self`` for ``VTOON_OT_stylize``'s methods; ``report`` appends ``(set(kind), message)``."""
    op = addon.operators.VTOON_OT_stylize
    fake = SimpleNamespace(_timer=None, _preview=op._preview,
                           report=lambda kind, message: reports.append((set(kind), message)))
    for name in OPERATOR_METHODS:
        setattr(fake, name, functools.partial(getattr(op, name), fake))
    return fake
