"""Every module of ``vtoonify_addon.core`` imports without Blender: the add-on's logic stays testable
with plain Python, and bpy is touched only by the thin Blender-facing modules."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import vtoonify_addon.core as core


def test_every_core_module_imports_without_bpy():
    names = [m.name for m in pkgutil.iter_modules(core.__path__)]
    assert {"landing", "live_jobs", "availability", "frame_mapping"} <= set(names)
    for name in names:
        importlib.import_module(f"vtoonify_addon.core.{name}")  # ImportError here: it needs bpy
        tree = ast.parse((Path(core.__path__[0]) / f"{name}.py").read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"bpy", "mathutils", "bmesh"}, f"core/{name}.py imports Blender modules"
