"""The VSE sidebar tab "VToonify": job options, Stylize / Cancel / Preview, progress."""

from __future__ import annotations

import bpy

from . import compat
from .core import job_settings as js


class VTOON_PT_stylize(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "VToonify"
    bl_label = "VToonify"

    @classmethod
    def poll(cls, context):
        scene = compat.vse_scene(context)
        return scene is not None and scene.sequence_editor is not None

    def draw(self, context):
        layout = self.layout
        scene, wm = compat.vse_scene(context), context.window_manager
        strip = compat.active_strip(scene)
        if strip is None or (strip.type not in {"MOVIE", "IMAGE"} and not strip.get(js.SOURCE_PROPERTY)):
            layout.label(text="Select a movie or image strip", icon="INFO")
        elif strip.get(js.SOURCE_PROPERTY):
            layout.label(text=f"Result of {strip[js.SOURCE_PROPERTY]}: Stylize re-renders it", icon="FILE_REFRESH")
            stored = js.settings_from_json(strip.get(js.SETTINGS_PROPERTY, ""))
            if stored:
                box = layout.box()
                box.label(text="With its stored settings (select the source strip to use these below):")
                box.label(text=f"{stored.get('backend')} / {stored.get('style')} #{stored.get('style_id')}, "
                               f"degree {stored.get('degree')}")
        settings = scene.vtoonify
        col = layout.column()
        col.enabled = not wm.vtoonify_running
        col.prop(settings, "backend")
        col.prop(settings, "style")
        col.prop(settings, "style_id")
        col.prop(settings, "degree", slider=True)
        col.prop(settings, "color_transfer")
        col.prop(settings, "mattes")
        col.prop(settings, "output_space")
        row = layout.row(align=True)
        if wm.vtoonify_running:
            row.prop(wm, "vtoonify_progress", text="Progress", slider=True)
            row.operator("sequencer.vtoonify_cancel", icon="CANCEL")
        else:
            row.operator("sequencer.vtoonify_stylize", icon="RENDER_ANIMATION")
            row.operator("sequencer.vtoonify_preview", icon="IMAGE_DATA", text="Preview")
        if wm.vtoonify_status:
            layout.label(text=wm.vtoonify_status)
