"""The Sequencer's Strip menu and strip context menu entries (which also make the operators findable
with F3 menu search: Blender's search lists menu entries, not bare operators)."""

from __future__ import annotations

import bpy

MENUS = ("SEQUENCER_MT_strip", "SEQUENCER_MT_context_menu")
"""Strip (header menu) and the right-click menu over strips; both exist in 4.2 through 5.0."""


def draw_entries(self, _context) -> None:
    layout = self.layout
    layout.separator()
    layout.operator("sequencer.vtoonify_stylize", icon="RENDER_ANIMATION")
    layout.operator("sequencer.vtoonify_preview", icon="IMAGE_DATA")
    layout.operator("sequencer.vtoonify_select_result", icon="RESTRICT_SELECT_OFF")


def register() -> None:
    for name in MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.append(draw_entries)


def unregister() -> None:
    for name in MENUS:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.remove(draw_entries)
