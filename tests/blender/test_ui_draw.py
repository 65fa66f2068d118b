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


def test_result_strip_rerenders_with_its_stored_settings(addon, trimmed_scene, media_dir):
    scene, source = trimmed_scene
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 4.x: sequences
    result = strips.new_movie("plate.vtoonify", str(media_dir / "529_2.mp4"), 3, 101)
    result["vtoonify_source"] = source.name
    result["vtoonify_role"] = "result"
    result["vtoonify_job"] = ('{"backend": "classic", "style": "arcane", "style_id": 3, "degree": 0.9, '
                              '"color_transfer": true, "format": "png", "output_space": "crop"}')
    operators = __import__(addon.__name__ + ".operators", fromlist=["job_options"])
    scene.vtoonify.degree, scene.vtoonify.style = 0.2, "pixar"
    editor.active_strip = result
    options = operators.job_options(bpy.context, scene, result)
    assert (options.backend, options.style, options.style_id, options.degree, options.output_space) == (
        "classic", "arcane", 3, 0.9, "crop")
    editor.active_strip = source  # the source strip renders with the panel's options
    options = operators.job_options(bpy.context, scene, source)
    assert options.style == "pixar" and options.degree == pytest.approx(0.2)
    log: list = []
    editor.active_strip = result
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    assert any(kind == "label" and "arcane #3, degree 0.9" in text for kind, text in log)
