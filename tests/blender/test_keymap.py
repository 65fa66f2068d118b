"""The add-on's shortcuts: registered over the Sequencer timeline with Ctrl+Shift, and free there, in
Blender's own keymaps the timeline obeys (default and Industry Compatible, read from the keymap
data Blender itself builds its keyconfigs from: bpy as a module leaves the default keyconfig empty)."""

from __future__ import annotations

import importlib.util
import os

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = [pytest.mark.timeout(60), pytest.mark.blender]
WINDOW_WIDE = {"Window", "Screen", "Screen Editing", "Frames", "Markers", "View2D", "View2D Buttons List",
               "User Interface", "Animation", "Header", "Region Context Menu", "Time Scrub"}
"""Keymaps of no editor type that the Sequencer timeline obeys too."""


def _blender_keymaps(module_name: str) -> list:
    path = os.path.join(bpy.utils.resource_path("LOCAL"), "scripts", "presets", "keyconfig", "keymap_data",
                        f"{module_name}.py")
    spec = importlib.util.spec_from_file_location(f"vtoonify_{module_name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_keymaps(module.Params())


def test_stylize_and_preview_have_ctrl_shift_shortcuts_over_the_timeline(addon):
    keymap = bpy.context.window_manager.keyconfigs.addon.keymaps[addon.keymaps.KEYMAP[0]]
    assert keymap.space_type == "SEQUENCE_EDITOR"
    ours = {(i.idname, i.type, i.ctrl, i.shift, i.alt) for i in keymap.keymap_items}
    assert ("sequencer.vtoonify_stylize", "T", True, True, False) in ours
    assert ("sequencer.vtoonify_preview", "P", True, True, False) in ours


@pytest.mark.parametrize("keymap_data", ["blender_default", "industry_compatible_data"])
def test_the_shortcuts_clash_with_nothing_blender_binds_in_the_sequencer(addon, keymap_data):
    taken = {}
    for name, props, content in _blender_keymaps(keymap_data):
        if props.get("space_type") != "SEQUENCE_EDITOR" and name not in WINDOW_WIDE:
            continue
        for idname, event, _props in content["items"]:
            if isinstance(event, dict) and event.get("type"):
                combo = (event["type"], bool(event.get("ctrl") or event.get("any")),
                         bool(event.get("shift") or event.get("any")), bool(event.get("alt") or event.get("any")),
                         bool(event.get("oskey") or event.get("any")))
                taken.setdefault(combo, []).append(f"{name}: {idname}")
    assert len(taken) > 100, "the keymap data was not read"
    assert ("K", False, False, False, False) in taken or ("K", False, True, False, False) in taken  # split strips
    for _idname, key in addon.keymaps.SHORTCUTS:
        assert (key, True, True, False, False) not in taken, taken[(key, True, True, False, False)]
