"""The VSE sidebar tab "VToonify": engine status, job options, Stylize / Cancel / Preview, progress,
what the last render reported, and the result's versions."""

from __future__ import annotations

import bpy

from . import compat, engines, props, stylize
from .core import job_settings as js
from .core.availability import unsaved_output_note
from .core.engine_status import fetch_command
from .core.error_report import split_status
from .preferences import get_preferences
from .text_room import Room as _Room
from .text_room import lines as _lines


def _progress(layout, wm) -> None:
    """A real progress bar (percent, n/N) where Blender has one (4.0+), else the factor slider."""
    done, total = wm.vtoonify_done, wm.vtoonify_total
    what = "Finding faces " if wm.vtoonify_phase == "analysis" else ""
    text = f"{what}{100 * wm.vtoonify_progress:.0f}%  ({done}/{total})" if total else "Starting..."
    if hasattr(layout, "progress"):
        layout.progress(factor=wm.vtoonify_progress, type="BAR", text=text)
    else:
        layout.prop(wm, "vtoonify_progress", text=text, slider=True)


def engine_buttons(row) -> None:
    """Refresh / Start / Stop, short: their F3 names say "VToonify Engine" (shared with the preferences)."""
    row.operator("sequencer.vtoonify_engine_refresh", icon="FILE_REFRESH", text="Refresh")
    row.operator("sequencer.vtoonify_engine_start", icon="PLAY", text="Start")
    row.operator("sequencer.vtoonify_engine_stop", icon="X", text="Stop")


def _engine_box(layout, context, settings, width: _Room) -> None:
    box = layout.box()
    status = engines.last_status()
    if status is None:
        box.label(text="Engine: not asked yet", icon="QUESTION")
    else:
        _lines(box, status.summary(), width, icon="CHECKMARK" if status.running else "ERROR")
        if status.running:
            for text, icon in status.style_lines():  # with the engine's note when its reply was cut
                _lines(box, text, width, icon=icon)
            style = settings.style_name
            if style not in status.styles and settings.backend != "classic" and style in props.STYLES:
                prefs = get_preferences(context)
                command = fetch_command(prefs.engine_python, style, prefs.models_dir)
                _lines(box, f"{style} is not installed; fetch it with:", width, icon="INFO")
                _lines(box, command, width)
                box.operator("sequencer.vtoonify_copy_fetch_command", icon="COPYDOWN",
                             text="Copy Command").command = command
            elif style not in status.styles and settings.backend != "classic":
                _lines(box, f"{style} is not in the engine's models folder; set Models Folder to the folder "
                            "'engine train' wrote it to", width, icon="INFO")
    engine_buttons(box.row(align=True))


def _versions_row(layout, strip) -> None:
    """``v002 of 3``, previous / next, purge: short, beside three buttons in a narrow sidebar (each
    button's tooltip names the version it goes to)."""
    if strip.type != "IMAGE":
        return
    _stem, versions, current = stylize.result_versions(strip)
    if current is None or not versions:
        return
    row = layout.row(align=True)
    row.label(text=f"v{current:03d} of {len(versions)}")
    row.operator("sequencer.vtoonify_version_step", text="", icon="TRIA_LEFT").step = -1
    row.operator("sequencer.vtoonify_version_step", text="", icon="TRIA_RIGHT").step = 1
    row.operator("sequencer.vtoonify_versions_purge", text="", icon="TRASH")


def _cryptomatte_row(layout, settings, output_format: str, width: _Room) -> None:
    """Cryptomatte under Mattes: usable with mattes on and EXR output, else greyed with the reason."""
    row = layout.row()
    too_old = js.cryptomatte_problem(js.StylizeOptions(format="exr", mattes=True, cryptomatte=True), bpy.app.version)
    row.enabled = settings.mattes and too_old is None
    row.prop(settings, "cryptomatte")
    if too_old is not None and settings.mattes:
        _lines(layout, f"Cryptomatte: {too_old[0]}", width, icon="INFO")
    if settings.cryptomatte and settings.mattes and output_format != "exr":
        _lines(layout, "Cryptomatte needs EXR: set Format to EXR in the add-on preferences", width, icon="ERROR")


def _faces_rows(layout, settings, width: _Room) -> None:
    """Faces, its "at most" count (greyed with the reason unless all faces on a plate) and following."""
    layout.prop(settings, "faces")
    plate, every = settings.output_space == "plate", settings.faces == "all"
    row = layout.row()
    row.enabled = plate and every
    row.prop(settings, "max_faces")
    if every and not plate:
        _lines(layout, "Faces All needs Output Space Plate (a crop holds one face)", width, icon="ERROR")
    elif not every:
        _lines(layout, "At Most: used only with Faces All", width, icon="INFO")
    layout.prop(settings, "follow_faces")


def _not_ready_note(layout, settings, width: _Room) -> None:
    """The engine's problem and fix under Style when the chosen family is half trained."""
    status = engines.last_status()
    problem = status.style_problem(props.chosen_style(settings)) if status is not None and status.running else ""
    if problem and settings.backend != "classic":
        _lines(layout, f"Not ready (for whoever trains your styles): {problem}", width, icon="ERROR")


def _drift_rows(layout, drift, width: _Room, lead: str = "") -> None:
    """A result off its plate (the source was repositioned after it landed): why, and the button."""
    if drift is None:
        return
    _lines(layout, lead + drift[0], width, icon="ERROR")
    layout.operator("sequencer.vtoonify_match_placement", icon="PIVOT_BOUNDBOX", text="Match Placement")


