"""Plain-Python logic of the add-on (no bpy): frame mapping, job settings, result planning.

Everything Blender-specific reads strip attributes into the small dataclasses here, so the maths
is tested in ordinary pytest without Blender.
"""
