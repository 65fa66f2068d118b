"""Blender 4.2-5.0 differences in one place (Strip vs Sequence naming).

4.4 added ``SequenceEditor.strips``/``strips_all`` beside ``sequences``/``sequences_all``, which 5.0
removed; 4.2 and 4.3 have only the old names. Everything else reads strips through these helpers.
"""

from __future__ import annotations


def top_level_strips(sequence_editor):
    """The collection with ``new_image``/``new_movie``/``remove`` (top level of the editor)."""
    if hasattr(sequence_editor, "strips"):
        return sequence_editor.strips
    return sequence_editor.sequences


def new_effect(strips, name: str, kind: str, channel: int, start: int, length: int, input1=None):
    """``strips.new_effect`` spelled as this Blender's RNA takes it, read from its parameters rather than
    guessed from the version: the input is ``seq1`` up to 4.4 and ``input1`` from 4.5; the span is
    ``frame_end`` up to 4.5 and ``length`` from 5.0 (a wrong keyword is a TypeError)."""
    takes = strips.bl_rna.functions["new_effect"].parameters
    span = {"length": length} if "length" in takes else {"frame_end": start + length}
    if input1 is not None:
        span["input1" if "input1" in takes else "seq1"] = input1
    return strips.new_effect(name, kind, channel, start, **span)


def all_strips(sequence_editor):
    """Every strip, including those inside meta strips."""
    if hasattr(sequence_editor, "strips_all"):
        return sequence_editor.strips_all
    return sequence_editor.sequences_all


def vse_scene(context):
    """The scene the Sequencer edits: 5.0's ``context.sequencer_scene`` (the workspace's sequencer
    scene, which may differ from the window's scene), else ``context.scene`` (4.2-4.5)."""
    return getattr(context, "sequencer_scene", None) or context.scene


def active_strip(scene):
    editor = scene.sequence_editor
    return editor.active_strip if editor is not None else None


def scene_fps(scene) -> float:
    return scene.render.fps / (scene.render.fps_base or 1.0)


def blend_relative_path_options() -> set[str]:
    """``options`` for path properties that accept ``//``: the flag exists (and is required to avoid a
    warning) only in Blender versions whose RNA has ``is_path_supports_blend_relative``."""
    import bpy

    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties:
        return {"PATH_SUPPORTS_BLEND_RELATIVE"}
    return set()


def meta_strips(meta):
    """The strips directly inside a meta strip (5.0 ``strips``, 4.x ``sequences``)."""
    return meta.strips if hasattr(meta, "strips") else meta.sequences


def container_of(sequence_editor, strip):
    """The collection holding ``strip``: its meta's strips, or the editor's top level."""
    parent = strip.parent_meta()
    return meta_strips(parent) if parent is not None else top_level_strips(sequence_editor)


def parent_metas(strip) -> list:
    """The metas around ``strip``, innermost first."""
    metas, parent = [], strip.parent_meta()
    while parent is not None:
        metas.append(parent)
        parent = parent.parent_meta()
    return metas


def scene_fcurve_collections(scene) -> list:
    """The F-curve collections (with ``new``/``remove``) where the scene's strip animation lives: its
    active action's, then those of the actions in its NLA strips (placement pushed down or stashed
    into NLA tracks still moves a strip), each once. 4.2 keeps F-curves in ``action.fcurves``; 4.4+
    layered actions keep them per slot in channelbags (5.0 has no ``action.fcurves`` at all). Linked
    (library) actions are left out: they cannot be edited."""
    animation = scene.animation_data
    if animation is None:
        return []
    found, seen = [], set()
    pairs = [(animation.action, getattr(animation, "action_slot", None))]
    pairs += [(strip.action, getattr(strip, "action_slot", None))
              for track in animation.nla_tracks for strip in _nla_strips(track.strips)]
    for action, slot in pairs:
        key = (action.as_pointer() if action is not None else 0, slot.handle if slot is not None else None)
        if action is None or action.library is not None or key in seen:
            continue
        seen.add(key)
        found += _action_fcurves(action, slot)
    return found


def _nla_strips(strips) -> list:
    """NLA strips with their meta strips' contents (a meta NLA strip holds strips, no action)."""
    out = []
    for strip in strips:
        out.append(strip)
        out += _nla_strips(strip.strips)
    return out


def _action_fcurves(action, slot) -> list:
    """The F-curve collections ``action`` holds for ``slot`` (4.2: its one ``fcurves``)."""
    if not hasattr(action, "layers"):
        return [action.fcurves]
    if slot is None:
        return []
    collections = []
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                collections.append(bag.fcurves)
    return collections
