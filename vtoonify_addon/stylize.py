"""Stylize one VSE strip: read it, submit the job, and lay the result strips over it.

``stylize_strip`` is the blocking form (``blender -b shot.blend --python-expr ...``); the modal
operator uses the same pieces (``prepare_job``, ``PolledJob``, ``finish_job``) on a timer.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import bpy

from . import compat, retime
from .core import job_settings as js
from .core.frame_mapping import (
    StripTiming,
    media_length_from_probe,
    playback_factor,
    range_text,
    retimed_movie_blocker,
    retimed_movie_refusal,
    source_frame_numbers,
)
from .core.job_runner import PolledJob, run_job
from .core.job_tracker import DONE, FAILED, JobTracker
from .core.landing import SourceMark, find_source
from .core.output_versions import (
    existing_versions,
    missing_in_version,
    next_version_dir,
    output_root_problem,
    remove_version_dir,
    stem_dir_problem,
    version_dir,
    version_number,
    versions_shown,
)
from .core.partial_output import kept_after_loss
from .core.result_plan import NoFreeChannel, free_channel, missing_files, plan_result_strips, result_channels
from .core.result_staleness import (
    MADE_FOR_PROPERTY,
    from_json,
    placement,
    placement_drift,
    stale_warning,
    to_json,
)
from .core.sequence_files import pattern_from_file, sequence_numbers

__all__ = ("PolledJob", "apply_result", "finish_job", "prepare_job", "run_job", "stylize_strip")


class StripError(Exception):
    """The strip cannot be stylized (wrong type, unsaved file, retimed...): shown as a report."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    @property
    def user_message(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


@dataclass(frozen=True)
class PreparedJob:
    """A job ready to submit, plus what is needed to place its result afterwards."""

    settings: dict
    source_numbers: tuple[int, ...]
    frame_start: int
    output_dir: str
    """This job's own version folder (``.../<stem>/v003``): nothing else writes there."""
    group_meta: bool = False
    """Lay the result and its mattes in one meta strip (kept once made: re-renders refill it)."""


def content_length(strip) -> int:
    """Timeline frames the strip's content spans before its handles. Read from the handles because
    ``frame_duration`` is that length in 5.0 but the media length, unscaled, in 4.2."""
    return round(strip.frame_final_end + strip.frame_offset_end - strip.frame_start)


def movie_rate(scene, strip) -> tuple[float, int | None]:
    """(playback rate, media length) of a movie strip, read without opening the file again.

    Blender keeps its "adjust playback rate" flag out of Python, but an adjusted strip's content length
    follows the scene rate while a 1:1 strip's does not: briefly set a scene rate of 4x the clip's,
    read the content length again, restore the rate. At that rate each media length gives its own
    content length, so the probe also yields the media length (for Blender's end-of-media clamp).
    """
    media_fps = float(getattr(strip, "fps", 0.0) or 0.0)
    render = scene.render
    if media_fps <= 0.0:
        return 1.0, None
    duration, fps, base = content_length(strip), render.fps, render.fps_base
    probe_fps = media_fps * (4.0 if abs(media_fps * 4.0 - compat.scene_fps(scene)) > 1e-3 else 8.0)
    try:
        render.fps_base = fps / probe_fps
        probed = content_length(strip)
        probe_factor = playback_factor(media_fps, fps / render.fps_base)
    finally:
        render.fps_base = base
    if probed == duration:
        return 1.0, None
    return playback_factor(media_fps, fps / base), media_length_from_probe(probed, probe_factor)


def visible_range(strip) -> tuple[int, int]:
    """Timeline frames of ``strip`` that can show: its own cut within every enclosing meta's cut."""
    start, end = int(strip.frame_final_start), int(strip.frame_final_end)
    for meta in compat.parent_metas(strip):
        start, end = max(start, int(meta.frame_final_start)), min(end, int(meta.frame_final_end))
    if end <= start:
        raise StripError(f"strip {strip.name!r} lies outside its meta strip's cut", "move it into the meta's range")
    return start, end


def render_source(strip):
    """The movie/image strip that shows through ``strip``: itself, or for a meta strip the topmost
    unmuted movie/image strip inside it that overlaps the meta's cut (searched into nested metas)."""
    seen = 0
    while strip is not None and strip.type == "META" and seen < 32:
        lo, hi = int(strip.frame_final_start), int(strip.frame_final_end)
        inner = [s for s in compat.meta_strips(strip) if not s.mute and s.type in {"MOVIE", "IMAGE", "META"}
                 and s.frame_final_start < hi and lo < s.frame_final_end]
        strip = max(inner, key=lambda s: s.channel) if inner else None
        seen += 1
    return strip


def retimed(strip) -> bool:
    """The strip has retiming keys (Strip > Retiming: a speed change, a freeze frame, or keys added and
    never moved). Its RNA keeps the speed out of Python: a key has only its timeline frame (see
    ``retimed_movie_refusal``)."""
    return len(getattr(strip, "retiming_keys", ())) >= 2


def unreadable_source(strip) -> tuple[str, str] | None:
    """(problem, fix) when ``strip`` cannot be rendered as Blender shows it, found cheaply enough for a
    poll (the button greys out with the reason before any click): a movie with retiming keys."""
    if strip.type == "MOVIE" and retimed(strip):
        return retimed_movie_blocker(strip.name, len(strip.retiming_keys))
    return None


def strip_timing(scene, strip) -> StripTiming:
    """Read the timing attributes of ``strip`` into the bpy-free dataclass."""
    if retimed(strip):  # its speed is unknowable: the frames would not match what Blender shows
        raise StripError(*retimed_movie_refusal(strip.name, len(strip.retiming_keys)))
    rate, media_length = movie_rate(scene, strip) if strip.type == "MOVIE" else (1.0, None)
    start, end = visible_range(strip)
    return StripTiming(frame_start=float(strip.frame_start), frame_final_start=start, frame_final_end=end,
                       frame_duration=content_length(strip),
                       animation_offset_start=int(getattr(strip, "animation_offset_start", 0)),
                       playback_rate=rate, media_length=media_length,
                       reverse=bool(getattr(strip, "use_reverse_frames", False)),
                       strobe=float(getattr(strip, "strobe", 1.0)))


def _numbered(filename: str) -> bool:
    try:
        pattern_from_file(filename)
    except ValueError:
        return False
    return True


def strip_source(scene, strip) -> tuple[str, list[int], int]:
    """(engine source path, engine frame number per visible frame, start_number)."""
    if strip.type == "MOVIE":
        path = bpy.path.abspath(strip.filepath)
        if not os.path.isfile(path):
            raise StripError(f"movie {path} not found", "relink the strip's file")
        return path, source_frame_numbers(strip_timing(scene, strip), start_number=1), 1
    if strip.type == "IMAGE":
        directory = bpy.path.abspath(strip.directory)
        names = [e.filename for e in strip.elements]
        timing = None if retimed(strip) else strip_timing(scene, strip)
        if len(names) == 1 and not _numbered(names[0]):  # one still (a photo): held on every frame
            start, end = visible_range(strip)
            shown = source_frame_numbers(timing, start_number=0) if timing is not None else range(start, end)
            return os.path.join(directory, names[0]), [1] * len(shown), 1
        if timing is None:  # retimed (5.0): the files Blender itself shows, frame by frame
            return _shown_files(strip, directory, names)
        try:
            pattern, numbers = sequence_numbers(names)
        except ValueError as err:
            raise StripError(str(err)) from err
        indices = [min(i, len(names) - 1) for i in source_frame_numbers(timing, start_number=0)]
        return os.path.join(directory, pattern), [numbers[i] for i in indices], numbers[0]
    raise StripError(f"strip {strip.name!r} is a {strip.type.lower()} strip",
                     "select a movie or image strip")


def _shown_files(strip, directory: str, names: list[str]) -> tuple[str, list[int], int]:
    """(pattern, frame number per visible frame, first number) of a retimed image strip, read from
    ``strip_elem_from_frame``: Blender's own choice of file, speed changes and freeze frames included."""
    try:
        pattern, every = sequence_numbers(names)
        number_of = dict(zip(names, every, strict=True))
        numbers = []
        for frame in range(*visible_range(strip)):
            element = strip.strip_elem_from_frame(frame)
            if element is None:
                raise StripError(f"strip {strip.name!r} shows no file at frame {frame}", "reset its retiming")
            numbers.append(number_of[element.filename])
    except ValueError as err:
        raise StripError(str(err)) from err
    return os.path.join(directory, pattern), numbers, every[0]


def source_mark(scene, strip) -> SourceMark:
    """What a render of ``strip`` is made for: its media and the frames it shows where (raises
    ``StripError`` when it cannot be rendered as it now is)."""
    media, numbers, _start = strip_source(scene, strip)
    return SourceMark(strip.name, media, tuple(numbers), visible_range(strip)[0])


def source_now(scene, before: SourceMark):
    """(strip, its mark) of a render's source strip now: the strip of that name, else the one renamed
    strip showing the same frames at the same place; (None, None) when it is gone. A strip that can
    no longer be rendered (its file gone, retimed) comes back with the ``StripError`` as its mark."""
    editor = scene.sequence_editor
    strips = compat.all_strips(editor) if editor is not None else []
    named = strips.get(before.strip_name) if editor is not None else None
    pool = [named] if named is not None else [
        s for s in strips if s.type in {"MOVIE", "IMAGE"} and int(s.frame_final_start) <= before.frame_start
        < int(s.frame_final_end)]
    marks, errors = {}, {}
    for strip in pool:
        try:
            marks[strip.name] = source_mark(scene, strip)
        except StripError as err:
            errors[strip.name] = err
    if named is not None and named.name in errors:
        return named, errors[named.name]
    found = find_source(before, marks)
    return (strips.get(found.strip_name), found) if found is not None else (None, None)


def output_folder(root: str, stem: str) -> str:
    """``//vtoonify/`` + stem, made absolute; a relative root needs a saved .blend file."""
    if root.startswith("//") and not bpy.data.filepath:
        raise StripError("the output folder is relative (//) but the .blend file is not saved",
                         "save the .blend file, or set an absolute output folder in the preferences")
    folder = os.path.abspath(bpy.path.abspath(root))
    problem = output_root_problem(folder) or stem_dir_problem(os.path.join(folder, stem))
    if problem is not None:
        raise StripError(*problem)
    return os.path.join(folder, stem)


def prepare_job(scene, strip, options: js.StylizeOptions, output_root: str, stem: str | None = None,
                group_meta: bool = False, preview: bool = False) -> PreparedJob:
    """Everything the engine needs for the strip's visible range, with the output folder noted.

    ``preview``: for a one-frame preview, which the engine writes to its own previews folder only (never
    to ``output``): an output root that cannot be used yet (a ``//`` folder while the .blend is unsaved,
    an unwritable folder) then gives way to a nominal one in the temp folder instead of refusing."""
    problem = js.cryptomatte_problem(options, bpy.app.version)
    if problem is not None:
        raise StripError(*problem)
    source, numbers, start_number = strip_source(scene, strip)
    stem = stem or js.safe_stem(strip.name)
    try:
        out_dir = next_version_dir(output_folder(output_root, stem))
    except StripError:
        if not preview:
            raise
        out_dir = os.path.join(tempfile.gettempdir(), "vtoonify-preview-output", stem, "v001")
    settings = js.build_job_settings(source, out_dir, range_text(numbers), options, stem,
                                     start_number=start_number if strip.type == "MOVIE" else 1)
    settings.update(js.host_settings(options, bpy.app.version))
    return PreparedJob(settings, tuple(numbers), visible_range(strip)[0], out_dir, group_meta)


def discard_partial_output(prepared: PreparedJob) -> bool:
    """After cancel/failure, once the engine has stopped writing: delete this job's version folder."""
    return remove_version_dir(prepared.output_dir)


def _portable_dir(directory: str) -> str:
    """``//``-relative when the folder lies beside the saved .blend, so the project moves as a whole."""
    blend_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
    try:
        inside = bool(blend_dir) and os.path.commonpath([blend_dir, directory]) == blend_dir
    except ValueError:  # Windows: another drive than the .blend's (no common path at all)
        inside = False
    if inside:
        return bpy.path.relpath(directory).rstrip("/\\") + "/"
    return directory.rstrip("/\\") + "/"


def _strips_of_source(strips, source_name: str) -> list:
    return [s for s in strips if s.get(js.SOURCE_PROPERTY) == source_name]


_LOOK = ("use_flip_x", "use_flip_y", "color_saturation", "color_multiply")
"""Strip settings besides transform and crop that change what the source strip shows."""


def match_source_look(result, source, settings: dict) -> None:
    """Give ``result`` the source strip's placement (fit scale, offset, rotation, origin, filter, crop,
    flips) and colour settings, so Blender draws both the same way. Exact for plate output: its
    frames have the source's pixel size. The crop output is a different picture and keeps its own."""
    if settings.get("output_space", "plate") != "plate":
        return
    for group in ("transform", "crop"):
        src, dst = getattr(source, group), getattr(result, group)
        for prop in src.bl_rna.properties:
            if prop.identifier != "rna_type" and not prop.is_readonly:
                value = getattr(src, prop.identifier)
                setattr(dst, prop.identifier, tuple(value) if prop.type == "FLOAT" and prop.is_array else value)
    for name in _LOOK:
        if hasattr(source, name) and hasattr(result, name):
            value = getattr(source, name)
            setattr(result, name, tuple(value) if name == "color_multiply" and not isinstance(value, float) else value)
    if settings.get("format") == "png":  # the engine keeps the source's encoded values in PNG
        result.colorspace_settings.name = source.colorspace_settings.name
    else:  # EXR: premultiplied scene-linear (the file says so; Blender reads it by extension)
        result.alpha_mode = "PREMUL"
    copy_placement_animation(result.id_data, source, result)


_PLACEMENT_PATHS = ("transform.", "crop.", *_LOOK)
"""Strip properties (relative data paths) whose animation the result takes from its source."""

_KEY_SETTINGS = ("interpolation", "handle_left_type", "handle_right_type", "easing", "back", "amplitude",
                 "period", "co", "handle_left", "handle_right")
"""Keyframe point settings copied as they are (types first: setting ``co`` then keeps the handles)."""


def copy_placement_animation(scene, source, result) -> int:
    """Give ``result`` the source's animated placement (keyframes with their F-curve modifiers, e.g. a
    Noise shake, and drivers) on offset, scale, rotation, crop and colour, so it stays over the plate
    on every frame, not only the one it landed on; replaces what an earlier render copied. Returns
    the number of F-curves copied (drivers included)."""
    src_root, dst_root = source.path_from_id(), result.path_from_id()
    paths = _followed_paths(scene, src_root)
    copied = 0
    for curves in compat.scene_fcurve_collections(scene):
        for old in [fc for fc in curves if _placement_of(fc.data_path, dst_root, paths) is not None]:
            curves.remove(old)
        for fc in [fc for fc in curves if _placement_of(fc.data_path, src_root, paths) is not None]:
            new = curves.new(f"{dst_root}.{_placement_of(fc.data_path, src_root, paths)}", index=fc.array_index)
            new.keyframe_points.add(len(fc.keyframe_points))
            for dst, src in zip(new.keyframe_points, fc.keyframe_points, strict=True):
                for name in _KEY_SETTINGS:
                    value = getattr(src, name)
                    setattr(dst, name, tuple(value) if name in ("co", "handle_left", "handle_right") else value)
            new.extrapolation, new.mute = fc.extrapolation, fc.mute
            copy_fcurve_modifiers(fc, new)
            new.update()
            copied += 1
    return copied + _copy_placement_drivers(scene, src_root, dst_root, paths)


def _followed_paths(scene, src_root: str) -> tuple[str, ...]:
    """The placement paths, plus the opacity when the source's is animated (a fade in or out: the
    result must fade with its plate, not stay on over a black frame); a static opacity on the
    result stays the artist's."""
    drivers = [scene.animation_data.drivers] if scene.animation_data is not None else []
    fading = any(fc.data_path == f"{src_root}.blend_alpha"
                 for curves in [*compat.scene_fcurve_collections(scene), *drivers] for fc in curves)
    return (*_PLACEMENT_PATHS, "blend_alpha") if fading else _PLACEMENT_PATHS


def _copy_placement_drivers(scene, src_root: str, dst_root: str, paths: tuple[str, ...]) -> int:
    """The source's drivers on placement properties, copied whole (variables, expression, modifiers)
    onto the same properties of the strip at ``dst_root``; the result's earlier copies go first."""
    animation = scene.animation_data
    if animation is None:
        return 0
    drivers = animation.drivers
    for old in [fc for fc in drivers if _placement_of(fc.data_path, dst_root, paths) is not None]:
        drivers.remove(old)
    copied = 0
    for fc in [fc for fc in drivers if _placement_of(fc.data_path, src_root, paths) is not None]:
        new = drivers.from_existing(src_driver=fc)
        new.data_path = f"{dst_root}.{_placement_of(fc.data_path, src_root, paths)}"
        copied += 1
    return copied


def copy_fcurve_modifiers(src_curve, dst_curve) -> None:
    """Every F-curve modifier of ``src_curve`` (Noise, Cycles, Generator, Envelope...) onto
    ``dst_curve``, with all its settings: the curve evaluates to the same value on every frame."""
    for modifier in src_curve.modifiers:
        copy = dst_curve.modifiers.new(modifier.type)
        _copy_settings(modifier, copy)  # mode and poly order before the coefficients (RNA order)
        for point in getattr(modifier, "control_points", ()):  # Envelope
            added = copy.control_points.add(point.frame)
            added.min, added.max = point.min, point.max


def _copy_settings(src, dst) -> None:
    """Every writable plain setting (numbers, flags, enums, strings, arrays) of one RNA struct."""
    for prop in src.bl_rna.properties:
        if prop.identifier == "rna_type" or prop.is_readonly or prop.type in {"POINTER", "COLLECTION"}:
            continue
        value = getattr(src, prop.identifier)
        setattr(dst, prop.identifier, tuple(value) if getattr(prop, "is_array", False) else value)


def _drop_animation(scene, strip, prop: str) -> None:
    """Remove the F-curves and drivers animating ``strip``'s ``prop`` (a relative data path)."""
    path = f"{strip.path_from_id()}.{prop}"
    driven = [scene.animation_data.drivers] if scene.animation_data is not None else []
    for curves in [*compat.scene_fcurve_collections(scene), *driven]:
        for fc in [fc for fc in curves if fc.data_path == path]:
            curves.remove(fc)


def _placement_of(data_path: str, root: str, paths: tuple[str, ...] = _PLACEMENT_PATHS) -> str | None:
    """The property (one of ``paths``) that ``data_path`` animates on the strip at ``root``, else None."""
    if not data_path.startswith(root + "."):
        return None
    prop = data_path[len(root) + 1:]
    return prop if prop.startswith(paths) else None


def new_image_strip(strips, name: str, plan, channel: int, start: int, size_from=()):
    """A new image strip showing ``plan``'s files. Blender reads the first file for the strip's size;
    Blender 4.4-5.0 leak the whole decoded image each time that file is an EXR with channels beyond RGBA
    (the beauty EXR with its ``matte.*`` channels): 5 blocks, 6.6 MB for a 376x352 frame, about 100 MB
    at 1080p, printed as "Not freed memory blocks" at exit, the same with the add-on disabled. So the
    size is read from a plain matte file of the same frame (``size_from``: one channel, same size,
    same folder) and the first element then named the beauty file; Blender reads no file for that."""
    probe = next((p for p in size_from if p.directory == plan.directory and p.files), None)
    first = (probe or plan).files[0]
    created = strips.new_image(name, os.path.join(plan.directory, first), channel, start)
    created.elements[0].filename = plan.files[0]
    for filename in plan.files[1:]:
        created.elements.append(filename)
    return created


def _refill(strip, plan) -> None:
    """Point an existing result strip at a new version's files in place, so the artist's edits on it
    (name, channel, opacity, blend mode, modifiers) stay; timing follows the plan."""
    elements = strip.elements
    while len(elements) > len(plan.files):
        elements.pop(len(elements) - 1)
    for index, filename in enumerate(plan.files):
        if index < len(elements):
            elements[index].filename = filename
        else:
            elements.append(filename)
    strip.directory = _portable_dir(plan.directory)
    strip.animation_offset_start = strip.animation_offset_end = 0
    strip.frame_offset_start = strip.frame_offset_end = 0
    strip.frame_start = plan.frame_start
    strip.invalidate_cache("RAW")


def _kept_copy(strip, old_result, start: int, end: int) -> bool:
    """A second result strip of the same source that a re-render leaves alone: a duplicate the artist
    placed elsewhere. The pieces of a split result (on its channel, over the frames the refilled
    result covers again) go, with the old mattes."""
    if strip.get(js.ROLE_PROPERTY) != "result" or old_result is None:
        return False
    return not (strip.channel == old_result.channel and strip.frame_final_start < end and start < strip.frame_final_end)


def apply_result(scene, source_strip, prepared: PreparedJob, result: dict):
    """Show a finished job: the result strip right above the source (in the same meta), lined up with
    it frame for frame and pixel for pixel; muted, unselected matte strips above the result.

    A re-render updates the existing result strip in place (keeping the artist's edits on it)."""
    editor = scene.sequence_editor
    outer = compat.container_of(editor, source_strip)
    source_name = source_strip.name
    plans = plan_result_strips(result, list(prepared.source_numbers), prepared.frame_start, 0, "check")
    missing = missing_files(plans[:1])
    if missing:
        raise StripError(f"the engine reported success but {len(missing)} output file(s) are missing, "
                         f"e.g. {missing[0]}", "check the engine log and the output folder")
    group, strips = _result_place(editor, source_strip)
    previous = _strips_of_source(strips, source_name)
    old_result = next((s for s in previous if s.get(js.ROLE_PROPERTY) == "result"), None)
    start, end = prepared.frame_start, prepared.frame_start + len(prepared.source_numbers)
    old_mattes = [s for s in previous if s is not old_result and not _kept_copy(s, old_result, start, end)]
    old_names = {s.name for s in old_mattes}
    # mattes left beside the source when only the result was moved into another meta
    old_mattes += [s for s in _strips_of_source(outer, source_name)
                   if s.name not in old_names and s.get(js.ROLE_PROPERTY) != "result"]
    others = [(s.channel, s.frame_final_start, s.frame_final_end) for s in strips
              if s.name not in old_names and s is not old_result]
    owner = group if group is not None else _channel_owner(editor, old_result or source_strip)
    others += closed_channels(owner, start, end)
    if old_result is not None and result_lock(scene, old_result):
        raise StripError(f"the result strip {old_result.name!r} is locked ({result_lock(scene, old_result)}), so "
                         f"the new render cannot update it; its frames are in {prepared.output_dir}",
                         "unlock it (Strip > Lock/Mute > Unlock Strips, or the channel's lock icon), then Stylize "
                         "again")
    matte_count = len(result.get("matte_patterns") or {})
    try:
        channel, matte_channel = result_channels(others, start, end, source_strip.channel + 1, matte_count,
                                                 old_result.channel if old_result is not None else None)
    except NoFreeChannel as err:
        what = f"the result and its {matte_count} matte strips" if matte_count else "the result strip"
        raise StripError(f"{what} of {source_name!r} could not be laid: {err.problem}; the rendered frames are "
                         f"kept in {prepared.output_dir}", f"{err.fix}, then Stylize again") from err
    name = old_result.name if old_result is not None else f"{source_name}.vtoonify"
    plans = plan_result_strips(result, list(prepared.source_numbers), start, channel, name, matte_channel)
    settings_json = js.settings_to_json(prepared.settings)
    for strip in old_mattes:  # first: a refill must not overlap them (Blender would shuffle it away)
        compat.container_of(editor, strip).remove(strip)
    if old_result is None:
        created = new_image_strip(strips, name, plans[0], channel, start, size_from=plans[1:])
        created.directory = _portable_dir(plans[0].directory)
        created.blend_type = "ALPHA_OVER"
        main = created
    else:
        _refill(old_result, plans[0])
        main = old_result
    match_source_look(main, source_strip, prepared.settings)
    main[js.SOURCE_PROPERTY] = source_name
    main[js.ROLE_PROPERTY] = "result"
    main[js.SETTINGS_PROPERTY] = settings_json
    made_for = {**placement_now(scene, source_strip), "result_start": int(main.frame_start)}
    main[MADE_FOR_PROPERTY] = to_json(made_for)
    _label_result(main, js.result_label(result, prepared.settings))
    for plan in plans[1:]:
        matte = strips.new_image(plan.name, os.path.join(plan.directory, plan.files[0]), plan.channel, start)
        for filename in plan.files[1:]:
            matte.elements.append(filename)
        matte.directory = _portable_dir(plan.directory)
        matte.mute, matte.select = True, False
        match_source_look(matte, source_strip, prepared.settings)
        matte.colorspace_settings.name = _NON_COLOUR  # a matte is data, not a picture
        matte[js.SOURCE_PROPERTY] = source_name
        matte[js.ROLE_PROPERTY] = plan.role
        matte[js.SETTINGS_PROPERTY] = settings_json
    if group is None and not prepared.group_meta:  # a meta's strips cannot feed an effect outside it
        retime.follow_speeds(scene, source_strip, main, strips, settings_json)
    if group is None and prepared.group_meta:
        mattes = [s for s in strips if s.get(js.SOURCE_PROPERTY) == source_name and s.name != main.name]
        group = _make_group(strips, source_name, [main, *mattes], start)
    if group is not None:
        _fit_group(group, start, end)
    return main


def _file_size(path: str) -> int | None:
    """Size of ``path`` (None: missing): a file replaced in place (re-encoded, re-exported) shows as
    changed, while a project folder moved or copied elsewhere (other paths, same files) does not."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def placement_now(scene, strip) -> dict:
    """What a result of ``strip`` depends on, read-only (no rate probe, one ``stat``): cheap and
    allowed in a panel draw, where ``source_mark`` (which briefly sets the scene rate) is not."""
    if strip.type == "MOVIE":
        media = first_file = bpy.path.abspath(strip.filepath)
    else:
        names = [e.filename for e in strip.elements]
        first_file = os.path.join(bpy.path.abspath(strip.directory), names[0] if names else "")
        media = f"{first_file} ({len(names)} files)"
    return placement(media, compat.scene_fps(scene), int(strip.frame_final_start), int(strip.frame_final_end),
                     frame_start=float(strip.frame_start), offset_start=float(strip.frame_offset_start),
                     offset_end=float(strip.frame_offset_end), duration=content_length(strip),
                     anim_start=int(getattr(strip, "animation_offset_start", 0)),
                     anim_end=int(getattr(strip, "animation_offset_end", 0)),
                     reverse=bool(getattr(strip, "use_reverse_frames", False)),
                     strobe=float(getattr(strip, "strobe", 1.0)), retime_keys=len(getattr(strip, "retiming_keys", ())),
                     speed=round(float(getattr(strip, "speed_factor", 1.0)), 6),
                     size=_file_size(first_file))


def result_stale(scene, result) -> tuple[str, str] | None:
    """(problem, fix) when the landed ``result`` no longer lines up with its source strip (scene rate
    changed, source moved, trimmed, retimed, relinked, replaced or gone); None when it still does or
    it was made by an add-on that stored nothing to compare. The panel calls this on every draw."""
    made = from_json(str(result.get(MADE_FOR_PROPERTY, "")))
    if made is None or scene.sequence_editor is None:
        return None
    name = str(result.get(js.SOURCE_PROPERTY, ""))
    source = compat.all_strips(scene.sequence_editor).get(name)
    now = placement_now(scene, source) if source is not None and source.type in {"MOVIE", "IMAGE"} else None
    if now is not None:
        now["result_start"] = int(result.frame_start)  # its content: a split or trimmed result stays in line
    return stale_warning(made, now, name)


def _result_place(editor, source):
    """(group meta or None, strips collection) where the result of ``source`` is: beside the source
    (or in its group meta there), else wherever the artist moved it (into another meta), so a
    re-render refills it there instead of laying a second result beside the source."""
    outer = compat.container_of(editor, source)
    group = group_meta_of(outer, source.name)
    strips = compat.meta_strips(group) if group is not None else outer
    if any(s.get(js.ROLE_PROPERTY) == "result" for s in _strips_of_source(strips, source.name)):
        return group, strips
    moved = next((s for s in compat.all_strips(editor) if s.get(js.SOURCE_PROPERTY) == source.name
                  and s.get(js.ROLE_PROPERTY) == "result"), None)
    if moved is None:
        return group, strips
    parent = moved.parent_meta()
    return (parent if parent is not None and parent.get(js.GROUP_PROPERTY) == source.name else None,
            compat.container_of(editor, moved))


def source_result(scene, source):
    """The result strip of ``source`` (next to it, in its group meta, or moved into a meta), or None."""
    _group, strips = _result_place(scene.sequence_editor, source)
    return next((s for s in _strips_of_source(strips, source.name) if s.get(js.ROLE_PROPERTY) == "result"), None)


def source_result_stale(scene, source) -> tuple[str, str] | None:
    """``result_stale`` for the result of ``source``: the artist who just moved or trimmed the source,
    and still has it selected, sees the warning too."""
    result = source_result(scene, source)
    return result_stale(scene, result) if result is not None else None


_GEOMETRY = ("transform.", "crop.", "use_flip_x", "use_flip_y")
"""Where a strip's picture lands: what a result must keep equal to its source's. Colour (saturation,
multiply) is copied at landing too, but grading the result afterwards is the artist's call."""


def placement_values(scene, strip) -> dict:
    """The geometry settings ``match_source_look`` copies, as they are now, plus ``animation``: a
    fingerprint of the keys (with their modifiers) and drivers on them (see ``placement_drift``)."""
    values = {}
    for group in ("transform", "crop"):
        settings = getattr(strip, group)
        for prop in settings.bl_rna.properties:
            if prop.identifier != "rna_type" and not prop.is_readonly:
                values[f"{group}.{prop.identifier}"] = retime.rounded(getattr(settings, prop.identifier))
    for name in _GEOMETRY[2:]:
        if hasattr(strip, name):
            values[name] = retime.rounded(getattr(strip, name))
    root, keys = strip.path_from_id(), []
    for curves in compat.scene_fcurve_collections(scene):
        for fc in curves:
            prop = _placement_of(fc.data_path, root, _GEOMETRY)
            if prop is not None:
                points = tuple((retime.rounded(tuple(k.co)), k.interpolation, retime.rounded(tuple(k.handle_left)),
                                retime.rounded(tuple(k.handle_right))) for k in fc.keyframe_points)
                keys.append(repr((prop, fc.array_index, fc.mute, points, [m.type for m in fc.modifiers])))
    drivers = scene.animation_data.drivers if scene.animation_data is not None else ()
    keys += [repr((prop, fc.array_index, fc.driver.expression)) for fc in drivers
             if (prop := _placement_of(fc.data_path, root, _GEOMETRY)) is not None]
    values["animation"] = tuple(sorted(keys))
    return values


def placement_drift_warning(scene, result) -> tuple[str, str] | None:
    """(problem, fix) when a plate result strip no longer takes its source's placement (the artist moved,
    scaled, cropped, flipped or re-keyed the source after the result landed); None otherwise."""
    if result is None or result.get(js.ROLE_PROPERTY) != "result" or scene.sequence_editor is None:
        return None
    settings = js.settings_from_json(str(result.get(js.SETTINGS_PROPERTY, ""))) or {}
    if settings.get("output_space", "plate") != "plate":
        return None
    name = str(result.get(js.SOURCE_PROPERTY, ""))
    source = compat.all_strips(scene.sequence_editor).get(name)
    if source is None or source.type not in {"MOVIE", "IMAGE"}:
        return None
    return placement_drift(placement_values(scene, source), placement_values(scene, result), name)


def speed_drift_warning(scene, result) -> tuple[str, str] | None:
    """(problem, fix) when the result's Speed Control copy no longer matches its source's (changed,
    muted or deleted after the landing; ``retime.speed_drift``); None otherwise."""
    if result is None or result.get(js.ROLE_PROPERTY) != "result" or scene.sequence_editor is None:
        return None
    source = compat.all_strips(scene.sequence_editor).get(str(result.get(js.SOURCE_PROPERTY, "")))
    return retime.speed_drift(scene, source, result) if source is not None else None


def follow_source_speed(scene, strip) -> tuple[object, list[str]]:
    """Lay the Speed Control copy of the result of ``strip`` (the result, its copy, a matte or its
    source) again from the source's Speed Control as it is now, without re-rendering; returns the
    result and, for each Speed Control it cannot follow, why."""
    result = next((s for s in result_group(scene, strip) if s.get(js.ROLE_PROPERTY) == "result"), None)
    name = str(result.get(js.SOURCE_PROPERTY, "")) if result is not None else ""
    source = compat.all_strips(scene.sequence_editor).get(name) if name else None
    if source is None:
        raise StripError(f"the source strip {name!r} of this result is gone" if name else
                         "the active strip has no VToonify result", "select a VToonify result whose source exists")
    if result.parent_meta() is not None:
        raise StripError(f"the result of {name!r} is inside a meta strip, where an effect outside it cannot "
                         "take it as input", "ungroup it (Strip > Meta > UnMeta), then Follow Source Speed again")
    return result, retime.refollow_speeds(scene, source, result)


def effects_on(scene, source) -> list:
    """Effect strips anywhere in the scene that take ``source`` as an input (Speed Control, Transform,
    Blur, a cross...): what Blender shows is their output, which the result does not go through."""
    if scene.sequence_editor is None or source is None:
        return []
    return [s for s in compat.all_strips(scene.sequence_editor)
            if source in (getattr(s, "input_1", None), getattr(s, "input_2", None))]


def effect_inputs_warning(scene, source) -> tuple[str, str] | None:
    """(problem, fix) when effect strips take ``source`` as input: the result is laid over the source as
    it is, so a Speed Control's retiming (the result keeps the source's own timing, out of step) or a
    Transform effect's move is not on it; None otherwise."""
    followed = {s.get(retime.FOLLOWS) for s in retime.speed_copies(scene, source.name)}
    effects = [s for s in effects_on(scene, source) if s.name not in followed and s.get(js.ROLE_PROPERTY) is None]
    if not effects:
        return None
    names = ", ".join(f"{s.name!r} ({s.type.replace('_', ' ').lower()})" for s in effects[:3])
    names += f" and {len(effects) - 3} more" if len(effects) > 3 else ""
    retimed = any(s.type == "SPEED" for s in effects)
    problem = (f"effect strip{'s' if len(effects) > 1 else ''} {names} take{'' if len(effects) > 1 else 's'} "
               f"{source.name!r} as input; its VToonify result is laid over {source.name!r} as it is, without "
               f"{'them' if len(effects) > 1 else 'it'}" + (" (the result keeps the source's own timing, out of "
                                                            "step with the speed change)" if retimed else ""))
    fix = ("add the same effect with the result strip as its input (select the result, then Add > Effect Strip)"
           + (", or retime the source with retiming keys instead of a Speed Control strip, or remove the source's "
                 "trims (a Speed Control also shows frames trimmed off it) and Stylize again: an untrimmed "
                 "source's result gets the same Speed Control by itself" if retimed else ""))
    return problem, fix


_FLOAT_PLATES = (".exr", ".hdr")
"""Plates the engine reads in their own declared space (scene-linear by default), as Blender does."""


def plate_colour_warning(source, output_format: str) -> tuple[str, str] | None:
    """(problem, fix) when an EXR result cannot match ``source`` in colour: the engine reads a video's or an
    8/16-bit image's pixel values as sRGB, so its scene-linear EXR shows like the plate only when the
    strip's Color Space is sRGB. Blender 5.0 takes a DPX strip as Linear Rec.709 and an HLG/PQ clip as
    Rec.2100 by default. A PNG result takes the plate's Color Space (``match_source_look``): no warning."""
    if output_format != "exr" or source is None or source.type not in {"MOVIE", "IMAGE"}:
        return None
    if source.type == "IMAGE" and source.elements:
        if os.path.splitext(source.elements[0].filename)[1].lower() in _FLOAT_PLATES:
            return None
    space = source.colorspace_settings.name
    if space == "sRGB":
        return None
    problem = (f"{source.name!r} is shown as {space}, but the engine reads its pixel values as sRGB: "
               "an EXR result will not match it in colour")
    fix = ("set the strip's Color Space to sRGB if its pixels are sRGB/Rec.709 video values (a DPX of video), "
           "or render PNG (Preferences > Format), which Blender reads in the plate's Color Space; conform an "
           "HDR or log plate to SDR first (the job's warning names the command)")
    return problem, fix


def match_placement(scene, strip) -> list:
    """Copy the source's placement (and its animation) again onto the result of ``strip`` (the result,
    a matte, its group or its source) and its mattes, without re-rendering; returns those strips. A
    static colour grade on them stays."""
    members = [s for s in result_group(scene, strip) if s.type == "IMAGE" and s.get(js.SOURCE_PROPERTY)]
    name = str(members[0].get(js.SOURCE_PROPERTY)) if members else ""
    source = compat.all_strips(scene.sequence_editor).get(name) if name else None
    if source is None:
        raise StripError(f"the source strip {name!r} of this result is gone" if name else
                         "the active strip has no VToonify result", "select a VToonify result whose source exists")
    for member in members:
        colorspace = member.colorspace_settings.name
        graded = {name: retime.rounded(getattr(member, name)) for name in ("color_saturation", "color_multiply")
                  if hasattr(member, name)}
        match_source_look(member, source, js.settings_from_json(str(member.get(js.SETTINGS_PROPERTY, ""))) or {})
        if str(member.get(js.ROLE_PROPERTY, "")).startswith("matte_"):
            member.colorspace_settings.name = colorspace  # a matte stays data (Non-Color)
        for name, value in graded.items():  # the artist's grade on the result stays
            setattr(member, name, value)
    return members


def _channel_owner(editor, strip):
    """What holds the channels ``strip`` sits in: its meta strip, or the editor."""
    parent = strip.parent_meta()
    return parent if parent is not None else editor


def closed_channels(owner, start: int, end: int) -> list[tuple[int, int, int]]:
    """Locked and muted channels of ``owner`` (the editor or a meta) as if a strip filled [start, end):
    a strip laid in a locked channel cannot be moved, trimmed or deleted, one in a muted channel never
    shows, so new strips skip them."""
    channels = getattr(owner, "channels", None) or ()
    return [(index, start, end) for index, channel in enumerate(channels) if index and (channel.lock or channel.mute)]


def result_lock(scene, strip) -> str:
    """Why ``strip`` (a result to refill) may not be changed: its own lock or its channel's; else ''."""
    channels = getattr(_channel_owner(scene.sequence_editor, strip), "channels", None) or ()
    if strip.channel < len(channels) and channels[strip.channel].lock:  # first: 5.0's strip.lock includes it
        return f"its channel {strip.channel} is locked"
    return "the strip is locked" if strip.lock else ""


def locked_result_problem(scene, source) -> tuple[str, str] | None:
    """(problem, fix) when a re-render of ``source`` could not update its locked result strip: said
    before the engine renders for minutes, not after."""
    for strip in result_group(scene, source):
        why = result_lock(scene, strip) if strip.get(js.ROLE_PROPERTY) == "result" else ""
        if why:
            return (f"the result strip {strip.name!r} of {source.name!r} is locked ({why}), so a new render "
                    "could not update it", "unlock it (Strip > Lock/Mute > Unlock Strips, or the channel's "
                    "lock icon), then Stylize again")
    return None


def room_problem(scene, source) -> tuple[str, str] | None:
    """(problem, fix) when no channel above ``source`` is free over its frames for a new result strip
    (it sits on the top channel, or every channel above is taken, locked or muted): said before the
    engine renders for minutes, not after. A re-render refills its result where it is."""
    if result_group(scene, source):
        return None
    strips = compat.container_of(scene.sequence_editor, source)
    start, end = visible_range(source)
    occupied = [(s.channel, s.frame_final_start, s.frame_final_end) for s in strips]
    occupied += closed_channels(_channel_owner(scene.sequence_editor, source), start, end)
    try:
        free_channel(occupied, start, end, source.channel + 1)
    except NoFreeChannel as err:
        return f"the result strip of {source.name!r} has nowhere to go: {err.problem}", err.fix
    return None


def render_refusal(scene, source) -> tuple[str, str] | None:
    """(problem, fix) that stops a render of ``source`` before it starts: its result strip is locked, or
    there is no channel for a new one."""
    return locked_result_problem(scene, source) or room_problem(scene, source)


def shown_result(strip):
    """The result strip a group meta holds (or a speed copy shows), else ``strip`` itself: a selected
    group stands for its result (the panel shows its settings and versions; Stylize re-renders it)."""
    if strip is not None and strip.type == "META" and strip.get(js.GROUP_PROPERTY):
        return next((s for s in compat.meta_strips(strip) if s.get(js.ROLE_PROPERTY) == "result"), strip)
    if strip is not None and strip.get(js.ROLE_PROPERTY) == retime.SPEED_ROLE and strip.input_1 is not None:
        return strip.input_1  # the result's Speed Control copy stands for the result (what the editor sees)
    return strip


def group_meta_of(strips, source_name: str):
    """The meta strip grouping ``source_name``'s result and mattes in ``strips``, or None."""
    return next((s for s in strips if s.type == "META" and s.get(js.GROUP_PROPERTY) == source_name), None)


def _make_group(strips, source_name: str, members: list, start: int):
    """One meta strip on the result's channel holding the result and its mattes (channels kept inside),
    named ``<result>.group``: the editor moves, trims or mutes them as one strip."""
    channel, name = members[0].channel, f"{members[0].name}.group"
    meta = strips.new_meta(name, max(s.channel for s in members) + 1, start)
    for member in members:
        member.move_to_meta(meta)
    meta.channel = channel  # the members left their channels free
    meta.blend_type = "ALPHA_OVER"
    meta[js.GROUP_PROPERTY] = source_name
    meta.select = False
    return meta


def _fit_group(meta, start: int, end: int) -> None:
    """The group meta shows exactly the result's frames (a new meta keeps its first length until a
    handle moves: the far handle first, so the range never becomes empty)."""
    if end > meta.frame_final_end:
        meta.frame_final_end = end
        meta.frame_final_start = start
    else:
        meta.frame_final_start = start
        meta.frame_final_end = end


_NON_COLOUR = "Non-Color"


def _label_result(strip, label: str) -> None:
    """What the panel shows for a result beyond its settings: the source's start timecode (the frames
    carry it per frame; Blender's sequencer does not read it) and whether Cryptomatte layers are in."""
    if label:
        strip[js.LABEL_PROPERTY] = label
    elif js.LABEL_PROPERTY in strip:
        del strip[js.LABEL_PROPERTY]


PREVIEW_ROLE = "preview"


def show_preview_strip(scene, source, path: str, frame: int):
    """A one-frame overlay strip at ``frame`` showing the stylized preview over the right half of the
    picture and the source on the left (before | after), placed exactly as the source. Replaces the
    previous preview strip; the artist deletes it like any strip."""
    strips = compat.container_of(scene.sequence_editor, source)
    for old in [s for s in strips if s.get(js.ROLE_PROPERTY) == PREVIEW_ROLE]:
        strips.remove(old)
    occupied = [(s.channel, s.frame_final_start, s.frame_final_end) for s in strips]
    occupied += closed_channels(_channel_owner(scene.sequence_editor, source), frame, frame + 1)
    try:
        channel = free_channel(occupied, frame, frame + 1, lowest=source.channel + 1)
    except NoFreeChannel as err:
        raise StripError(f"the preview overlay of {source.name!r} has no channel: {err.problem}", err.fix) from err
    strip = strips.new_image("VToonify Preview", path, channel, frame)
    strip[js.ROLE_PROPERTY] = PREVIEW_ROLE
    match_source_look(strip, source, {"output_space": "plate", "format": "png"})
    strip.blend_type = "ALPHA_OVER"
    width = int(getattr(source.elements[0], "orig_width", 0) or 0) if len(source.elements) else 0
    if width:  # crop away the stylized left half: the source shows through there
        _drop_animation(scene, strip, "crop.min_x")  # the split is set here, not by the source's keys
        visible = width - source.crop.min_x - source.crop.max_x
        strip.crop.min_x = source.crop.min_x + visible // 2
    strip.select = False
    return strip


def result_group(scene, strip, with_source: bool = False) -> list:
    """The strips of ``strip``'s VToonify result: the result and its mattes (their channel block),
    plus the source strip when asked; ``strip`` may be any of them. Empty when there is no result."""
    if strip is None or scene.sequence_editor is None:
        return []
    source_name = strip.get(js.SOURCE_PROPERTY) or strip.get(js.GROUP_PROPERTY) or strip.name
    every = compat.all_strips(scene.sequence_editor)
    group = [s for s in every if (s.get(js.SOURCE_PROPERTY) or s.get(js.GROUP_PROPERTY)) == source_name
             and s.get(js.ROLE_PROPERTY) != PREVIEW_ROLE]
    source = every.get(source_name)
    if group and with_source and source is not None:
        group.insert(0, source)
    return group


def _version_strips(scene, strip) -> list:
    """The result strip and its mattes: the strips that show one version together."""
    source_name = strip.get(js.SOURCE_PROPERTY)
    if not source_name:
        raise StripError(f"strip {strip.name!r} is not a VToonify result", "select a VToonify result strip")
    return [s for s in compat.all_strips(scene.sequence_editor)
            if s.get(js.SOURCE_PROPERTY) == source_name and s.type == "IMAGE"]


def result_versions(strip) -> tuple[str, list[int], int | None]:
    """(stem folder, its versions, the version ``strip`` shows) of a result strip."""
    folder = os.path.normpath(bpy.path.abspath(strip.directory))
    return os.path.dirname(folder), existing_versions(os.path.dirname(folder)), version_number(folder)


def switch_version(scene, strip, number: int) -> None:
    """Show version ``number`` on the result strip (and its mattes); refused when that version lacks
    some of the strip's files (it was rendered with other frames or format: re-render instead)."""
    strips = _version_strips(scene, strip)
    stem_dir, versions, _current = result_versions(strip)
    if number not in versions:
        raise StripError(f"version v{number:03d} does not exist in {stem_dir}", "pick one of the listed versions")
    for member in strips:
        missing = missing_in_version(stem_dir, number, [e.filename for e in member.elements])
        if missing:
            raise StripError(f"v{number:03d} has no {missing[0]} (it holds other frames or another format)",
                             "re-render, or pick another version")
    for member in strips:
        member.directory = _portable_dir(version_dir(stem_dir, number))
        member.invalidate_cache("RAW")


def purge_old_versions(scene, strip, version_bin) -> list[str]:
    """Set aside (``core.version_bin``: an undo may show them again; deleted when the file closes) the
    versions of this result that no strip shows, in any scene of the file (never one in use): a scene's
    copy, or a strip of the same name in another scene, renders into the same folder."""
    stem_dir, versions, _current = result_versions(strip)
    shown = [os.path.normpath(bpy.path.abspath(member.directory)) for member in result_image_strips()]
    keep = versions_shown(stem_dir, shown)
    try:
        return version_bin.set_aside(stem_dir, [n for n in versions if n not in keep])
    except (ValueError, OSError) as err:
        raise StripError(f"the old versions in {stem_dir} could not be set aside: {err}",
                         "remove what blocks it (named above), then purge again") from err


def result_image_strips() -> list:
    """Every result and matte strip (image strips with a source) in every scene of the file."""
    return [m for each in bpy.data.scenes if each.sequence_editor is not None
            for m in compat.all_strips(each.sequence_editor)
            if m.get(js.SOURCE_PROPERTY) and m.type == "IMAGE"]


def finish_job(scene, strip, prepared: PreparedJob, tracker: JobTracker, api):
    """Result strip for a done job; otherwise clean up and raise the typed error."""
    if tracker.state == DONE:
        return apply_result(scene, strip, prepared, tracker.result or {})
    if tracker.ended_by_engine:  # never delete while the engine may still be writing
        discard_partial_output(prepared)
    else:
        print(f"VToonify: the engine did not confirm the end of job {tracker.job}; "
              f"left {prepared.output_dir} in place")
    if tracker.state == FAILED:
        error = tracker.error or {}
        if not tracker.ended_by_engine:  # engine lost: say where the partial frames are, and what Stylize does
            error = kept_after_loss(error, prepared.output_dir, str(prepared.settings.get("name") or ""))
        raise api.error_from_dict(error)
    raise api.JobCancelled("the render was cancelled")


def stylize_strip(scene, strip, settings, client, progress=None):
    """Render ``strip``'s visible range through ``client`` and return the new result strip.

    ``settings``: dict of ``StylizeOptions`` fields plus ``output`` (root folder, default
    ``//vtoonify/``). Blocks until the job ends; raises the engine's typed errors (JobCancelled
    when ``progress`` returned False). Batch use of the whole operator, on the active strip::

        blender -b shot.blend --python-expr "import bpy; bpy.ops.sequencer.vtoonify_stylize(); \
            bpy.ops.wm.save_mainfile()"
    """
    from . import engine_client

    api = engine_client.load()
    strip = render_source(strip)
    if strip is None:
        raise StripError("the meta strip shows no movie or image strip", "select a movie or image strip")
    refused = render_refusal(scene, strip)
    if refused is not None:
        raise StripError(*refused)
    options = js.StylizeOptions.from_dict(settings)
    prepared = prepare_job(scene, strip, options, settings.get("output", "//vtoonify/"), settings.get("name"),
                           group_meta=bool(settings.get("group_meta")))
    tracker = run_job(client, api, prepared.settings, progress=progress)
    return finish_job(scene, strip, prepared, tracker, api)
