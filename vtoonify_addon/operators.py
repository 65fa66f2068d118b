"""Thin operators: read the UI state, call ``stylize``, report. Errors become reports, never tracebacks.

Nothing slow runs on Blender's main thread in the UI: connecting (which may auto-start the engine,
up to its start timeout), submitting and previews run on worker threads and are picked up by a
modal timer or ``bpy.app.timers``. Background mode (``blender -b``) and ``execute`` keep the
blocking path, which batch scripts need.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from types import SimpleNamespace

import bpy

from . import compat, engine_client, engines, props, retime, stylize, version_undo
from .core import job_settings as js
from .core.availability import playhead_blocker, selection_note, stylize_blocker
from .core.background import BackgroundCall, timer_callback
from .core.cancel_gate import HOW_TO_CANCEL, esc_cancels
from .core.engine_link import connect, preview_frame
from .core.engine_status import EngineStatus, query_status
from .core.error_report import report_text, split_status
from .core.job_session import CONNECTING, FINISHED, JobSession
from .core.job_tracker import DONE, outcome_notes
from .core.landing import busy_edit, landing, landing_waits, preview_landing, waiting_text
from .core.status_watch import StatusWatch
from .preferences import get_preferences

CANCEL_WAIT_S = 60.0
"""How long to wait for the engine's ``job_cancelled`` before giving up on it."""
POLL_INTERVAL_S = 0.2


def _source_of(scene, strip):
    """The strip to render: the strip itself, or the source of a VToonify result (re-render)."""
    strip = stylize.shown_result(strip)
    source_name = strip.get(js.SOURCE_PROPERTY) if strip is not None else None
    if source_name:
        return compat.all_strips(scene.sequence_editor).get(source_name)
    return stylize.render_source(strip)


def _user_message(err) -> str:
    """The problem, then the engine's fix on a line of its own (the report and the panel show both)."""
    return report_text(err)


def _errors(api) -> tuple:
    """What the operators turn into reports (anything else is a bug and keeps its traceback)."""
    return (api.EngineError, stylize.StripError, ValueError, OSError, KeyError, RuntimeError)


def _engine_missing(context) -> bool:
    """Auto-start is off and no connection file exists: nothing could answer a job (a cheap file
    check: poll runs on every redraw, so it never connects)."""
    prefs = get_preferences(context)
    if prefs.auto_start:
        return False
    if prefs.connection_file:
        return not os.path.isfile(bpy.path.abspath(prefs.connection_file))
    default = engine_client.load().default_connection_path
    return default is not None and not os.path.isfile(str(default()))


def blocker(context, needs_idle: bool = True) -> str:
    """Why Stylize / Preview cannot run now (empty when they can)."""
    scene = compat.vse_scene(context)
    editor = scene.sequence_editor if scene is not None else None
    strip = editor.active_strip if editor is not None else None
    source = _source_of(scene, strip) if strip is not None else None
    wm = context.window_manager
    result = stylize.shown_result(strip) if strip is not None else None
    is_result = result is not None and bool(result.get(js.SOURCE_PROPERTY))
    stored = js.settings_from_json(result.get(js.SETTINGS_PROPERTY, "")) if is_result else {}
    style = str(stored.get("style") or "") if stored else props.chosen_style(scene.vtoonify) if scene else ""
    return stylize_blocker(has_editor=editor is not None, strip_type=strip.type if strip is not None else None,
                           source_type=source.type if source is not None else None,
                           is_result=is_result,
                           running=needs_idle and bool(getattr(wm, "vtoonify_running", False)),
                           engine_missing=_engine_missing(context), style=style,
                           style_problem=_style_problem(scene, style, stored.get("backend")),
                           is_preview=strip is not None and strip.get(js.ROLE_PROPERTY) == stylize.PREVIEW_ROLE,
                           source_problem=stylize.unreadable_source(source) if source is not None else None)


def _style_problem(scene, style: str, backend: str | None = None) -> str:
    """Why the style to render cannot, when it is a half-trained family (the last reply), for the tooltip;
    ``backend`` is a result strip's stored one, else the panel's."""
    status = engines.last_status()
    if scene is None or status is None or not status.running or (backend or scene.vtoonify.backend) == "classic":
        return ""
    return status.style_blocker(style)


