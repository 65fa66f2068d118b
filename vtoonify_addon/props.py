"""Per-scene job options (the panel's fields) and per-window progress state."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import engine_client
from .core.job_settings import StylizeOptions

STYLES = engine_client.shared_catalog().STYLE_FAMILIES
"""Every official family; the panel marks which ones the engine has installed (its capabilities)."""


class VToonifySceneSettings(bpy.types.PropertyGroup):
    backend: EnumProperty(
        name="Backend", default="auto",
        items=(("auto", "Auto", "VToonify when its model files are installed, else Classic"),
               ("vtoonify", "VToonify", "The neural VToonify-D/T models (needs the official files)"),
               ("classic", "Classic", "Image-processing toon look, needs no model files")),
        description="Which renderer the engine uses")
    style: EnumProperty(name="Style", default="cartoon", items=[(s, s.title(), f"{s} style family") for s in STYLES],
                        description="Style family, named as the official model folders")
    style_id: IntProperty(name="Style ID", default=26, min=0, description="Exemplar index in the style family")
    degree: FloatProperty(name="Degree", default=0.5, min=0.0, max=1.0,
                          description="Structure degree: 0 keeps the face, 1 gives the full style")
    color_transfer: BoolProperty(name="Colour Transfer", default=False,
                                 description="Take the exemplar's colours too, not only its structure")
    mattes: BoolProperty(name="Mattes", default=False,
                         description="Also write face-parsing mattes as muted strips above the result")
    output_space: EnumProperty(
        name="Output Space", default="plate",
        items=(("plate", "Plate", "Stylized face placed back over the full frame"),
               ("crop", "Crop", "The stylized face crop only")),
        description="Where the stylized face lands")

    def options(self, output_format: str, mattes_default: bool, models_dir: str) -> StylizeOptions:
        return StylizeOptions(backend=self.backend, style=self.style, style_id=self.style_id,
                              degree=self.degree, color_transfer=self.color_transfer,
                              format=output_format, mattes=self.mattes or mattes_default,
                              output_space=self.output_space, models_dir=models_dir or None)


def register_properties() -> None:
    bpy.types.Scene.vtoonify = PointerProperty(type=VToonifySceneSettings)
    wm = bpy.types.WindowManager
    wm.vtoonify_running = BoolProperty(default=False, options={"SKIP_SAVE"})
    wm.vtoonify_cancel_requested = BoolProperty(default=False, options={"SKIP_SAVE"})
    wm.vtoonify_progress = FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    wm.vtoonify_status = StringProperty(default="", options={"SKIP_SAVE"})
    wm.vtoonify_done = IntProperty(default=0, options={"SKIP_SAVE"})
    wm.vtoonify_total = IntProperty(default=0, options={"SKIP_SAVE"})
    wm.vtoonify_notes = StringProperty(default="", options={"SKIP_SAVE"},
                                       description="What the last render reported: fallback backend, warnings")


def unregister_properties() -> None:
    for owner, name in ((bpy.types.Scene, "vtoonify"), (bpy.types.WindowManager, "vtoonify_running"),
                        (bpy.types.WindowManager, "vtoonify_cancel_requested"),
                        (bpy.types.WindowManager, "vtoonify_progress"),
                        (bpy.types.WindowManager, "vtoonify_status"),
                        (bpy.types.WindowManager, "vtoonify_done"), (bpy.types.WindowManager, "vtoonify_total"),
                        (bpy.types.WindowManager, "vtoonify_notes")):
        if hasattr(owner, name):
            delattr(owner, name)
