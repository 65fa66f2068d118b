"""Thin operators: read the UI state, call ``stylize``, report. Errors become reports, never tracebacks."""

from __future__ import annotations

import bpy

from . import compat, engine_client, stylize
from .core import job_settings as js
from .core.engine_link import connect
from .preferences import get_preferences

_STRIP_TYPES = {"MOVIE", "IMAGE"}
CANCEL_WAIT_S = 60.0
"""How long to wait for the engine's ``job_cancelled`` before giving up on it."""


def _source_of(scene, strip):
    """The strip to render: the strip itself, or the source of a VToonify result (re-render)."""
    source_name = strip.get(js.SOURCE_PROPERTY) if strip is not None else None
    if source_name:
        return compat.all_strips(scene.sequence_editor).get(source_name)
    return strip


def _user_message(err) -> str:
    return getattr(err, "user_message", None) or str(err)


class _EngineOperator:
    """Shared poll and engine connection for the VToonify operators."""

    @classmethod
    def poll(cls, context):
        strip = compat.active_strip(context.scene)
        source = _source_of(context.scene, strip) if strip is not None else None
        return source is not None and source.type in _STRIP_TYPES

    def _fail(self, context, message: str):
        context.window_manager.vtoonify_status = message
        self.report({"ERROR"}, message)
        return {"CANCELLED"}

    def _connect(self, context, api):
        return connect(get_preferences(context).launch_settings(), api)

    def _prepare(self, context, source):
        prefs = get_preferences(context)
        options = context.scene.vtoonify.options(prefs.output_format, prefs.mattes, prefs.models_dir)
        return stylize.prepare_job(context.scene, source, options, prefs.output_dir)