class _EngineOperator:
    """Shared poll, job preparation and engine connection for the VToonify operators."""

    _needs_idle = True
    """Refused while a render runs (Stylize); Preview has its own lane in the engine."""

    @classmethod
    def poll(cls, context):
        reason = blocker(context, cls._needs_idle)
        if not reason and cls._preview:
            reason = _playhead_reason(context)
        if reason:
            cls.poll_message_set(reason)  # Blender shows it in the greyed-out entry's tooltip
        return not reason

    def _fail(self, context, message: str, err: BaseException | None = None):
        """Report ``message``; ``err`` that could not reach the engine also turns the panel's engine
        line to "not reachable" (see ``engines.note_failure``)."""
        if err is not None and engines.note_failure(err):
            _redraw_status(context.window_manager)
        context.window_manager.vtoonify_status = message
        self.report({"ERROR"}, message)
        return {"CANCELLED"}

    def _connector(self, context, api):
        """A no-argument connect function: preferences are read now (main thread), the call may run
        on a worker thread. Engines it starts are tracked so the add-on stops them later."""
        launch = get_preferences(context).launch_settings()
        owner = engines.current()
        return functools.partial(connect, launch, api, on_start=owner.add if owner is not None else None)

    _preview = False
    """A preview writes nothing to the output folder (the engine keeps previews in its own folder), so
    it needs no saved .blend or writable output folder."""

    def _prepare(self, context, scene, source):
        prefs = get_preferences(context)
        options = job_options(context, scene, compat.active_strip(scene))
        return stylize.prepare_job(scene, source, options, prefs.output_dir, group_meta=scene.vtoonify.group_meta,
                                   preview=self._preview)


def _playhead_reason(context) -> str:
    """Why Preview cannot run at the playhead's frame (empty when it can)."""
    scene = compat.vse_scene(context)
    source = _source_of(scene, compat.active_strip(scene))
    try:
        start, end = stylize.visible_range(source)
    except stylize.StripError as err:
        return _user_message(err)
    return playhead_blocker(scene.frame_current, start, end, source.name)


def _other_selected(scene, source, active) -> list[str]:
    """Selected movie, image and meta strips that Stylize leaves alone (it renders the active one)."""
    skip = {source.name, active.name if active is not None else ""}
    return [s.name for s in compat.all_strips(scene.sequence_editor)
            if s.select and s.type in {"MOVIE", "IMAGE", "META"} and s.name not in skip
            and not s.get(js.ROLE_PROPERTY) and not s.get(js.GROUP_PROPERTY)]


def job_options(context, scene, active) -> js.StylizeOptions:
    """The panel's options; with a VToonify result strip active, the settings stored on it (a
    re-render reproduces that result: select the source strip to render with the panel's options)."""
    prefs = get_preferences(context)
    options = scene.vtoonify.options(prefs.output_format, prefs.mattes, prefs.models_dir)
    active = stylize.shown_result(active)
    stored = active.get(js.SETTINGS_PROPERTY) if active is not None and active.get(js.SOURCE_PROPERTY) else None
    if stored:
        options = js.options_from_settings(js.settings_from_json(stored), options)
    return options


