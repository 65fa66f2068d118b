"""Blender 4.2-5.0 differences in one place (Strip vs Sequence naming).

5.0 renamed ``SequenceEditor.sequences``/``sequences_all`` to ``strips``/``strips_all``; 4.x has
only the old names. Everything else reads strips through these helpers.
"""

from __future__ import annotations


def top_level_strips(sequence_editor):
    """The collection with ``new_image``/``new_movie``/``remove`` (top level of the editor)."""
    if hasattr(sequence_editor, "strips"):
        return sequence_editor.strips
    return sequence_editor.sequences


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
    """The F-curve collections (with ``new``/``remove``) of the scene's action, where strip animation
    lives: 4.2's ``action.fcurves``; 4.4+ layered actions keep them per slot in channelbags (5.0 has
    no ``action.fcurves`` at all)."""
    animation = scene.animation_data
    action = animation.action if animation is not None else None
    if action is None:
        return []
    if not hasattr(action, "layers"):
        return [action.fcurves]
    slot = getattr(animation, "action_slot", None)
    if slot is None:
        return []
    collections = []
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                collections.append(bag.fcurves)
    return collections
