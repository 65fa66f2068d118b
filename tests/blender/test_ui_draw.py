"""Panel and preferences draw code against the registered RNA (every prop and operator must exist)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = pytest.mark.blender


class CheckingLayout:
    """Stands in for UILayout (not constructible from Python) and checks each name it is given."""

    def __init__(self, log: list):
        self.log, self.enabled = log, True

    def _child(self, *args, **kwargs):
        return CheckingLayout(self.log)

    row = column = box = _child

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))

    def operator(self, idname, **kwargs):
        category, name = idname.split(".")
        getattr(getattr(bpy.ops, category), name).get_rna_type()  # KeyError when not registered
        self.log.append(("operator", idname))


def test_panel_draws_idle_and_running(addon, trimmed_scene):
    log: list = []
    panel = SimpleNamespace(layout=CheckingLayout(log))
    bpy.types.VTOON_PT_stylize.draw(panel, bpy.context)
    assert ("operator", "sequencer.vtoonify_stylize") in log and ("operator", "sequencer.vtoonify_preview") in log
    assert {"backend", "style", "style_id", "degree", "color_transfer", "mattes", "output_space"} <= {
        n for kind, n in log if kind == "prop"}
    wm = bpy.context.window_manager
    wm.vtoonify_running, wm.vtoonify_status = True, "VToonify: 3/21 frames"
    try:
        log.clear()
        bpy.types.VTOON_PT_stylize.draw(panel, bpy.context)
        assert ("operator", "sequencer.vtoonify_cancel") in log and ("prop", "vtoonify_progress") in log
        assert ("label", "VToonify: 3/21 frames") in log
        assert bpy.ops.sequencer.vtoonify_cancel() == {"FINISHED"} and wm.vtoonify_cancel_requested
    finally:
        wm.vtoonify_running, wm.vtoonify_cancel_requested, wm.vtoonify_status = False, False, ""


def test_preferences_draw(addon):
    log: list = []
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    assert {"engine_python", "engine_args", "connection_file", "auto_start", "models_dir", "output_dir",
            "output_format", "mattes"} <= {n for kind, n in log if kind == "prop"}


def prefs_proxy(prefs, log):
    """``self`` for AddonPreferences.draw: the real preferences (RNA checked) plus a checking layout."""

    class Proxy:
        layout = CheckingLayout(log)

        def __getattr__(self, name):
            return getattr(prefs, name)

    return Proxy()