class VTOON_OT_stylize(_EngineOperator, bpy.types.Operator):
    """Stylize the active strip's visible frames with the VToonify engine"""

    bl_description = ("Stylize the active strip's visible frames with the VToonify engine; the result lands "
                      "right above it. Esc over the Sequencer cancels a running render")

    bl_idname = "sequencer.vtoonify_stylize"
    bl_label = "Stylize with VToonify"
    # one undo step: Ctrl+Z removes only the render. Not REGISTER: Repeat Last (Shift+R) and Adjust Last
    # Operation would run the whole render again through execute, blocking Blender for minutes
    bl_options = {"UNDO"}  # noqa: RUF012

    def execute(self, context):
        """Blocking run (batch mode, scripts): same job, no UI updates."""
        return self._run_blocking(context)

    def invoke(self, context, event):
        if bpy.app.background:
            return self._run_blocking(context)
        return self._start_modal(context)

    def _begin(self, context):
        """(api, scene, source, prepared) or the operator's CANCELLED set after a report."""
        if context.window_manager.vtoonify_running:
            return self._fail(context, "a VToonify render is already running (cancel it first)")
        api = engine_client.load()
        scene = compat.vse_scene(context)
        source = _source_of(scene, compat.active_strip(scene))
        self._selection_note = selection_note(source.name, _other_selected(scene, source, compat.active_strip(scene)))
        context.window_manager.vtoonify_notes = self._selection_note
        try:
            refused = stylize.render_refusal(scene, source)
        except stylize.StripError as err:  # outside its meta's cut: prepare says so too
            refused = (err.message, err.fix)
        if refused is not None:
            return self._fail(context, _user_message(stylize.StripError(*refused)))
        try:
            prepared = self._prepare(context, scene, source)
            self._asked_backend = prepared.settings.get("backend", "auto")
            return api, scene, source, prepared
        except _errors(api) as err:
            return self._fail(context, _user_message(err))

    def _run_blocking(self, context):
        begun = self._begin(context)
        if isinstance(begun, set):
            return begun
        api, scene, source, prepared = begun
        wm = context.window_manager
        try:
            client = self._connector(context, api)()
        except _errors(api) as err:
            return self._fail(context, _user_message(err), err)
        try:
            tracker = stylize.run_job(client, api, prepared.settings, progress=_print_progress())
            result = stylize.finish_job(scene, source, prepared, tracker, api)
        except api.JobCancelled:
            wm.vtoonify_status = "VToonify: cancelled"
            return {"CANCELLED"}
        except _errors(api) as err:
            return self._fail(context, _user_message(err), err)
        finally:
            client.close()
        self._tell_outcome(context, result, tracker)
        return {"FINISHED"}

    def _tell_outcome(self, context, result, tracker, note: str = "") -> None:
        """Status line, and in the panel and the status bar what the artist must know: a fallback to
        the classic backend, the engine's warnings, a source strip that moved during the render."""
        wm = context.window_manager
        notes = [n for n in (note, getattr(self, "_selection_note", "")) if n] + outcome_notes(
            tracker, str(self._asked_backend))
        wm.vtoonify_status = f"VToonify: added {result.name}"
        wm.vtoonify_notes = "; ".join(notes)
        if notes:
            self.report({"WARNING"}, f"VToonify: {wm.vtoonify_notes}")
            print(f"VToonify: {wm.vtoonify_notes}")
        else:
            self.report({"INFO"}, wm.vtoonify_status)

    def _start_modal(self, context):
        begun = self._setup_session(context)
        if isinstance(begun, set):
            return begun
        self._timer = context.window_manager.event_timer_add(POLL_INTERVAL_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _setup_session(self, context):
        """Prepare, start connecting on a worker, set the running state; None, or CANCELLED after a report."""
        begun = self._begin(context)
        if isinstance(begun, set):
            return begun
        api, scene, source, self._prepared = begun
        self._api = api
        try:
            mark = stylize.source_mark(scene, source)
        except _errors(api) as err:
            return self._fail(context, _user_message(err))
        self._session = JobSession(self._connector(context, api), api, self._prepared.settings,
                                   cancel_wait_s=CANCEL_WAIT_S)
        # no references across timer ticks (the artist may edit meanwhile, an undo reloads every ID):
        # the scene's session uid (the same across undo, renames and saves; not across file loads)
        # and what the source strip shows, checked again before the result lands
        self._scene_name, self._source_name = scene.name, source.name
        self._scene_uid = scene.session_uid
        self._done_at = None  # when the finished render first waited for an edit in progress
        self._mark = mark
        jobs = engines.live_jobs()
        if jobs is not None:  # ended cleanly if a file is opened or Blender quits meanwhile
            jobs.add(self._session, functools.partial(_discard_when_stopped, self._prepared), source.name)
        wm = context.window_manager
        wm.vtoonify_running, wm.vtoonify_cancel_requested, wm.vtoonify_progress = True, False, 0.0
        wm.vtoonify_done = wm.vtoonify_total = 0  # the last render's count is no progress of this one
        wm.vtoonify_phase = ""
        wm.vtoonify_status = "VToonify: connecting to the engine..."
        return None

    def modal(self, context, event):
        """Timer ticks poll the worker and the engine (never block). Esc with the pointer over a
        Sequencer (and no playback running: then Esc stops playback, as always) or the add-on's Cancel
        stops the render; every other event, a stray Esc elsewhere included, passes through to Blender
        untouched."""
        wm = context.window_manager
        if getattr(self, "_session", None) is None or getattr(self._session, "abandoned", False):
            return self._ended_from_outside(context)
        if _esc_cancels(context, event):
            wm.vtoonify_cancel_requested = True
            self._session.cancel()
            self._show_progress(context, self._session.phase)
            return {"RUNNING_MODAL"}
        if wm.vtoonify_cancel_requested:
            self._session.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            phase = self._session.tick()
            self._show_progress(context, phase)
            if phase != FINISHED:
                return {"PASS_THROUGH"}
            if self._waits_for_edit(context):
                return {"PASS_THROUGH"}
            return self._finish(context)
        except Exception as err:  # UI boundary: a bug must not leave the render flag stuck
            self.cancel(context)
            return self._fail(context, f"VToonify stopped on an internal error: {type(err).__name__}: {err}")

    def _waits_for_edit(self, context) -> bool:
        """A finished render lands between the artist's edits, never during one (see ``busy_edit``)."""
        job = self._session.job
        if self._session.start_error is not None or job is None or job.tracker.state != DONE:
            return False  # nothing lands: no timeline change to keep apart
        edit = busy_edit(_modal_operators(context), VTOON_OT_stylize.bl_idname)
        now = time.monotonic()
        self._done_at = getattr(self, "_done_at", None) or now
        if not landing_waits(edit, now - self._done_at):
            return False
        context.window_manager.vtoonify_status = waiting_text(edit)
        return True

    def cancel(self, context):
        """Blender dropped the modal handler (window closed, file loaded, internal error): stop the
        engine job and free timer, flag and connection now; the partial output is deleted by a worker
        thread once the engine confirms the job ended (never while it may still write)."""
        session, prepared = getattr(self, "_session", None), getattr(self, "_prepared", None)
        self._release(context, close_client=False)
        jobs = engines.live_jobs()
        if session is not None and not (jobs is not None and jobs.abandon(session)) and prepared is not None \
                and not session.abandoned:
            session.abandon(functools.partial(_discard_when_stopped, prepared))
        self._session = None
        context.window_manager.vtoonify_status = "VToonify: cancelled"
        print(f"VToonify: the render of {getattr(self, '_source_name', '?')!r} was cancelled (Blender ended it); "
              "its partial frames are removed")

    def _ended_from_outside(self, context):
        """The render was abandoned by the add-on (a file was opened, the add-on disabled): free the
        timer and flag, report once, touch no data (it may be another file's)."""
        self._release(context, close_client=False)
        self._session = None
        message = f"VToonify: the render of {getattr(self, '_source_name', '?')!r} was cancelled"
        context.window_manager.vtoonify_status = message
        self.report({"WARNING"}, message)
        return {"CANCELLED"}

    def _release(self, context, close_client: bool = True):
        """Undo what invoke set up: timer, running flag, header/status text, connection."""
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.vtoonify_running = wm.vtoonify_cancel_requested = False
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        session = getattr(self, "_session", None)
        jobs = engines.live_jobs()
        if close_client and session is not None:
            if jobs is not None:
                jobs.done(session)
            session.close()

    def _show_progress(self, context, phase: str):
        wm = context.window_manager
        job = self._session.job
        if phase == CONNECTING or job is None:
            text = "VToonify: connecting to the engine..." + (" (cancelling)" if self._session.cancel_requested
                                                               else f" ({HOW_TO_CANCEL})")
        else:
            wm.vtoonify_progress = job.tracker.fraction
            wm.vtoonify_done, wm.vtoonify_total = job.tracker.done_frames, job.tracker.total_frames
            wm.vtoonify_phase = job.tracker.phase
            text = job.tracker.status_line() + (" (cancelling)" if job.cancelling and not job.tracker.finished
                                                else "" if job.tracker.finished else f" ({HOW_TO_CANCEL})")
        wm.vtoonify_status = text
        live = phase != FINISHED
        if context.workspace is not None:  # the status bar; the Sequencer header keeps its menus
            context.workspace.status_text_set(text if live else None)
        if context.area is not None:
            context.area.tag_redraw()

    def _finish(self, context):
        wm = context.window_manager
        self._release(context)
        session, api = self._session, self._api
        if session.start_error is not None:
            return self._fail(context, _user_message(session.start_error), session.start_error)
        tracker = session.job.tracker
        scene, source, prepared, note = None, None, self._prepared, ""
        if tracker.state == DONE:  # only a finished render lands: check where, after the artist's edits
            placed = self._landing()
            if isinstance(placed, str):
                return self._fail(context, placed)
            scene, source, prepared, note = placed
        try:
            result = stylize.finish_job(scene, source, prepared, tracker, api)
        except api.JobCancelled:
            wm.vtoonify_status = "VToonify: cancelled"
            self.report({"WARNING"}, wm.vtoonify_status)
            return {"CANCELLED"}
        except _errors(api) as err:
            return self._fail(context, _user_message(err), err)
        self._tell_outcome(context, result, tracker, note)
        return {"FINISHED"}

    def _landing(self):
        """(scene, source strip, prepared job placed where the source now is, note), or the report
        text when the result must not land (its frames stay on disk, the text says where)."""
        scene = next((s for s in bpy.data.scenes if s.session_uid == self._scene_uid), None)
        strip, now = stylize.source_now(scene, self._mark) if scene is not None else (None, None)
        kept_in = self._prepared.output_dir
        if isinstance(now, stylize.StripError):
            return report_text(stylize.StripError(
                f"strip {strip.name!r} changed during the render ({now.message}); the rendered frames are "
                f"kept in {kept_in}", "Stylize the strip again"))
        place = landing(self._mark, now, self._scene_name, scene is not None, kept_in)
        if place.frame_start is None:
            return report_text(stylize.StripError(place.problem, place.fix))
        prepared = dataclasses.replace(self._prepared, frame_start=place.frame_start)
        note = place.note
        shown = compat.vse_scene(bpy.context)
        if shown is None or shown.session_uid != scene.session_uid:  # the artist switched scenes meanwhile
            note = "; ".join(filter(None, [note, f"the result is in scene {scene.name!r}"]))
        return scene, strip, prepared, note


def _modal_operators(context) -> list[str]:
    """The ``bl_idname`` of each modal operator running in the window (``TRANSFORM_OT_seq_slide``...)."""
    window = context.window
    return [op.bl_idname for op in getattr(window, "modal_operators", ())] if window is not None else []


def _esc_cancels(context, event) -> bool:
    """``cancel_gate.esc_cancels`` for a Blender event: the pointer against the window's areas."""
    window = context.window
    areas = [(a.type, a.x, a.y, a.width, a.height) for a in window.screen.areas] \
        if window is not None and window.screen is not None else []
    return esc_cancels(event.type, event.value, _playing(context), getattr(event, "mouse_x", None),
                       getattr(event, "mouse_y", None), areas)


def _playing(context) -> bool:
    screen = context.screen
    return bool(screen is not None and screen.is_animation_playing)


def _print_progress():
    """``run_job`` callback for batch mode (``blender -b``): one line per change of the frame count."""
    last = [None]

    def show(tracker) -> bool:
        line = tracker.status_line()
        if line != last[0]:
            print(line, flush=True)
            last[0] = line
        return True

    return show


def _discard_when_stopped(prepared, engine_stopped: bool) -> None:
    """Cleanup callback (may run on a worker thread: files only, no bpy)."""
    if engine_stopped:
        stylize.discard_partial_output(prepared)


class VTOON_OT_cancel(bpy.types.Operator):
    """Cancel the running VToonify render (frames written so far are removed). Esc over the Sequencer
    does the same"""

    bl_idname = "sequencer.vtoonify_cancel"
    bl_label = "Cancel VToonify Render"

    @classmethod
    def poll(cls, context):
        if not context.window_manager.vtoonify_running:
            cls.poll_message_set("No VToonify render is running")
            return False
        return True

    def execute(self, context):
        context.window_manager.vtoonify_cancel_requested = True
        return {"FINISHED"}


class VTOON_OT_preview(_EngineOperator, bpy.types.Operator):
    """Stylize only the current frame: a before/after overlay in the Sequencer preview"""

    bl_idname = "sequencer.vtoonify_preview"
    bl_label = "Preview VToonify Frame"
    _needs_idle = False
    _preview = True

    def _request(self, context):
        """(api, source frame number, no-argument preview call) or CANCELLED after a report."""
        api = engine_client.load()
        scene = compat.vse_scene(context)
        source = _source_of(scene, compat.active_strip(scene))
        off = _playhead_reason(context)
        if off:  # poll greys the button; a script may still call it
            return self._fail(context, off)
        frame = scene.frame_current
        try:
            prepared = self._prepare(context, scene, source)
        except _errors(api) as err:
            return self._fail(context, _user_message(err))
        number = prepared.source_numbers[frame - prepared.frame_start]
        try:
            mark = stylize.source_mark(scene, source)
        except stylize.StripError as err:
            return self._fail(context, _user_message(err))
        where = (scene.session_uid, scene.name, mark, frame, prepared.settings.get("output_space", "plate"))
        return api, (number, where), functools.partial(preview_frame, self._connector(context, api),
                                                       prepared.settings, number)

    def execute(self, context):
        """Blocking (scripts, background mode)."""
        request = self._request(context)
        if isinstance(request, set):
            return request
        api, number, call = request
        try:
            message = _show_preview(call(), number)
        except _errors(api) as err:
            return self._fail(context, _user_message(err), err)
        context.window_manager.vtoonify_status = message
        self.report({"WARNING"} if split_status(message)[1] else {"INFO"}, message)
        return {"FINISHED"}

    def invoke(self, context, event):
        """In the UI the engine call runs on a worker thread; a ``bpy.app.timers`` callback shows it."""
        if bpy.app.background:
            return self.execute(context)
        request = self._request(context)
        if isinstance(request, set):
            return request
        api, number, call = request
        worker = BackgroundCall(call, name="vtoonify-preview")
        bpy.app.timers.register(timer_callback(worker, functools.partial(_preview_arrived, api, number),
                                               POLL_INTERVAL_S), first_interval=POLL_INTERVAL_S)
        context.window_manager.vtoonify_status = f"VToonify: previewing source frame {number[0]}..."
        return {"FINISHED"}


def _show_preview(reply: dict, request: tuple) -> str:
    """Main thread: show the preview where the artist works, as a before/after overlay strip in the
    Sequencer (stylized right half over the source, registered to the strip where it is now, however
    it was moved or trimmed while the engine rendered) and in any image editor; returns the status
    line (problem, then fix on its own line, when no overlay could be laid)."""
    number, (scene_uid, scene_name, mark, frame, output_space) = request
    scene = next((s for s in bpy.data.scenes if s.session_uid == scene_uid), None)
    source, now = stylize.source_now(scene, mark) if scene is not None else (None, None)
    place = None
    if isinstance(now, stylize.StripError):
        place = SimpleNamespace(frame_start=None, note="", problem=f"strip {source.name!r} changed while its "
                                f"preview rendered ({now.message}), so no preview strip was laid", fix="Preview again")
    elif output_space == "plate":
        place = preview_landing(mark, now, number, frame, scene_name, scene is not None)
        if place.frame_start is not None:
            stylize.show_preview_strip(scene, source, reply["path"], place.frame_start)
    image = bpy.data.images.load(reply["path"], check_existing=True)
    image.reload()
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas if window.screen else ():
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                area.tag_redraw()
    if place is not None and place.frame_start is None:
        return report_text(stylize.StripError(f"VToonify preview of source frame {number} ({image.name}): "
                                              f"{place.problem}", place.fix))
    if output_space != "plate":
        return f"VToonify preview of source frame {number}: {image.name} (crop, in the Image Editor)"
    moved = f"; {place.note} (timeline frame {place.frame_start})" if place.note else ""
    return f"VToonify preview of source frame {number}: {image.name} (before | after in the Sequencer){moved}"


def _preview_arrived(api, number: tuple, worker: BackgroundCall) -> None:
    """``bpy.app.timers`` callback once the worker ended: show the image or the error."""
    wm = bpy.context.window_manager
    if not _registered(wm):
        return
    try:
        wm.vtoonify_status = _show_preview(worker.outcome(), number)
    except _errors(api) as err:
        wm.vtoonify_status = f"VToonify preview failed: {_user_message(err)}"
        engines.note_failure(err)  # the sidebar below is redrawn anyway
    else:
        _undo_push(wm, PREVIEW_UNDO)
    problem, fix = split_status(wm.vtoonify_status)
    if fix:  # no overlay: a timer has no operator report, so say it where the artist looks
        print(wm.vtoonify_status)
        _popup(wm, problem, fix)
    for window in wm.windows:  # the sidebar's status line
        for area in window.screen.areas if window.screen else ():
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


PREVIEW_UNDO = "VToonify Preview"
"""The undo step (Edit > Undo History) of a laid preview overlay."""


def _undo_push(wm, message: str) -> None:
    """Make what a timer callback changed its own undo step. A timer is no operator, so Blender pushes
    nothing for it: Ctrl+Z would then go back past the artist's last edit as well, and redo could not
    bring the change back."""
    try:
        if wm.windows:
            with bpy.context.temp_override(window=wm.windows[0]):
                bpy.ops.ed.undo_push(message=message)
        else:
            bpy.ops.ed.undo_push(message=message)
    except RuntimeError as err:  # undo disabled (e.g. started with undo off): the change simply stays
        print(f"VToonify: no undo step for {message!r} ({err})")


def _popup(wm, problem: str, fix: str) -> None:
    """A small popup with the problem and its fix over the first window (UI sessions only)."""
    if bpy.app.background or not wm.windows:
        return

    def draw(menu, _context):
        menu.layout.label(text=fix)

    try:
        with bpy.context.temp_override(window=wm.windows[0]):
            wm.popup_menu(draw, title=problem, icon="ERROR")
    except (RuntimeError, TypeError, AttributeError) as err:  # no window to draw in: the status says it
        print(f"VToonify: could not show a popup ({err})")


class _EngineStatusOperator(bpy.types.Operator):
    """Ask the engine for its capabilities off the main thread; the panel shows the answer."""

    auto_start = False

    def execute(self, context):
        call = _status_query(context, engine_client.load(), self.auto_start)
        if bpy.app.background:
            _status_arrived(BackgroundCall(call, name="vtoonify-status").outcome_when_done())
            return {"FINISHED"}
        worker = BackgroundCall(call, name="vtoonify-status")
        bpy.app.timers.register(timer_callback(worker, lambda done: _status_arrived(done.outcome()), POLL_INTERVAL_S),
                                first_interval=POLL_INTERVAL_S)
        context.window_manager.vtoonify_status = "VToonify: asking the engine..."
        return {"FINISHED"}


def _registered(wm) -> bool:
    """False once the add-on was disabled: a timer it registered still fires then (Blender keeps it),
    and must leave quietly instead of failing on properties that are gone."""
    return wm is not None and hasattr(wm, "vtoonify_status")


def _status_arrived(status: EngineStatus) -> None:
    wm = bpy.context.window_manager
    if not _registered(wm):
        return
    engines.remember_status(status)
    wm.vtoonify_status = f"VToonify: {status.summary()}"
    _redraw_status(wm)


def _redraw_status(wm) -> None:
    """Redraw where the engine's status shows."""
    for window in wm.windows:
        for area in window.screen.areas if window.screen else ():
            if area.type in {"SEQUENCE_EDITOR", "PREFERENCES"}:  # the sidebar and the add-on's preferences
                area.tag_redraw()


def _status_query(context, api, auto_start: bool):
    """A no-argument ``query_status`` of the preferences' engine (read now, on the main thread; the call
    may run on a worker thread); an engine it starts (``auto_start``) is tracked so the add-on stops it."""
    launch = dataclasses.replace(get_preferences(context).launch_settings(), auto_start=auto_start)
    owner = engines.current()
    connector = functools.partial(connect, launch, api, on_start=owner.add if owner is not None else None)
    return functools.partial(query_status, connector, api)


def _watch_check() -> BackgroundCall:
    """A status check for the watch: the preferences' engine, never auto-started."""
    return BackgroundCall(_status_query(bpy.context, engine_client.load(), False), name="vtoonify-status-watch")


def start_status_watch():
    """Keep the engine line true while it says "not running" (``core.status_watch``): a persistent
    ``bpy.app.timers`` function, returned so that unregister can remove it. None in background mode
    (no panel to keep true; scripts ask with Refresh)."""
    if bpy.app.background:
        return None
    watch = StatusWatch(_watch_check, engines.last_status, _status_arrived)

    def tick() -> float | None:
        if not _registered(bpy.context.window_manager):
            return None  # the add-on was disabled: the timer ends
        return watch.tick()

    bpy.app.timers.register(tick, first_interval=1.0, persistent=True)
    return tick


def stop_status_watch(tick) -> None:
    if tick is not None and bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)


