"""The Sequencer's Strip menu and strip context menu entries (which also make the operators findable
with F3 menu search: Blender's search lists menu entries, not bare operators)."""

from __future__ import annotations

import bpy


class SEQUENCER_MT_vtoonify_engine(bpy.types.Menu):
    """Strip > VToonify Engine: start, stop and ask the engine (F3 finds them by these entries)."""

    bl_label = "VToonify Engine"

    def draw(self, _context) -> None:
        layout = self.layout
        layout.operator("sequencer.vtoonify_engine_start", icon="PLAY")
        layout.operator("sequencer.vtoonify_engine_stop", icon="X")
        layout.operator("sequencer.vtoonify_engine_refresh", icon="FILE_REFRESH")


class SEQUENCER_MT_vtoonify_versions(bpy.types.Menu):
    """Strip > VToonify Versions: the panel's previous / next / purge buttons as named entries, so F3
    finds them and the keyboard reaches them."""

    bl_label = "VToonify Versions"

    def draw(self, _context) -> None:
        layout = self.layout
        layout.operator("sequencer.vtoonify_version_step", text="Previous VToonify Version", icon="TRIA_LEFT").step = -1
        layout.operator("sequencer.vtoonify_version_step", text="Next VToonify Version", icon="TRIA_RIGHT").step = 1
        layout.operator("sequencer.vtoonify_versions_purge", text="Purge Old VToonify Versions...", icon="TRASH")


def draw_entries(self, _context) -> None:
    layout = self.layout
    layout.separator()
    layout.operator("sequencer.vtoonify_stylize", icon="RENDER_ANIMATION")
    layout.operator("sequencer.vtoonify_preview", icon="IMAGE_DATA")
    layout.operator("sequencer.vtoonify_select_result", icon="RESTRICT_SELECT_OFF")
    layout.operator("sequencer.vtoonify_match_placement", icon="PIVOT_BOUNDBOX")
    layout.operator("sequencer.vtoonify_follow_speed", icon="MOD_TIME")


def draw_strip_menu(self, context) -> None:
    """The header's Strip menu also holds Cancel and the engine (the right-click menu stays short)."""
    draw_entries(self, context)
    self.layout.operator("sequencer.vtoonify_cancel", icon="CANCEL")
    self.layout.menu(SEQUENCER_MT_vtoonify_versions.__name__)
    self.layout.menu(SEQUENCER_MT_vtoonify_engine.__name__)


DRAWERS = {"SEQUENCER_MT_strip": draw_strip_menu, "SEQUENCER_MT_context_menu": draw_entries}


def register() -> None:
    for name, drawer in DRAWERS.items():
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.append(drawer)


def unregister() -> None:
    for name, drawer in DRAWERS.items():
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.remove(drawer)
