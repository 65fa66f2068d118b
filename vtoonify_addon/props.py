"""Per-scene job options (the panel's fields) and per-window progress state."""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import engine_client, engines
from .core.job_settings import MAX_FACES_DEFAULT, MAX_FACES_LIMIT, StylizeOptions
from .core.style_choices import style_items
from .core.style_migration import LEGACY_KEY, style_to_keep

STYLES = engine_client.shared_catalog().STYLE_FAMILIES
"""Every official family: the Style menu's entries while no engine has answered ``capabilities``."""

_STYLE_ITEMS: dict[tuple, list] = {}
"""Every Style item list handed to Blender, kept alive here: Blender keeps pointers to the strings of
an items callback's result and crashes (or shows garbage) once Python frees them."""


def _style_enum_items(settings) -> list:
    """The Style menu for ``settings``: installed families of the last engine reply, else the catalog,
    plus the chosen style when it is not among them. Numbered by position (get/set below use it)."""
    status = engines.last_status()
    installed = status.installed if status is not None and status.running else None
    not_ready = status.not_ready if status is not None and status.running else ()
    items = style_items(installed, STYLES, chosen_style(settings) if settings is not None else "", not_ready)
    numbered = tuple((ident, label, desc, index) for index, (ident, label, desc) in enumerate(items))
    return _STYLE_ITEMS.setdefault(numbered, list(numbered))


def _style_items_callback(self, _context):
    return _style_enum_items(self)


def chosen_style(settings) -> str:
    """The scene's style: ``style_name``, or in a .blend saved before it existed the old Style enum's
    value (read only: drawing may not write; ``migrate_legacy_style`` stores it on load)."""
    return style_to_keep(settings.is_property_set("style_name"), settings.style_name,
                         settings.get(LEGACY_KEY), STYLES)


def migrate_legacy_style(settings) -> bool:
    """Store an old file's Style choice in ``style_name`` and drop the old value; True when it did."""
    if settings.get(LEGACY_KEY) is None:
        return False
    settings.style_name = chosen_style(settings)
    del settings[LEGACY_KEY]
    return True


@persistent
def migrate_loaded_file(_filepath="") -> None:
    """``load_post`` handler: every scene of the file just opened keeps the style it was saved with."""
    for scene in bpy.data.scenes:
        settings = getattr(scene, "vtoonify", None)
        if settings is not None:
            migrate_legacy_style(settings)


def _get_style(self) -> int:
    chosen = chosen_style(self)
    for ident, _label, _desc, number in _style_enum_items(self):
        if ident == chosen:
            return number
    return 0


def _set_style(self, number: int) -> None:
    for ident, _label, _desc, item_number in _style_enum_items(self):
        if item_number == number:
            self.style_name = ident
            return