class VTOON_OT_engine_refresh(_EngineStatusOperator):
    """Ask the running engine which backend Auto will use and which styles are installed"""

    bl_idname = "sequencer.vtoonify_engine_refresh"
    bl_label = "Refresh VToonify Engine Status"  # F3 lists it by this name (the panel says "Refresh")


class VTOON_OT_engine_start(_EngineStatusOperator):
    """Start the engine now (it stops when Blender quits, and after the idle timeout of the add-on preferences)"""

    bl_idname = "sequencer.vtoonify_engine_start"
    bl_label = "Start VToonify Engine"
    auto_start = True


class VTOON_OT_engine_stop(bpy.types.Operator):
    """Stop the engines this Blender started (an engine someone else started is left running)"""

    bl_idname = "sequencer.vtoonify_engine_stop"
    bl_label = "Stop VToonify Engine"

    @classmethod
    def poll(cls, context):
        owner = engines.current()
        reason = ""
        if context.window_manager.vtoonify_running:
            reason = "A VToonify render is running: cancel it first (Esc over the Sequencer)"
        elif owner is None or not owner.running():
            reason = ("No engine started by this Blender is running (an engine started elsewhere is "
                      "stopped where it was started)")
        if reason:
            cls.poll_message_set(reason)
        return not reason

    def execute(self, context):
        engines.stop_all()
        engines.remember_status(EngineStatus(running=False, error="stopped"))
        context.window_manager.vtoonify_status = "VToonify: engine stopped"
        return {"FINISHED"}


