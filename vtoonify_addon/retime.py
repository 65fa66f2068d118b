"""A Speed Control fed by the source strip, followed by its result.

What the editor sees of a retimed source is the Speed Control's output, so the result must go through
the same retiming. The landing lays a copy of each such effect (same range, settings, blend, placement)
with the result as its input, above the source's, and mutes the result itself (an effect still reads a
muted input) so only the retimed result shows. A Speed Control picks frames from its input's whole
content (frames trimmed off the source too) counted from the input's own start, so the copy shows the
same frames only when the result covers exactly what the source holds: an untrimmed source. A trimmed
source, or an animated speed, gets no copy and keeps the panel's warning with the fix. So does a movie
source outside Blender 4.2: 4.3-5.0 round a movie's in-between frames (a 0.5x speed's 0.5, 1.5...) to
the nearest frame but an image sequence's down, so the copy would show the previous frame there (measured
in tests/blender/test_speed_follow.py, and by hand on 4.3.0, 4.4.0, 4.5.15; 4.2 treats both alike). An
image-sequence source is followed in every version: both inputs are image strips. A muted Speed Control
shows nothing (the source shows at its own timing), so it gets no copy either.

The artist may change, mute or delete the source's Speed Control after the landing; the copy would
then keep the old retiming (or, deleted, leave the result muted with nothing over it) without a word.
``speed_drift`` says so, and ``refollow_speeds`` lays the copies again from the effects as they are
now, without re-rendering (the result's frames are the source's, whatever the retiming).
"""

from __future__ import annotations

import bpy

from . import compat
from .core import job_settings as js
from .core.result_plan import NoFreeChannel, free_channel

SPEED_ROLE = "speed"
MUTED_FOR_SPEED = "vtoonify_muted_for_speed"
"""Set on a result muted because a speed copy shows it (a later landing without one unmutes it)."""
FOLLOWS = "vtoonify_follows"
"""On a speed copy: the name of the source's Speed Control it copies (its warning is then dropped)."""
_SETTINGS = (
    "speed_control",
    "speed_factor",
    "speed_frame_number",
    "speed_length",
    "use_frame_interpolate",
    "blend_type",
    "blend_alpha",
    "use_flip_x",
    "use_flip_y",
    "color_saturation",
    "color_multiply",
)
_PLACEMENT = ("transform", "crop")


def source_speeds(scene, source) -> list:
    """Speed Control strips whose input is ``source``."""
    return [
        s
        for s in compat.all_strips(scene.sequence_editor)
        if s.type == "SPEED" and getattr(s, "input_1", None) == source and s.get(js.ROLE_PROPERTY) != SPEED_ROLE
    ]


def speed_copies(scene, source_name: str) -> list:
    return [
        s
        for s in compat.all_strips(scene.sequence_editor)
        if s.get(js.ROLE_PROPERTY) == SPEED_ROLE and s.get(js.SOURCE_PROPERTY) == source_name
    ]


def _animated(scene, strip) -> bool:
    marker = f'["{strip.name}"]'
    return any(marker in fc.data_path for fcurves in compat.scene_fcurve_collections(scene) for fc in fcurves)


def copy_blocker(scene, source, speed, result) -> str:
    """Why the result cannot follow ``speed`` frame for frame ('' when it can)."""
    if (int(source.frame_offset_start), int(source.frame_offset_end)) != (0, 0) or (
        result.frame_final_start,
        result.frame_final_end,
    ) != (source.frame_final_start, source.frame_final_end):
        return (
            f"{source.name!r} is trimmed, and {speed.name!r} also shows frames trimmed off it, which are not rendered"
        )
    if _animated(scene, speed):
        return f"the speed of {speed.name!r} is animated"
    if source.type == "MOVIE" and bpy.app.version[:2] != (4, 2):
        return (
            f"Blender {bpy.app.version_string} shows a movie's in-between frames of a Speed Control rounded "
            "and an image sequence's rounded down, so a copy over the result would be a frame off at times"
        )
    return ""


def _new_speed(strips, name: str, channel: int, speed, result):
    start, length = speed.frame_final_start, speed.frame_final_end - speed.frame_final_start
    return compat.new_effect(strips, name, "SPEED", channel, start, length, input1=result)


def _copy_settings(copy, speed) -> None:
    for name in _SETTINGS:
        if hasattr(speed, name):
            setattr(copy, name, getattr(speed, name))
    for group in _PLACEMENT:
        theirs, mine = getattr(speed, group, None), getattr(copy, group, None)
        if theirs is None or mine is None:
            continue
        for prop in theirs.bl_rna.properties:
            if prop.identifier != "rna_type" and not prop.is_readonly:
                setattr(mine, prop.identifier, getattr(theirs, prop.identifier))


def rounded(value):
    """Floats to 4 places (arrays too): a copied setting compares equal, a moved one does not (the stale
    checks of ``stylize`` and the speed drift here compare strips by it)."""
    if isinstance(value, float):
        return round(value, 4)
    if not isinstance(value, str) and hasattr(value, "__len__"):
        return tuple(rounded(v) for v in value)
    return value


