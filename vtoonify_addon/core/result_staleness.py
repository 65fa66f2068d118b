"""Whether a finished result still lines up with its source strip (no bpy).

A result is laid frame for frame over its source. Edits after it landed (a new scene frame rate, the
source moved, trimmed, retimed, slipped or relinked) silently break that; the panel compares what the
result was made for with the source now and says what changed and what to do.
"""

from __future__ import annotations

import json

MADE_FOR_PROPERTY = "vtoonify_made_for"
"""Custom property on a result strip: the ``placement`` its source had when the result landed (JSON)."""

RERENDER = "Re-render: select the result and press Stylize (or undo the change)"

_TIMING_KEYS = ("frame_start", "offset_start", "offset_end", "duration", "anim_start", "anim_end",
                "reverse", "strobe", "retime_keys", "speed")


def placement(media: str, fps: float, frame_final_start: int, frame_final_end: int, **timing) -> dict:
    """What a result depends on, from values Blender gives read-only (cheap enough for a panel draw).

    ``timing``: the strip's content timing (frame_start, offsets, duration, reverse, strobe...) and the
    file's ``size``."""
    made = {"media": media, "fps": round(float(fps), 4), "start": int(frame_final_start),
            "end": int(frame_final_end)}
    made.update({k: timing[k] for k in (*_TIMING_KEYS, "size") if k in timing})
    return made


def to_json(made: dict) -> str:
    return json.dumps(made, sort_keys=True)


def from_json(text: str) -> dict | None:
    """The stored placement, or None (a result from an older add-on, or a damaged property)."""
    try:
        made = json.loads(text) if text else None
    except ValueError:
        return None
    return made if isinstance(made, dict) else None


def stale_warning(made: dict | None, now: dict | None, source_name: str) -> tuple[str, str] | None:
    """(problem, fix) when the result no longer lines up with its source as it is ``now`` (None: the
    source strip is gone); None when it still does, or when nothing was stored to compare.

    ``result_start`` in both: where the result strip's content starts then and now (its ``frame_start``:
    a split or trimmed result keeps it; a source and result moved together still line up)."""
    if not made:
        return None
    if now is None:
        return (f"Out of date: source strip {source_name!r} is gone (deleted or renamed)",
                "undo the change, or rename the source back; delete this result if it is no longer needed")
    if _name(now.get("media")) != _name(made.get("media")):
        return (f"Out of date: source strip {source_name!r} now shows another file than this result was "
                "made from", RERENDER)
    if now.get("size") != made.get("size"):  # the same path (or the project moved): size tells a new file
        return (f"Out of date: the file of source strip {source_name!r} was replaced (or is missing) since "
                "this result landed", RERENDER)
    if now.get("fps") != made.get("fps"):
        return (f"Out of date: the scene frame rate is now {_fps(now.get('fps'))} fps; this result was "
                f"made at {_fps(made.get('fps'))} fps, so its frames no longer line up with the source",
                f"Re-render: select the result and press Stylize (or set the frame rate back to "
                f"{_fps(made.get('fps'))} fps)")
    timing_same = all(now.get(k) == made.get(k) for k in _TIMING_KEYS if k != "frame_start")
    moved = now.get("start", 0) - made.get("start", 0)
    if timing_same and moved == now.get("end", 0) - made.get("end", 0) \
            and moved == now.get("frame_start", 0) - made.get("frame_start", 0):
        # moved together (both grabbed, their meta moved): still in line
        shift = moved - (now.get("result_start", 0) - made.get("result_start", 0))
        if shift == 0:
            return None
        if moved == 0:
            return (f"Out of date: this result was moved {-shift:+d} frames off its source strip "
                    f"{source_name!r}", f"move the result by {shift:+d} frames (or undo the move)")
        return (f"Out of date: source strip {source_name!r} moved by {shift:+d} frames against this result "
                "since it landed", f"move the result by {shift:+d} frames too, or "
                f"{RERENDER[0].lower()}{RERENDER[1:]}")
    return (f"Out of date: source strip {source_name!r} was trimmed, slipped or retimed since this result "
            "landed, so its frames no longer line up", RERENDER)


def _name(media) -> str:
    """The file name without its folder: a project moved elsewhere keeps its results in line."""
    return str(media or "").replace("\\", "/").rsplit("/", 1)[-1]


def _fps(value) -> str:
    return f"{float(value or 0):g}"


MATCH_PLACEMENT = ("press Match Placement in the VToonify panel (it copies the source's placement and its "
                   "animation onto the result and its mattes, keeping their colour grade; no re-render), or undo "
                   "the change")

_PLACEMENT_NAMES = (("transform.", "position/scale/rotation"), ("crop.", "crop"), ("use_flip", "flip"),
                    ("animation", "placement animation"))


def placement_drift(source: dict, result: dict, source_name: str) -> tuple[str, str] | None:
    """(problem, fix) when the result no longer takes its source strip's placement: ``source`` and
    ``result`` map each placement setting the add-on copies (``transform.offset_x``, ``crop.min_y``,
    ``use_flip_x``..., and ``animation``: a fingerprint of its keys, modifiers and drivers) to its
    value now. The artist who repositions a plate after its result landed would
    otherwise see the stylized face slide off the real one without a word."""
    changed = [key for key in sorted(source.keys() | result.keys()) if source.get(key) != result.get(key)]
    if not changed:
        return None
    kinds = [label for prefix, label in _PLACEMENT_NAMES if any(k.startswith(prefix) for k in changed)]
    what = ", ".join(kinds) or ", ".join(changed)
    return (f"Off its plate: the {what} of source strip {source_name!r} no longer match this result's "
            "(changed after it landed), so the two no longer line up", MATCH_PLACEMENT)