class VTOON_OT_stylize(_EngineOperator, bpy.types.Operator):
    """Stylize the active strip's visible frames with the VToonify engine"""

    bl_idname = "sequencer.vtoonify_stylize"
    bl_label = "Stylize"

    def execute(self, context):
        """Blocking run (batch mode, scripts): same job, no UI updates."""
        return self._start(context, modal=False)

    def invoke(self, context, event):
        return self._start(context, modal=not bpy.app.background)

    def _start(self, context, modal: bool):
        wm = context.window_manager
        if wm.vtoonify_running:
            return self._fail(context, "a VToonify render is already running (cancel it first)")
        api = engine_client.load()
        self._api = api
        self._source = _source_of(context.scene, compat.active_strip(context.scene))
        try:
            self._prepared = self._prepare(context, self._source)
            self._client = self._connect(context, api)
        except (api.EngineError, stylize.StripError, ValueError, OSError) as err:
            return self._fail(context, _user_message(err))
        if not modal:
            try:
                tracker = stylize.run_job(self._client, api, self._prepared.settings)
                result = stylize.finish_job(context.scene, self._source, self._prepared, tracker, api)
            except api.JobCancelled:
                wm.vtoonify_status = "VToonify: cancelled"
                return {"CANCELLED"}
            except (api.EngineError, stylize.StripError, ValueError, OSError, RuntimeError) as err:
                return self._fail(context, _user_message(err))
            finally:
                self._client.close()
            wm.vtoonify_status = f"VToonify: added {result.name}"
            self.report({"INFO"}, wm.vtoonify_status)
            return {"FINISHED"}
        try:
            self._job = stylize.PolledJob(self._client, api, self._prepared.settings, cancel_wait_s=CANCEL_WAIT_S)
        except api.EngineError as err:
            self._client.close()
            return self._fail(context, _user_message(err))
        # strips are not IDs: keep names, not references, across timer ticks (the artist may edit meanwhile)
        self._scene_name, self._source_name = context.scene.name, self._source.name
        self._source = None
        wm.vtoonify_running, wm.vtoonify_cancel_requested, wm.vtoonify_progress = True, False, 0.0
        wm.vtoonify_status = "VToonify: submitted"
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        """Timer ticks poll the engine (never block); Esc or the panel's Cancel asks it to stop."""
        if event.type == "ESC" or context.window_manager.vtoonify_cancel_requested:
            self._job.cancel()
        if event.type != "TIMER":
            return {"RUNNING_MODAL"} if event.type == "ESC" else {"PASS_THROUGH"}
        try:
            self._job.tick()
            self._show_progress(context)
            if not self._job.tracker.finished:
                return {"PASS_THROUGH"}
            return self._finish(context)
        except Exception as err:  # UI boundary: a bug must not leave the render flag stuck
            self._release(context)
            return self._fail(context, f"VToonify stopped on an internal error: {type(err).__name__}: {err}")

    def _release(self, context):
        """Undo what invoke set up: timer, running flag, header/status text, connection."""
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.vtoonify_running = wm.vtoonify_cancel_requested = False
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if context.area is not None:
            context.area.header_text_set(None)
        self._client.close()

    def _show_progress(self, context):
        wm = context.window_manager
        wm.vtoonify_progress = self._job.tracker.fraction
        wm.vtoonify_status = self._job.tracker.status_line()
        if context.workspace is not None:
            context.workspace.status_text_set(wm.vtoonify_status if not self._job.tracker.finished else None)
        if context.area is not None:
            context.area.header_text_set(wm.vtoonify_status if not self._job.tracker.finished else None)
            context.area.tag_redraw()

    def _finish(self, context):
        wm = context.window_manager
        self._release(context)
        scene = bpy.data.scenes.get(self._scene_name)
        editor = scene.sequence_editor if scene is not None else None
        source = compat.all_strips(editor).get(self._source_name) if editor is not None else None
        if source is None:
            stylize.discard_partial_output(self._prepared)
            return self._fail(context, f"strip {self._source_name!r} was removed during the render")
        try:
            result = stylize.finish_job(scene, source, self._prepared, self._job.tracker, self._api)
        except self._api.JobCancelled:
            wm.vtoonify_status = "VToonify: cancelled"
            self.report({"WARNING"}, wm.vtoonify_status)
            return {"CANCELLED"}
        except (self._api.EngineError, stylize.StripError, ValueError, OSError, RuntimeError) as err:
            return self._fail(context, _user_message(err))
        wm.vtoonify_status = f"VToonify: added {result.name}"
        self.report({"INFO"}, wm.vtoonify_status)
        return {"FINISHED"}


class VTOON_OT_cancel(bpy.types.Operator):
    """Cancel the running VToonify render (frames written so far are removed)"""

    bl_idname = "sequencer.vtoonify_cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.window_manager.vtoonify_running

    def execute(self, context):
        context.window_manager.vtoonify_cancel_requested = True
        return {"FINISHED"}


class VTOON_OT_preview(_EngineOperator, bpy.types.Operator):
    """Stylize only the current frame and show it in the image editor"""

    bl_idname = "sequencer.vtoonify_preview"
    bl_label = "Preview Current Frame"

    def execute(self, context):
        api = engine_client.load()
        scene = context.scene
        source = _source_of(scene, compat.active_strip(scene))
        frame = scene.frame_current
        if not source.frame_final_start <= frame < source.frame_final_end:
            return self._fail(context, f"frame {frame} is outside strip {source.name!r}")
        try:
            prepared = self._prepare(context, source)
            number = prepared.source_numbers[frame - prepared.frame_start]
            client = self._connect(context, api)
            try:
                reply = client.preview(prepared.settings, number)
            finally:
                client.close()
            image = bpy.data.images.load(reply["path"], check_existing=True)
            image.reload()
        except (api.EngineError, stylize.StripError, ValueError, OSError, KeyError, RuntimeError) as err:
            return self._fail(context, _user_message(err))
        for area in context.screen.areas if context.screen else ():
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
        context.window_manager.vtoonify_status = f"VToonify preview of source frame {number}: {image.name}"
        self.report({"INFO"}, context.window_manager.vtoonify_status)
        return {"FINISHED"}