def fingerprint(strip) -> dict:
    """What a copy shares with the Speed Control it follows (range, speed settings, blend, placement):
    equal values, equal retiming on screen."""
    values = {"range": (int(strip.frame_final_start), int(strip.frame_final_end))}
    values.update({name: rounded(getattr(strip, name)) for name in _SETTINGS if hasattr(strip, name)})
    for group in _PLACEMENT:
        settings = getattr(strip, group, None)
        for prop in settings.bl_rna.properties if settings is not None else ():
            if prop.identifier != "rna_type" and not prop.is_readonly:
                values[f"{group}.{prop.identifier}"] = rounded(getattr(settings, prop.identifier))
    return values


def _followable(scene, source, strips) -> list:
    """The source's Speed Controls a copy over the result in ``strips`` may stand for: beside it, unmuted."""
    editor = scene.sequence_editor
    return [s for s in source_speeds(scene, source) if not s.mute and compat.container_of(editor, s) == strips]


_SAID = {
    "range": "range",
    "speed_control": "speed mode",
    "speed_factor": "speed factor",
    "speed_frame_number": "frame number",
    "speed_length": "length",
    "use_frame_interpolate": "interpolation",
    "blend_type": "blend",
    "blend_alpha": "opacity",
}
REFOLLOW = (
    "press Follow Source Speed in the VToonify panel (it lays the result's copy again from the source's "
    "Speed Control as it is now, or removes it and unmutes the result when there is none; no re-render), "
    "or undo the change"
)


def speed_drift(scene, source, result) -> tuple[str, str] | None:
    """(problem, fix) when the Speed Control copies over ``result`` no longer match the source's (one
    changed, muted, deleted or added after the landing, or a copy deleted under the still-muted result);
    None when they match, or when the result was laid without any (``effect_inputs_warning`` speaks)."""
    laid = {str(c.get(FOLLOWS, "")): c for c in speed_copies(scene, source.name)}
    if not laid and not result.get(MUTED_FOR_SPEED):
        return None
    wanted = {s.name: s for s in _followable(scene, source, compat.container_of(scene.sequence_editor, result))}
    wanted = {name: s for name, s in wanted.items() if name in laid or not copy_blocker(scene, source, s, result)}
    said = []
    for name, copy in laid.items():
        speed = wanted.get(name)
        if speed is None:
            gone = next((s for s in source_speeds(scene, source) if s.name == name), None)
            said.append(f"{name!r} was {'muted' if gone is not None and gone.mute else 'deleted'}")
            continue
        why = copy_blocker(scene, source, speed, result)
        if why:
            said.append(f"{name!r} can no longer be followed ({why})")
            continue
        theirs, mine = fingerprint(speed), fingerprint(copy)
        changed = [key for key in theirs if theirs[key] != mine.get(key)]
        if changed:
            what = sorted({_SAID.get(key, "placement" if "." in key else key) for key in changed})
            said.append(f"the {', '.join(what)} of {name!r} changed")
    if not laid:  # still muted for a copy that is gone: nothing shows it
        said.append("its Speed Control copy was deleted, which leaves it muted")
    else:
        said += [f"{name!r} was added (or unmuted)" for name in wanted if name not in laid]
    if not said:
        return None
    return (
        f"Off its speed: since this result landed, {'; '.join(said)}, so the result's copy no longer "
        f"retimes it as {source.name!r} is shown",
        REFOLLOW,
    )


def refollow_speeds(scene, source, result) -> list[str]:
    """Lay the result's speed copies again from the source's Speed Controls as they are now (no
    re-render): same as after a landing, with the settings the result was made with."""
    settings_json = str(result.get(js.SETTINGS_PROPERTY, ""))
    return follow_speeds(scene, source, result, compat.container_of(scene.sequence_editor, result), settings_json)


def follow_speeds(scene, source, result, strips, settings_json: str) -> list[str]:
    """After a landing: a speed copy over the result for each Speed Control on ``source`` that it can
    follow; returns, for each it cannot, why (the panel's warning keeps the fix)."""
    for old in speed_copies(scene, source.name):
        compat.container_of(scene.sequence_editor, old).remove(old)
    speeds = _followable(scene, source, strips)
    followed, notes = [], []
    for speed in speeds:
        why = copy_blocker(scene, source, speed, result)
        if why:
            notes.append(why)
            continue
        start, end = speed.frame_final_start, speed.frame_final_end
        occupied = [(s.channel, s.frame_final_start, s.frame_final_end) for s in strips]
        top = max(
            [result.channel, speed.channel]
            + [
                s.channel
                for s in strips
                if s.get(js.SOURCE_PROPERTY) == source.name and s.frame_final_start < end and start < s.frame_final_end
            ]
        )
        try:
            channel = free_channel(occupied, start, end, top + 1)
        except NoFreeChannel as err:
            notes.append(f"no channel above {speed.name!r} is free for the result's copy of it ({err.problem})")
            continue
        copy = _new_speed(strips, f"{result.name}.{speed.name}", channel, speed, result)
        _copy_settings(copy, speed)
        copy[js.SOURCE_PROPERTY], copy[js.ROLE_PROPERTY] = source.name, SPEED_ROLE
        copy[js.SETTINGS_PROPERTY], copy[FOLLOWS] = settings_json, speed.name
        copy.select = False
        followed.append(copy)
    if followed:
        result.mute, result[MUTED_FOR_SPEED] = True, 1
    elif result.get(MUTED_FOR_SPEED):
        result.mute = False
        del result[MUTED_FOR_SPEED]
    return notes
