"""Write a .blend as add-on versions before ``style_name`` saved it: ``python make_old_blend.py OUT STYLE``.

Runs in a fresh bpy process with that version's Style property (a static enum over the official
families, stored as the item's index) registered under the add-on's property name ``vtoonify``.
"""

import sys

import bpy

FAMILIES = ("cartoon", "caricature", "arcane", "comic", "pixar", "illustration")


class OldSettings(bpy.types.PropertyGroup):
    style: bpy.props.EnumProperty(name="Style", default="cartoon", items=[(s, s.title(), "") for s in FAMILIES])
    degree: bpy.props.FloatProperty(default=0.5)


def main(out: str, style: str) -> None:
    bpy.utils.register_class(OldSettings)
    bpy.types.Scene.vtoonify = bpy.props.PointerProperty(type=OldSettings)
    scene = bpy.data.scenes.new("old_shot")
    scene.vtoonify.style = style
    scene.vtoonify.degree = 0.8
    scene.use_fake_user = True
    bpy.ops.wm.save_as_mainfile(filepath=out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
