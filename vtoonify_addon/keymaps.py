"""Default shortcuts over the Sequencer timeline: Ctrl+Shift+T stylizes the active strip, Ctrl+Shift+P
previews the playhead's frame (Esc cancels a render, in the operator itself).

Both combinations are unused in the Sequencer, and in the window-wide keymaps it also obeys, by
Blender's default and Industry Compatible keymaps of 4.2 and 5.0 (tests/blender/test_keymap.py reads
them). They live in the add-on keyconfig: Preferences > Keymap lists them under Sequencer to change or
turn off, and the menus show them next to their entries.
"""

from __future__ import annotations

import bpy

KEYMAP = ("Sequencer", "SEQUENCE_EDITOR")
"""(name, space type) of the timeline's keymap; the same in 4.2 and 5.0."""
SHORTCUTS = (("sequencer.vtoonify_stylize", "T"), ("sequencer.vtoonify_preview", "P"))
"""(operator, key), each with Ctrl+Shift."""

_added: list = []


def register() -> None:
    keyconfig = bpy.context.window_manager.keyconfigs.addon
    if keyconfig is None:  # some background sessions have no add-on keyconfig
        return
    keymap = keyconfig.keymaps.new(name=KEYMAP[0], space_type=KEYMAP[1])
    for idname, key in SHORTCUTS:
        _added.append((keymap, keymap.keymap_items.new(idname, key, "PRESS", ctrl=True, shift=True)))


def unregister() -> None:
    for keymap, item in _added:
        try:
            keymap.keymap_items.remove(item)
        except (ReferenceError, RuntimeError):  # the keyconfig went first (Blender quitting)
            pass
    _added.clear()
