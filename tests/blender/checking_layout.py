"""A stand-in for Blender's UILayout, shared by the Blender tests that run the add-on's draw code.

UILayout cannot be built from Python, so draw functions get this instead: it checks every property,
operator and menu name against the registered RNA (a typo fails the test, as it would print an error
in Blender), and each icon name against the icons of the running Blender (a name it lacks raises in
its UI), and logs what was drawn, for the tests to read (``labels``: each label's text and icon).
"""

from __future__ import annotations


def _check_icon(kwargs) -> str:
    import bpy

    icon = kwargs.get("icon", "NONE")
    icons = bpy.types.UILayout.bl_rna.functions["prop"].parameters["icon"].enum_items
    assert icon in icons, f"no icon {icon!r} in Blender {bpy.app.version_string}"
    return icon


class CheckingLayout:
    """Stands in for UILayout (not constructible from Python) and checks each name it is given."""

    def __init__(self, log: list, labels: list | None = None):
        self.log, self.enabled = log, True
        self.labels = [] if labels is None else labels

    def _child(self, *args, **kwargs):
        child = CheckingLayout(self.log, self.labels)
        child.enabled = self.enabled
        return child

    def separator(self, **kwargs):
        self.log.append(("separator", ""))

    row = column = box = _child

    def label(self, text="", icon="NONE"):
        self.labels.append((text, _check_icon({"icon": icon})))
        self.log.append(("label", text))

    def prop(self, data, name, **kwargs):
        _check_icon(kwargs)
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self.log.append(("prop", name))
        if not self.enabled:
            self.log.append(("disabled", name))

    def operator(self, idname, **kwargs):
        import bpy

        _check_icon(kwargs)
        category, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, category), name).get_rna_type()  # KeyError when not registered
        self.log.append(("operator", idname))
        return _OperatorProps(rna)

    def menu(self, idname, **kwargs):
        import bpy

        _check_icon(kwargs)
        assert hasattr(bpy.types, idname), f"no menu {idname!r} is registered"
        self.log.append(("menu", idname))

    def progress(self, factor=0.0, type="BAR", text=""):
        assert 0.0 <= factor <= 1.0 and type in ("BAR", "RING")
        self.log.append(("progress", text))


class _OperatorProps:
    """What ``layout.operator`` returns: setting a property it lacks is an error, as in Blender."""

    def __init__(self, rna):
        object.__setattr__(self, "_rna", rna)

    def __setattr__(self, name, value):
        assert name in self._rna.properties, f"operator has no property {name!r}"


def prefs_proxy(prefs, log):
    """``self`` for AddonPreferences.draw: the real preferences (RNA checked) plus a checking layout."""

    class Proxy:
        layout = CheckingLayout(log)

        def __getattr__(self, name):
            return getattr(prefs, name)

    return Proxy()
