"""Sequencer scaffolding shared by the Blender registration tests (bpy 4.2-5.0 spellings).

A scene made for one test and shown in the window (and as 5.0's sequencer scene), the strip
collections under either version's name, and a movie added the way an artist adds one with
Add > Movie and "Adjust Playback Rate" on (a strip Python's ``new_movie`` cannot make).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import bpy


def top_strips(container):
    """The strips directly in an editor or meta strip (``strips`` in 5.0, ``sequences`` in 4.2)."""
    return container.strips if hasattr(container, "strips") else container.sequences


def all_strips(editor) -> list:
    """Every strip, meta contents included."""
    return list(editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all)


def new_effect(strips, name: str, kind: str, channel: int, start: int, length: int, input1=None):
    """An effect strip, in this Blender's keywords (read from the RNA, not the version): the input is
    ``seq1`` in 4.2-4.4 and ``input1`` from 4.5; the span ``frame_end`` in 4.2-4.5, ``length`` in 5.0."""
    takes = strips.bl_rna.functions["new_effect"].parameters
    span = {"length": length} if "length" in takes else {"frame_end": start + length}
    if input1 is not None:
        span["input1" if "input1" in takes else "seq1"] = input1
    return strips.new_effect(name, kind, channel, start, **span)


@contextlib.contextmanager
def shown_scene(name: str, width: int, height: int, **image_settings):
    """A fresh ``width`` x ``height``, 24 fps scene with a sequence editor, shown in the window while
    the block runs (the render settings a frame-accurate comparison needs), then removed."""
    scene = bpy.data.scenes.new(name)
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "PNG"
    for key, value in image_settings.items():
        setattr(scene.render.image_settings, key, value)
    scene.sequence_editor_create()
    window = bpy.context.window_manager.windows[0]
    previous, workspace = window.scene.name, window.workspace
    previous_vse = getattr(workspace, "sequencer_scene", None)
    window.scene = scene
    if hasattr(workspace, "sequencer_scene"):
        workspace.sequencer_scene = scene
    try:
        yield scene
    finally:
        window = bpy.context.window_manager.windows[0]
        window.scene = bpy.data.scenes[previous]
        if hasattr(workspace, "sequencer_scene"):
            workspace.sequencer_scene = previous_vse
        bpy.data.scenes.remove(bpy.data.scenes[name])


def add_rate_adjusted_movie(scene, path: Path, channel: int, frame_start: int, **options):
    """Add > Movie with "Adjust Playback Rate" on, through the operator in a sequencer area."""
    window = bpy.context.window_manager.windows[0]
    area = window.screen.areas[0]
    old_type = area.type
    area.type = "SEQUENCE_EDITOR"
    try:
        with bpy.context.temp_override(window=window, area=area, scene=scene):
            assert bpy.ops.sequencer.movie_strip_add(
                filepath=str(path), directory=str(path.parent) + os.sep, files=[{"name": path.name}],
                frame_start=frame_start, channel=channel, adjust_playback_rate=True, use_framerate=False,
                sound=False, **options) == {"FINISHED"}
    finally:
        area.type = old_type
    strip = next(s for s in top_strips(scene.sequence_editor) if s.type == "MOVIE")
    assert not strip.use_proxy  # no proxy job was queued (conftest: proxy setup Manual)
    return strip
