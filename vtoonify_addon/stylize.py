"""Stylize one VSE strip: read it, submit the job, and lay the result strips over it.

``stylize_strip`` is the blocking form (``blender -b shot.blend --python-expr ...``); the modal
operator uses the same pieces (``prepare_job``, ``PolledJob``, ``finish_job``) on a timer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from . import compat
from .core import job_settings as js
from .core.frame_mapping import StripTiming, playback_rate, range_text, source_frame_numbers
from .core.job_runner import PolledJob, run_job
from .core.job_tracker import DONE, FAILED, JobTracker
from .core.output_versions import next_version_dir, remove_version_dir
from .core.result_plan import free_channel, missing_files, plan_result_strips
from .core.sequence_files import pattern_from_file

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


def _media_frame_count(path: str) -> int | None:
    """Frames in a movie file, via a temporary MovieClip (Blender's own decoder)."""
    try:
        clip = bpy.data.movieclips.load(path, check_existing=False)
    except RuntimeError:
        return None
    try:
        return int(clip.frame_duration)
    finally:
        bpy.data.movieclips.remove(clip)


def strip_timing(scene, strip, media_frames: int | None = None) -> StripTiming:
    """Read the timing attributes of ``strip`` into the bpy-free dataclass."""
    if len(getattr(strip, "retiming_keys", ())) > 2:
        raise StripError(f"strip {strip.name!r} is retimed", "remove its retiming keys, or render it first")
    anim_start = int(getattr(strip, "animation_offset_start", 0))
    anim_end = int(getattr(strip, "animation_offset_end", 0))
    rate = 1.0
    if strip.type == "MOVIE":
        rate = playback_rate(float(strip.fps), compat.scene_fps(scene), media_frames,
                             int(strip.frame_duration), anim_start + anim_end)
    return StripTiming(frame_start=float(strip.frame_start), frame_final_start=int(strip.frame_final_start),
                       frame_final_end=int(strip.frame_final_end), frame_duration=int(strip.frame_duration),
                       animation_offset_start=anim_start, playback_rate=rate,
                       reverse=bool(getattr(strip, "use_reverse_frames", False)),
                       strobe=float(getattr(strip, "strobe", 1.0)))


def strip_source(scene, strip) -> tuple[str, list[int], int]:
    """(engine source path, engine frame number per visible frame, start_number)."""
    if strip.type == "MOVIE":
        path = bpy.path.abspath(strip.filepath)
        if not os.path.isfile(path):
            raise StripError(f"movie {path} not found", "relink the strip's file")
        timing = strip_timing(scene, strip, _media_frame_count(path))
        return path, source_frame_numbers(timing, start_number=1), 1
    if strip.type == "IMAGE":
        directory = bpy.path.abspath(strip.directory)
        names = [e.filename for e in strip.elements]
        timing = strip_timing(scene, strip)
        try:
            pattern, _ = pattern_from_file(names[0])
            numbers = [pattern_from_file(n)[1] for n in names]
        except ValueError as err:
            raise StripError(str(err)) from err
        indices = [min(i, len(names) - 1) for i in source_frame_numbers(timing, start_number=0)]
        return os.path.join(directory, pattern), [numbers[i] for i in indices], numbers[0]
    raise StripError(f"strip {strip.name!r} is a {strip.type.lower()} strip",
                     "select a movie or image strip")


def output_folder(root: str, stem: str) -> str:
    """``//vtoonify/`` + stem, made absolute; a relative root needs a saved .blend file."""
    if root.startswith("//") and not bpy.data.filepath:
        raise StripError("the output folder is relative (//) but the .blend file is not saved",
                         "save the .blend file, or set an absolute output folder in the preferences")
    return os.path.join(os.path.abspath(bpy.path.abspath(root)), stem)


def prepare_job(scene, strip, options: js.StylizeOptions, output_root: str, stem: str | None = None) -> PreparedJob:
    """Everything the engine needs for the strip's visible range, with the output folder noted."""
    source, numbers, start_number = strip_source(scene, strip)
    stem = stem or js.safe_stem(strip.name)
    out_dir = next_version_dir(output_folder(output_root, stem))
    settings = js.build_job_settings(source, out_dir, range_text(numbers), options, stem,
                                     start_number=start_number if strip.type == "MOVIE" else 1)
    return PreparedJob(settings, tuple(numbers), int(strip.frame_final_start), out_dir)


def discard_partial_output(prepared: PreparedJob) -> bool:
    """After cancel/failure, once the engine has stopped writing: delete this job's version folder."""
    return remove_version_dir(prepared.output_dir)


def _portable_dir(directory: str) -> str:
    """``//``-relative when the folder lies beside the saved .blend, so the project moves as a whole."""
    blend_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else ""
    if blend_dir and os.path.commonpath([blend_dir, directory]) == blend_dir:
        return bpy.path.relpath(directory).rstrip("/\\") + "/"
    return directory.rstrip("/\\") + "/"


def _strips_of_source(editor, source_name: str) -> list:
    return [s for s in compat.top_level_strips(editor) if s.get(js.SOURCE_PROPERTY) == source_name]


def apply_result(scene, source_strip, prepared: PreparedJob, result: dict):
    """Add (or replace in place) the result strip above the source and muted matte strips above it."""
    editor = scene.sequence_editor
    strips = compat.top_level_strips(editor)
    source_name = source_strip.name
    missing = missing_files(plan_result_strips(result, list(prepared.source_numbers), 0, 1, "check")[:1])
    if missing:
        raise StripError(f"the engine reported success but {len(missing)} output file(s) are missing, "
                         f"e.g. {missing[0]}", "check the engine log and the output folder")
    previous = _strips_of_source(editor, source_name)
    previous_names = {s.name for s in previous}
    old_result = [s for s in previous if s.get(js.ROLE_PROPERTY) == "result"]
    channel_hint = old_result[0].channel if old_result else None
    name = old_result[0].name if old_result else f"{source_name}.vtoonify"
    start, end = prepared.frame_start, prepared.frame_start + len(prepared.source_numbers)
    needed = 1 + len(result.get("matte_patterns") or {})
    others = [(s.channel, s.frame_final_start, s.frame_final_end) for s in strips if s.name not in previous_names]
    channel = free_channel(others, start, end, lowest=channel_hint or source_strip.channel + 1, needed=needed)
    # build the new strips first in channels free of everything (the old result included), so a
    # failure on the way never loses the old result; only then swap them in
    everything = [(s.channel, s.frame_final_start, s.frame_final_end) for s in strips]
    staging = free_channel(everything, start, end, lowest=channel, needed=needed)
    plans = plan_result_strips(result, list(prepared.source_numbers), start, staging, name)
    settings_json = js.settings_to_json(prepared.settings)
    created = []
    try:
        for plan in plans:
            strip = strips.new_image(plan.name, os.path.join(plan.directory, plan.files[0]), plan.channel,
                                     plan.frame_start)
            created.append(strip)
            for filename in plan.files[1:]:
                strip.elements.append(filename)
            strip.directory = _portable_dir(plan.directory)
            strip.mute = plan.mute
            strip[js.SOURCE_PROPERTY] = source_name
            strip[js.ROLE_PROPERTY] = plan.role
            strip[js.SETTINGS_PROPERTY] = settings_json
    except BaseException:
        for strip in created:
            strips.remove(strip)
        raise
    for s in previous:
        strips.remove(s)
    for offset, (strip, plan) in enumerate(zip(created, plans)):
        strip.channel = channel + offset  # ascending: each target channel is free by then
        strip.name = plan.name  # the old strips' names are free now
    return created[0]


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
        raise api.error_from_dict(tracker.error or {})
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
    options = js.StylizeOptions.from_dict(settings)
    prepared = prepare_job(scene, strip, options, settings.get("output", "//vtoonify/"), settings.get("name"))
    tracker = run_job(client, api, prepared.settings, progress=progress)
    return finish_job(scene, strip, prepared, tracker, api)
