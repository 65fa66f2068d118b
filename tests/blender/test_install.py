"""The built zip is a valid Blender extension that installs and enables in bpy."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = pytest.mark.blender


def _blender_ext(bpy) -> Path:
    return Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def test_zip_root_holds_manifest_and_package(addon_zip, repo_root):
    names = set(zipfile.ZipFile(addon_zip).namelist())
    assert "blender_manifest.toml" in names
    assert "__init__.py" in names and "core/frame_mapping.py" in names
    for copied in ("engine_client/client.py", "engine_client/protocol.py", "engine_client/errors.py",
                   "engine_client/connection.py", "engine_client/user_dirs.py"):
        assert copied in names, copied
    assert not any("__pycache__" in n or n.endswith(".gitignore") for n in names)
    manifest = tomllib.loads(zipfile.ZipFile(addon_zip).read("blender_manifest.toml").decode())
    assert addon_zip.name == f"vtoonify-{manifest['version']}.zip"


def test_zip_holds_nothing_platform_specific(addon_zip):
    """One zip for Windows, macOS and Linux: no platforms list in the manifest, no compiled file, no two
    names that are one on a case-insensitive disk, forward slashes, LF-only UTF-8 text."""
    with zipfile.ZipFile(addon_zip) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        texts = {n: archive.read(n) for n in names if n.endswith((".py", ".toml"))}
    assert "platforms" not in manifest and "wheels" not in manifest
    assert len({n.casefold() for n in names}) == len(names)
    assert not any("\\" in n or n.endswith((".so", ".pyd", ".dll", ".dylib", ".pyc")) for n in names)
    for name, data in texts.items():
        assert b"\r\n" not in data, name
        data.decode("utf-8")


def test_copied_client_matches_original_apart_from_imports(addon_zip, repo_root):
    text = zipfile.ZipFile(addon_zip).read("engine_client/protocol.py").decode()
    original = (repo_root / "engine" / "service" / "protocol.py").read_text()
    body = [ln for ln in text.splitlines()[1:] if "import" not in ln]
    assert body == [ln for ln in original.splitlines() if "import" not in ln]
    assert "from engine" not in text


def test_blender_ext_validates_zip(bpy_module, addon_zip):
    proc = subprocess.run([sys.executable, str(_blender_ext(bpy_module)), "validate", str(addon_zip)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_installed_and_enabled_with_operators_and_panel(bpy_module, addon):
    bpy = bpy_module
    assert addon.__file__.startswith(bpy.utils.user_resource("EXTENSIONS"))
    assert "user_default" in addon.__file__ and not addon.__file__.startswith(str(Path.home() / ".config"))
    for op in ("vtoonify_stylize", "vtoonify_cancel", "vtoonify_preview"):
        assert hasattr(bpy.ops.sequencer, op)
        assert getattr(bpy.ops.sequencer, op).get_rna_type().identifier.startswith("SEQUENCER_OT_")
    assert hasattr(bpy.types, "VTOON_PT_stylize")
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    assert prefs.output_dir == "//vtoonify/" and prefs.auto_start is True
    assert hasattr(bpy.types.Scene, "vtoonify")


def test_client_api_comes_from_the_copies(client_api, addon):
    assert client_api.EngineClient.__module__ == addon.__name__ + ".engine_client.client"
    assert client_api.read_connection_file is not None and client_api.start_engine is not None


def test_disable_unregisters_and_enable_restores(bpy_module, addon):
    bpy = bpy_module
    bpy.ops.preferences.addon_disable(module=addon.__name__)
    try:
        assert not hasattr(bpy.types, "VTOON_PT_stylize")
        assert not hasattr(bpy.types.Scene, "vtoonify")
        with pytest.raises(KeyError):
            bpy.ops.sequencer.vtoonify_stylize.get_rna_type()
    finally:
        bpy.ops.preferences.addon_enable(module=addon.__name__)
    assert hasattr(bpy.types, "VTOON_PT_stylize") and hasattr(bpy.types.Scene, "vtoonify")


def test_replies_arriving_after_disable_are_dropped_quietly(bpy_module, addon):
    """An engine status or preview requested just before the add-on was disabled still arrives on a
    ``bpy.app.timers`` callback (Blender keeps it): it must not fail on the add-on's removed properties."""
    import importlib
    from types import SimpleNamespace

    bpy = bpy_module
    operators = importlib.import_module(addon.__name__ + ".operators")
    status_mod = importlib.import_module(addon.__name__ + ".core.engine_status")
    bpy.ops.preferences.addon_disable(module=addon.__name__)
    try:
        operators._status_arrived(status_mod.EngineStatus(running=False, error="stopped"))
        operators._preview_arrived(SimpleNamespace(EngineError=RuntimeError), (1, (0, "Scene", None, 1, "plate")),
                                   SimpleNamespace(outcome=lambda: {"path": "/nonexistent.png"}))
        assert not hasattr(bpy.context.window_manager, "vtoonify_status")
    finally:
        bpy.ops.preferences.addon_enable(module=addon.__name__)
    assert addon.engines.last_status() is None  # nothing was kept for a panel that was gone