class VTOON_OT_copy_fetch_command(bpy.types.Operator):
    """Copy the command that downloads this style's model files"""

    bl_idname = "sequencer.vtoonify_copy_fetch_command"
    bl_label = "Copy VToonify Fetch Command"

    command: bpy.props.StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context):
        context.window_manager.clipboard = self.command
        self.report({"INFO"}, "Copied: " + self.command)
        return {"FINISHED"}


def _active_result(context):
    scene = compat.vse_scene(context)
    strip = stylize.shown_result(compat.active_strip(scene)) if scene is not None else None
    return (scene, strip) if strip is not None and strip.get(js.SOURCE_PROPERTY) else (scene, None)


def _versions_poll(cls, context) -> bool:
    """Version switching and purging need a result strip and no render writing a new version."""
    reason = ""
    if _active_result(context)[1] is None:
        reason = "The active strip is not a VToonify result: select a result strip (or its group)"
    elif context.window_manager.vtoonify_running:
        reason = "A VToonify render is running: wait for it, or cancel it (Esc over the Sequencer)"
    if reason:
        cls.poll_message_set(reason)
    return not reason


class VTOON_OT_version_step(bpy.types.Operator):
    """Show the previous or next rendered version (vNNN) of the active result strip"""

    bl_idname = "sequencer.vtoonify_version_step"
    bl_label = "Switch VToonify Result Version"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012

    step: bpy.props.IntProperty(name="Step", default=1, options={"SKIP_SAVE"},
                                description="How many versions to step: -1 the previous one, 1 the next one")

    @classmethod
    def description(cls, _context, properties):
        """The panel's arrow buttons have no text: the tooltip says which way each goes."""
        which = "previous (older)" if properties.step < 0 else "next (newer)"
        return f"Show the {which} rendered version (vNNN) of the active result strip and its mattes"

    @classmethod
    def poll(cls, context):
        return _versions_poll(cls, context)

    def execute(self, context):
        scene, strip = _active_result(context)
        _stem, versions, current = stylize.result_versions(strip)
        if current not in versions or not versions:
            return self._fail(context, "the result strip does not show a versioned folder")
        index = versions.index(current) + self.step
        if not 0 <= index < len(versions):
            self.report({"INFO"}, f"VToonify: v{current:03d} is the {'newest' if self.step > 0 else 'oldest'}")
            return {"CANCELLED"}
        try:
            stylize.switch_version(scene, strip, versions[index])
        except stylize.StripError as err:
            return self._fail(context, _user_message(err))
        context.window_manager.vtoonify_status = f"VToonify: {strip.name} shows v{versions[index]:03d}"
        return {"FINISHED"}

    def _fail(self, context, message):
        context.window_manager.vtoonify_status = message
        self.report({"ERROR"}, message)
        return {"CANCELLED"}