class VToonifySceneSettings(bpy.types.PropertyGroup):
    backend: EnumProperty(
        name="Backend", default="auto",
        items=(("auto", "Auto", "VToonify when its model files are installed, else Classic"),
               ("vtoonify", "VToonify", "The neural VToonify-D/T models (needs the official files)"),
               ("classic", "Classic", "Image-processing toon look, needs no model files")),
        description="Which renderer the engine uses")
    style_name: StringProperty(name="Style Name", default="cartoon", options={"HIDDEN"},
                               description="The chosen style family (kept even when the engine lacks it)")
    style: EnumProperty(name="Style", items=_style_items_callback, get=_get_style, set=_set_style,
                        description="Style family the engine has installed (official or trained with "
                                    "'engine train'), named as its model folder")
    style_id: IntProperty(name="Style ID", default=26, min=0, description="Exemplar index in the style family")
    degree: FloatProperty(name="Degree", default=0.5, min=0.0, max=1.0,
                          description="Structure degree: 0 keeps the face, 1 gives the full style")
    color_transfer: BoolProperty(name="Colour Transfer", default=False,
                                 description="Take the exemplar's colours too, not only its structure")
    mattes: BoolProperty(name="Mattes", default=False,
                         description="Also write face-parsing mattes as muted strips stacked right above "
                                     "the result")
    cryptomatte: BoolProperty(name="Cryptomatte", default=False,
                              description="Also write the mattes as Cryptomatte layers (CryptoFace, objects "
                                          "face/<class>) into the EXR frames, for picking in the compositor. "
                                          "Needs Mattes and the EXR format (add-on preferences)")
    faces: EnumProperty(
        name="Faces", default="one",
        items=(("one", "One", "The face the official VToonify picks (the last one dlib finds)"),
               ("all", "All", "Every face of the shot, each tracked with its own crop, style code and mattes "
                              "(Plate output only)")),
        description="Which faces of the shot are stylized")
    max_faces: IntProperty(name="At Most", default=MAX_FACES_DEFAULT, min=1, max=MAX_FACES_LIMIT,
                           description="With Faces All: at most this many faces are stylized, those seen most "
                                       f"often in the shot (1 to {MAX_FACES_LIMIT}; each face costs one "
                                       "network's memory)")
    follow_faces: BoolProperty(name="Crops Follow the Faces", default=False,
                               description="Each face's crop follows it over the shot instead of staying where "
                                           "the face was first seen. The analysis then runs dlib on every "
                                           "frame (about 1 s of CPU per HD frame, before the first frame "
                                           "renders); see docs/FACES.md")
    group_meta: BoolProperty(name="Group in Meta Strip", default=False,
                             description="Lay the result and its matte strips in one meta strip, so they move, "
                                         "trim and mute as one (Tab opens it). Registration is unchanged")
    output_space: EnumProperty(
        name="Output Space", default="plate",
        items=(("plate", "Plate", "Stylized face placed back over the full frame"),
               ("crop", "Crop", "The stylized face crop only")),
        description="Where the stylized face lands")

    def options(self, output_format: str, mattes_default: bool, models_dir: str) -> StylizeOptions:
        return StylizeOptions(backend=self.backend, style=chosen_style(self), style_id=self.style_id,
                              degree=self.degree, color_transfer=self.color_transfer,
                              format=output_format, mattes=self.mattes or mattes_default,
                              cryptomatte=self.cryptomatte, faces=self.faces, max_faces=self.max_faces,
                              follow_faces=self.follow_faces,
                              output_space=self.output_space, models_dir=models_dir or None)


def register_properties() -> None:
    bpy.types.Scene.vtoonify = PointerProperty(type=VToonifySceneSettings)
    bpy.app.handlers.load_post.append(migrate_loaded_file)
    wm = bpy.types.WindowManager
    wm.vtoonify_running = BoolProperty(default=False, options={"SKIP_SAVE"})
    wm.vtoonify_cancel_requested = BoolProperty(default=False, options={"SKIP_SAVE"})
    wm.vtoonify_progress = FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    wm.vtoonify_status = StringProperty(default="", options={"SKIP_SAVE"})
    wm.vtoonify_done = IntProperty(default=0, options={"SKIP_SAVE"})
    wm.vtoonify_total = IntProperty(default=0, options={"SKIP_SAVE"})
    wm.vtoonify_phase = StringProperty(default="", options={"SKIP_SAVE"},
                                       description="What the progress counts: analysis (face search) or render")
    wm.vtoonify_notes = StringProperty(default="", options={"SKIP_SAVE"},
                                       description="What the last render reported: fallback backend, warnings")


def unregister_properties() -> None:
    if migrate_loaded_file in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(migrate_loaded_file)
    for owner, name in ((bpy.types.Scene, "vtoonify"), (bpy.types.WindowManager, "vtoonify_running"),
                        (bpy.types.WindowManager, "vtoonify_cancel_requested"),
                        (bpy.types.WindowManager, "vtoonify_progress"),
                        (bpy.types.WindowManager, "vtoonify_status"),
                        (bpy.types.WindowManager, "vtoonify_done"), (bpy.types.WindowManager, "vtoonify_total"),
                        (bpy.types.WindowManager, "vtoonify_phase"),
                        (bpy.types.WindowManager, "vtoonify_notes")):
        if hasattr(owner, name):
            delattr(owner, name)
