"""VToonify for Blender's Video Sequencer: stylize portrait strips with the VToonify engine.

Outside Blender (plain pytest of ``vtoonify_addon.core``) bpy is absent: the bpy modules are then
not imported and ``classes`` is empty.
"""

from __future__ import annotations

try:
    import bpy
except ImportError:  # plain Python: only the bpy-free core is usable
    bpy = None

if bpy is not None:
    from . import engines, file_events, keymaps, menus, operators, panels, preferences, props, version_undo

    classes = (
        props.VToonifySceneSettings,
        preferences.VToonifyPreferences,
        operators.VTOON_OT_stylize,
        operators.VTOON_OT_cancel,
        operators.VTOON_OT_preview,
        operators.VTOON_OT_engine_refresh,
        operators.VTOON_OT_engine_start,
        operators.VTOON_OT_engine_stop,
        operators.VTOON_OT_copy_fetch_command,
        operators.VTOON_OT_version_step,
        operators.VTOON_OT_versions_purge,
        operators.VTOON_OT_select_result,
        operators.VTOON_OT_match_placement,
        operators.VTOON_OT_follow_speed,
        panels.VTOON_PT_stylize,
        menus.SEQUENCER_MT_vtoonify_engine,
        menus.SEQUENCER_MT_vtoonify_versions,
    )
else:
    classes = ()


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    props.register_properties()
    menus.register()
    keymaps.register()
    engines.start_tracking()
    engines.keep_watch(operators.start_status_watch())
    file_events.register()
    version_undo.register()


def unregister() -> None:
    version_undo.unregister()
    file_events.unregister()
    operators.stop_status_watch(engines.drop_watch())
    engines.stop_tracking()  # auto-started engines go with the add-on
    keymaps.unregister()
    menus.unregister()
    props.unregister_properties()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