class VTOON_OT_versions_purge(bpy.types.Operator):
    """Remove the rendered versions of this result that no strip shows (the shown one is kept). Undo can
    still bring one back until this file is closed; then they are deleted"""

    bl_idname = "sequencer.vtoonify_versions_purge"
    bl_label = "Purge Old VToonify Versions"

    @classmethod
    def poll(cls, context):
        return _versions_poll(cls, context)

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        scene, strip = _active_result(context)
        version_bin = version_undo.current()
        if version_bin is None:
            return self._fail(context, "VToonify: the add-on is not enabled")
        try:
            removed = stylize.purge_old_versions(scene, strip, version_bin)
        except stylize.StripError as err:
            return self._fail(context, _user_message(err))
        context.window_manager.vtoonify_status = (
            f"VToonify: purged {len(removed)} old version(s); Undo can bring one back until this file is "
            "closed, then they are deleted")
        self.report({"INFO"}, context.window_manager.vtoonify_status)
        return {"FINISHED"}

    def _fail(self, context, message):
        context.window_manager.vtoonify_status = message
        self.report({"ERROR"}, message)
        return {"CANCELLED"}


class VTOON_OT_select_result(bpy.types.Operator):
    """Select a VToonify result with its matte strips (and its source)"""

    bl_description = ("Select the VToonify result of the active strip with its matte strips (and its source), "
                      "so they move, trim and delete together")

    bl_idname = "sequencer.vtoonify_select_result"
    bl_label = "Select VToonify Result Group"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012

    with_source: bpy.props.BoolProperty(name="With Source", default=True,
                                        description="Select the source strip too (moving it along keeps the "
                                                    "result registered on it)")

    @classmethod
    def poll(cls, context):
        scene = compat.vse_scene(context)
        if scene is None or not stylize.result_group(scene, compat.active_strip(scene)):
            cls.poll_message_set("The active strip has no VToonify result: stylize it, or select a result")
            return False
        return True

    def execute(self, context):
        scene = compat.vse_scene(context)
        group = stylize.result_group(scene, compat.active_strip(scene), with_source=self.with_source)
        for strip in compat.all_strips(scene.sequence_editor):
            strip.select = False
        for strip in group:
            strip.select = True
        result = next((s for s in group if s.get(js.ROLE_PROPERTY) == "result"), None)
        if result is not None:
            scene.sequence_editor.active_strip = result
        self.report({"INFO"}, f"VToonify: selected {len(group)} strips")
        return {"FINISHED"}