def _speed_rows(layout, drift, width: _Room, lead: str = "") -> None:
    """A result off its speed (the source's Speed Control changed after it landed): why, and the button."""
    if drift is None:
        return
    _lines(layout, lead + drift[0], width, icon="ERROR")
    layout.operator("sequencer.vtoonify_follow_speed", icon="MOD_TIME", text="Follow Source Speed")


def _effect_rows(layout, scene, source, width: _Room) -> None:
    """Effect strips over the source (a Speed Control, a Transform) that its result does not go through."""
    effects = stylize.effect_inputs_warning(scene, source)
    if effects is not None:
        _lines(layout, effects[0], width, icon="ERROR")
        _lines(layout, effects[1], width, icon="INFO")


def _colour_rows(layout, source, output_format: str, width: _Room) -> None:
    """A plate whose Color Space an EXR result cannot match (DPX as linear, HDR): why, and what to set."""
    mismatch = stylize.plate_colour_warning(source, output_format)
    if mismatch is not None:
        _lines(layout, mismatch[0], width, icon="ERROR")
        _lines(layout, mismatch[1], width, icon="INFO")


class VTOON_PT_stylize(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "VToonify"
    bl_label = "VToonify"

    @classmethod
    def poll(cls, context):
        # also before the first strip (no sequence_editor yet): the engine row and the hint still show
        return compat.vse_scene(context) is not None

    def draw(self, context):
        layout = self.layout
        scene, wm = compat.vse_scene(context), context.window_manager
        width = _Room(context)
        settings = scene.vtoonify
        _engine_box(layout, context, settings, width)
        strip = stylize.shown_result(compat.active_strip(scene))
        is_result = strip is not None and bool(strip.get(js.SOURCE_PROPERTY))
        source = stylize.render_source(strip) if strip is not None and not is_result else None
        if scene.sequence_editor is None:
            _lines(layout, "Add a movie or image strip (Add > Movie, Add > Image/Sequence)", width, icon="INFO")
        elif strip is None or (not is_result and (source is None or source.type not in {"MOVIE", "IMAGE"})):
            _lines(layout, "Select a movie, image or meta strip", width, icon="INFO")
        elif is_result:
            _lines(layout, f"Result of {strip[js.SOURCE_PROPERTY]}: Stylize re-renders it with its stored "
                           "settings (select the source strip to change them)", width, icon="FILE_REFRESH")
            stored = js.settings_from_json(strip.get(js.SETTINGS_PROPERTY, ""))
            if stored:
                box = layout.box()
                _lines(box, f"{stored.get('backend')} / {stored.get('style')} #{stored.get('style_id')}, "
                            f"degree {stored.get('degree')}", width)
                if strip.get(js.LABEL_PROPERTY):
                    _lines(box, str(strip[js.LABEL_PROPERTY]), width, icon="TIME")
            _versions_row(layout, strip)
            stale = stylize.result_stale(scene, strip)
            if stale is not None:
                _lines(layout, stale[0], width, icon="ERROR")
                _lines(layout, stale[1], width, icon="INFO")
            _drift_rows(layout, stylize.placement_drift_warning(scene, strip), width)
            if stale is None:  # a re-render lays the copy again anyway
                _speed_rows(layout, stylize.speed_drift_warning(scene, strip), width)
            _effect_rows(layout, scene, compat.all_strips(scene.sequence_editor).get(str(strip[js.SOURCE_PROPERTY])),
                         width)
        else:
            if source is not strip:
                _lines(layout, f"Renders {source.name} inside the meta", width, icon="SEQ_STRIP_META")
            stale = stylize.source_result_stale(scene, source)
            if stale is not None:  # its result, laid before the artist's last edit
                _lines(layout, f"Its VToonify result: {stale[0]}", width, icon="ERROR")
                _lines(layout, stale[1].replace("select the result and press Stylize", "press Stylize"), width,
                       icon="INFO")
            result = stylize.source_result(scene, source)
            _drift_rows(layout, stylize.placement_drift_warning(scene, result), width, "Its VToonify result: ")
            if stale is None:
                _speed_rows(layout, stylize.speed_drift_warning(scene, result), width, "Its VToonify result: ")
            _effect_rows(layout, scene, source, width)
            _colour_rows(layout, source, get_preferences(context).output_format, width)
        col = layout.column()
        col.enabled = not wm.vtoonify_running and not is_result  # stored settings win on a result strip
        col.prop(settings, "backend")
        col.prop(settings, "style")
        _not_ready_note(col, settings, width)
        col.prop(settings, "style_id")
        col.prop(settings, "degree", slider=True)
        col.prop(settings, "color_transfer")
        col.prop(settings, "mattes")
        _cryptomatte_row(col, settings, get_preferences(context).output_format, width)
        col.prop(settings, "group_meta")
        col.prop(settings, "output_space")
        _faces_rows(col, settings, width)
        row = layout.row(align=True)
        if wm.vtoonify_running:
            _progress(row, wm)
            layout.operator("sequencer.vtoonify_cancel", icon="CANCEL", text="Cancel (Esc)")
        else:
            row.operator("sequencer.vtoonify_stylize", icon="RENDER_ANIMATION", text="Stylize")
            row.operator("sequencer.vtoonify_preview", icon="IMAGE_DATA", text="Preview")
            note = unsaved_output_note(get_preferences(context).output_dir, bool(bpy.data.filepath))
            if note:
                _lines(layout, note, width, icon="INFO")
        if wm.vtoonify_status:
            problem, fix = split_status(wm.vtoonify_status)
            _lines(layout, problem, width)
            if fix:  # what to do about a failure, on its own line
                _lines(layout, fix, width, icon="INFO")
        if wm.vtoonify_notes:
            _lines(layout, wm.vtoonify_notes, width, icon="ERROR")