def _ours(bpy, addon) -> dict:
    """Everything the add-on hooks into Blender: app handlers, menu entries, add-on keymap items."""
    prefix = addon.__name__ + "."
    handlers = sorted(f"{name}:{fn.__module__}.{fn.__name__}" for name in dir(bpy.app.handlers)
                      if not name.startswith("_") and isinstance(getattr(bpy.app.handlers, name), list)
                      for fn in getattr(bpy.app.handlers, name) if getattr(fn, "__module__", "").startswith(prefix))
    menus = sorted(f"{menu}:{fn.__name__}" for menu in ("SEQUENCER_MT_strip", "SEQUENCER_MT_context_menu")
                   for fn in getattr(bpy.types, menu)._dyn_ui_initialize()
                   if getattr(fn, "__module__", "").startswith(prefix))
    keyconfig = bpy.context.window_manager.keyconfigs.addon
    keys = sorted(i.idname for km in (keyconfig.keymaps if keyconfig else ()) for i in km.keymap_items
                  if i.idname.startswith("sequencer.vtoonify_"))
    classes = sorted(n for n in dir(bpy.types) if n.startswith(("VTOON_", "SEQUENCER_MT_vtoonify")))
    for name in dir(bpy.ops.sequencer):
        if name.startswith("vtoonify_"):
            try:
                getattr(bpy.ops.sequencer, name).get_rna_type()
                classes.append(name)
            except KeyError:  # listed by bpy.ops, but no longer registered
                pass
    return {"handlers": handlers, "menus": menus, "keys": keys, "classes": classes}


def test_enable_disable_cycles_leave_nothing_behind(bpy_module, addon):
    """Disable, enable, three times: each disable removes every handler, menu entry, keymap item, class
    and property the add-on added (and its lifetime state), each enable adds each exactly once."""
    import importlib

    bpy = bpy_module
    enabled = _ours(bpy, addon)
    assert enabled["handlers"] and enabled["menus"] and enabled["classes"], enabled
    assert len(enabled["handlers"]) == len(set(enabled["handlers"]))
    for _ in range(3):
        bpy.ops.preferences.addon_disable(module=addon.__name__)
        try:
            assert _ours(bpy, addon) == {"handlers": [], "menus": [], "keys": [], "classes": []}
            assert not hasattr(bpy.types.WindowManager, "vtoonify_status")
            engines = importlib.import_module(addon.__name__ + ".engines")
            version_undo = importlib.import_module(addon.__name__ + ".version_undo")
            assert engines.current() is None and engines.drop_watch() is None and version_undo.current() is None
        finally:
            bpy.ops.preferences.addon_enable(module=addon.__name__)
        assert _ours(bpy, addon) == enabled