class _OnAResult:
    """Poll of the operators that act on a VToonify result (the active strip is one, or its source)."""

    @classmethod
    def poll(cls, context):
        scene = compat.vse_scene(context)
        if scene is None or not stylize.result_group(scene, compat.active_strip(scene)):
            cls.poll_message_set("The active strip has no VToonify result: select a result or its source")
            return False
        return True


class VTOON_OT_match_placement(_OnAResult, bpy.types.Operator):
    """Copy the source strip's placement (position, scale, rotation, crop, flips, colour and their
    animation) onto its VToonify result and mattes again, without re-rendering"""

    bl_idname = "sequencer.vtoonify_match_placement"
    bl_label = "Match VToonify Placement"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012

    def execute(self, context):
        scene = compat.vse_scene(context)
        try:
            members = stylize.match_placement(scene, compat.active_strip(scene))
        except stylize.StripError as err:
            context.window_manager.vtoonify_status = _user_message(err)
            self.report({"ERROR"}, context.window_manager.vtoonify_status)
            return {"CANCELLED"}
        context.window_manager.vtoonify_status = (f"VToonify: {members[0].name} takes the placement of "
                                                  f"{members[0][js.SOURCE_PROPERTY]} again")
        self.report({"INFO"}, context.window_manager.vtoonify_status)
        return {"FINISHED"}


class VTOON_OT_follow_speed(_OnAResult, bpy.types.Operator):
    """Lay the VToonify result's Speed Control copy again from its source's Speed Control as it is now
    (or remove it and unmute the result when the source has none), without re-rendering"""

    bl_idname = "sequencer.vtoonify_follow_speed"
    bl_label = "Follow VToonify Source Speed"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012

    def execute(self, context):
        scene, wm = compat.vse_scene(context), context.window_manager
        try:
            result, notes = stylize.follow_source_speed(scene, compat.active_strip(scene))
        except stylize.StripError as err:
            wm.vtoonify_status = _user_message(err)
            self.report({"ERROR"}, wm.vtoonify_status)
            return {"CANCELLED"}
        copies = retime.speed_copies(scene, str(result[js.SOURCE_PROPERTY]))
        wm.vtoonify_status = (f"VToonify: {result.name} follows {', '.join(c[retime.FOLLOWS] for c in copies)} again"
                              if copies else f"VToonify: {result.name} has no Speed Control copy now (unmuted)")
        wm.vtoonify_status += "".join(f"; not followed: {note}" for note in notes)
        self.report({"WARNING" if notes else "INFO"}, wm.vtoonify_status)
        return {"FINISHED"}
