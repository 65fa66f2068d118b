"""Where a finished render may land, given what the artist did to its source strip meanwhile (no bpy).

A modal render takes minutes while the artist keeps editing: the source strip may be moved, trimmed,
renamed, relinked or deleted, its scene deleted, an undo may bring back an older timeline. The
result is laid only where it still shows the frames it was rendered from; otherwise nothing lands
and the artist is told why and where the rendered frames are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceMark:
    """What a render was made for, read from the source strip (when the job starts, and again when
    it ends)."""

    strip_name: str
    media: str
    """The file (or frame pattern) the engine read."""
    numbers: tuple[int, ...]
    """Engine frame number shown at each visible timeline frame, first to last."""
    frame_start: int
    """Timeline frame of the first visible frame."""

    def same_frames(self, other: SourceMark) -> bool:
        """The strip shows the same media frames in the same order (wherever it now sits)."""
        return self.media == other.media and self.numbers == other.numbers


@dataclass(frozen=True)
class Landing:
    """``frame_start`` is where the result goes (None: it must not land; ``problem``/``fix`` say why);
    ``note`` tells the artist what was adapted (a moved or renamed source)."""

    frame_start: int | None
    strip_name: str = ""
    problem: str = ""
    fix: str = ""
    note: str = ""


def find_source(before: SourceMark, candidates: dict[str, SourceMark]) -> SourceMark | None:
    """The source strip now: the strip of the same name, else the one strip showing exactly the same
    frames at the same place (the source renamed). ``candidates``: marks of the scene's renderable strips."""
    same_name = candidates.get(before.strip_name)
    if same_name is not None:
        return same_name
    twins = [m for m in candidates.values() if m.same_frames(before) and m.frame_start == before.frame_start]
    return twins[0] if len(twins) == 1 else None


def landing(before: SourceMark, now: SourceMark | None, scene_name: str, scene_found: bool,
            kept_in: str) -> Landing:
    """Where the result of a render made for ``before`` lands, given the strip ``now`` (None: gone).

    ``kept_in``: the folder holding the rendered frames (named when they do not land)."""
    name = before.strip_name
    keep = f"; the rendered frames are kept in {kept_in}" if kept_in else ""
    if not scene_found:
        return Landing(None, problem=f"scene {scene_name!r} was deleted (or another file opened) during the "
                                     f"render of {name!r}{keep}",
                       fix="undo the deletion if it was a mistake, then Stylize the strip again")
    if now is None:
        return Landing(None, problem=f"strip {name!r} was deleted during the render{keep}",
                       fix="undo the deletion if it was a mistake, then Stylize the strip again")
    if now.media != before.media:
        return Landing(None, strip_name=now.strip_name,
                       problem=f"strip {now.strip_name!r} now shows another file than the render was made "
                               f"from{keep}", fix="Stylize the strip again")
    if now.numbers != before.numbers:
        return Landing(None, strip_name=now.strip_name,
                       problem=f"strip {now.strip_name!r} was trimmed or retimed during the render, so the "
                               f"rendered frames no longer match it{keep}",
                       fix="Stylize the strip again (or undo the edit, then Stylize)")
    notes = []
    if now.strip_name != name:
        notes.append(f"strip {name!r} was renamed to {now.strip_name!r} during the render")
    if now.frame_start != before.frame_start:
        notes.append(f"strip {now.strip_name!r} moved by {now.frame_start - before.frame_start:+d} frames "
                     "during the render: the result follows it")
    return Landing(now.frame_start, strip_name=now.strip_name, note="; ".join(notes))


def preview_landing(before: SourceMark, now: SourceMark | None, number: int, frame: int, scene_name: str,
                    scene_found: bool) -> Landing:
    """Timeline frame for the preview of engine frame ``number``, asked at timeline ``frame`` of the
    strip marked ``before``: registered to the strip as it is now (moved: it follows; trimmed: it sits
    wherever the strip still shows that frame), or None with the reason (the image is still shown in
    the Image Editor, so the fix never asks to render again first)."""
    name = before.strip_name
    if not scene_found:
        return Landing(None, problem=f"scene {scene_name!r} was deleted (or another file opened) while the "
                                     f"preview of {name!r} rendered, so no preview strip was laid",
                       fix="the preview image is in the Image Editor; Preview again to see it over the strip")
    if now is None:
        return Landing(None, problem=f"strip {name!r} was deleted while its preview rendered, so no preview "
                                     "strip was laid",
                       fix="undo the deletion if it was a mistake, then Preview again (the image is in the "
                           "Image Editor)")
    if now.media != before.media:
        return Landing(None, strip_name=now.strip_name,
                       problem=f"strip {now.strip_name!r} now shows another file than the preview was made from",
                       fix="Preview again")
    offset = frame - before.frame_start
    if 0 <= offset < len(now.numbers) and now.numbers[offset] == number:
        at = now.frame_start + offset
    elif number in now.numbers:
        at = now.frame_start + now.numbers.index(number)
    else:
        return Landing(None, strip_name=now.strip_name,
                       problem=f"strip {now.strip_name!r} no longer shows source frame {number} (it was trimmed "
                               "while the preview rendered)", fix="Preview a frame the strip shows")
    note = f"strip {now.strip_name!r} changed while the preview rendered: the preview follows it" \
        if at != frame else ""
    return Landing(at, strip_name=now.strip_name, note=note)


LANDING_WAIT_S = 120.0
"""Longest a finished render waits for the artist's edit in progress before it lands anyway (an
add-on's modal operator that never ends must not keep the result away for good)."""


def busy_edit(modal_operators: list[str], own: str) -> str:
    """The artist's edit in progress (a modal operator other than the render's own, ``own`` given as
    ``sequencer.vtoonify_stylize``, Blender's list as ``SEQUENCER_OT_vtoonify_stylize``: a strip being
    grabbed, a box select, a slider drag), or ''. A result laid in the middle of it would be moved by
    the grab's overlap handling and its undo step would hold the half-moved strips."""
    return next((name for name in modal_operators if name.replace("_OT_", ".").lower() != own.lower()), "")


def landing_waits(edit: str, waited_s: float, limit_s: float = LANDING_WAIT_S) -> bool:
    """Whether a finished render keeps waiting for ``edit`` (see ``busy_edit``) before it lands."""
    return bool(edit) and waited_s < limit_s


def waiting_text(edit: str) -> str:
    """The status line while a finished render waits for the artist's edit to end."""
    return f"VToonify: rendered; the result lands as soon as the current edit ({edit}) ends"
