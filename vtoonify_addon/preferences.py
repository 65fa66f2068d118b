"""Add-on preferences: where the engine lives and the defaults for every job."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from .compat import blend_relative_path_options
from .core.engine_link import EngineLaunchSettings, engine_root_problem, python_problem
from .core.output_versions import output_root_problem
from .text_room import Room, lines

_RELATIVE = blend_relative_path_options()


class VToonifyPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_python: StringProperty(name="Engine Python", subtype="FILE_PATH", default="", options=_RELATIVE,
                                  description="Python of the engine's venv, used to auto-start it")
    engine_args: StringProperty(name="Extra Arguments", default="",
                                description="Extra arguments for `engine serve`, e.g. --device cpu")
    engine_root: StringProperty(name="Engine Folder", subtype="DIR_PATH", default="", options=_RELATIVE,
                                description="Folder holding the engine package when it is not installed")
    connection_file: StringProperty(name="Connection File", subtype="FILE_PATH", default="", options=_RELATIVE,
                                    description="Engine connection file; empty uses the engine's default")
    auto_start: BoolProperty(name="Auto-start Engine", default=True,
                             description="Start the engine when none is running. An engine started this way "
                                         "belongs to the add-on: it is shut down when the add-on is disabled "
                                         "or Blender quits")
    idle_timeout_min: FloatProperty(name="Idle Timeout (min)", default=15.0, min=0.0, soft_max=240.0, step=100,
                                    precision=1,
                                    description="An engine the add-on starts exits after this many minutes with "
                                                "no job, preview or client (0 = only when Blender quits or the "
                                                "add-on is disabled). Sent as `engine serve --idle-timeout`")
    models_dir: StringProperty(name="Models Folder", subtype="DIR_PATH", default="", options=_RELATIVE,
                               description="Folder with the VToonify model files; empty = engine default")
    output_dir: StringProperty(name="Output Folder", subtype="DIR_PATH", default="//vtoonify/", options=_RELATIVE,
                               description="Where rendered sequences go (// = beside the .blend)")
    output_format: EnumProperty(name="Format", default="png",
                                items=(("exr", "EXR", "Half-float scene-linear OpenEXR"),
                                       ("png", "PNG", "8-bit sRGB PNG")),
                                description="File format of the rendered frames")
    mattes: BoolProperty(name="Always Write Mattes", default=False,
                         description="Write face mattes for every job, whatever the panel says")

    def launch_settings(self) -> EngineLaunchSettings:
        return EngineLaunchSettings(
            python_exe=bpy.path.abspath(self.engine_python) if self.engine_python else "",
            extra_args=self.engine_args,
            engine_root=bpy.path.abspath(self.engine_root) if self.engine_root else "",
            connection_file=bpy.path.abspath(self.connection_file) if self.connection_file else "",
            auto_start=self.auto_start,
            idle_timeout_s=round(60.0 * self.idle_timeout_min, 3),
            models_dir=bpy.path.abspath(self.models_dir) if self.models_dir else "")

    def draw(self, context):
        layout, width = self.layout, Room(context, default_width=640)
        box = layout.box()
        box.label(text="Engine")
        for name in ("engine_python", "engine_args", "engine_root", "connection_file", "auto_start",
                     "idle_timeout_min", "models_dir"):
            box.prop(self, name)
            if name == "engine_python" and self.engine_python:
                self._draw_problem(box, python_problem(bpy.path.abspath(self.engine_python)), width)
            elif name == "engine_root" and self.engine_root:
                self._draw_problem(box, engine_root_problem(bpy.path.abspath(self.engine_root)), width)
        lines(box, "An auto-started engine stops when the add-on is disabled or Blender quits", width, icon="INFO")
        lines(box, "The engine's token is read from the connection file (owner-only, new each start); "
                   "it is never stored in preferences or .blend files", width, icon="LOCKED")
        self._draw_engine_status(layout.box(), width)
        box = layout.box()
        box.label(text="Output")
        for name in ("output_dir", "output_format", "mattes"):
            box.prop(self, name)
            if name == "output_dir" and self.output_dir and not (self.output_dir.startswith("//")
                                                                 and not bpy.data.filepath):
                self._draw_problem(box, output_root_problem(os.path.abspath(bpy.path.abspath(self.output_dir))),
                                   width)


    @staticmethod
    def _draw_engine_status(box, width) -> None:
        """The engine's state as the last Refresh / Start found it, with the buttons that change it
        (the same operators as the Sequencer sidebar's engine row)."""
        from . import engines

        status = engines.last_status()
        text = status.summary() if status is not None else "Engine: not asked yet (Refresh asks it)"
        lines(box, text, width, icon="CHECKMARK" if status is not None and status.running else "QUESTION")
        row = box.row(align=True)
        row.operator("sequencer.vtoonify_engine_refresh", icon="FILE_REFRESH", text="Refresh")
        row.operator("sequencer.vtoonify_engine_start", icon="PLAY", text="Start")
        row.operator("sequencer.vtoonify_engine_stop", icon="X", text="Stop")

    @staticmethod
    def _draw_problem(layout, problem, width) -> None:
        """A wrong setting says so under its field, with the fix, before any render fails on it."""
        if problem is None:
            return
        col = layout.column(align=True)
        col.alert = True
        lines(col, problem[0].removeprefix("cannot auto-start the engine: "), width, icon="ERROR")
        lines(col, f"Fix: {problem[1]}", width, icon="BLANK1")


def get_preferences(context) -> VToonifyPreferences:
    return context.preferences.addons[__package__].preferences
