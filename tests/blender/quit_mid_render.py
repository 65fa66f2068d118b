"""Child process of test_quit_mid_render.py: start a modal render, then quit the way Blender does
(the running operator's ``cancel``, then interpreter exit) while it renders.

argv: addon zip, movie, output folder, connection file, engine python (empty: the engine behind the
connection file is someone else's, nothing is auto-started), engine root, user folder.
"""

from __future__ import annotations

import os
import sys
import time

os.environ["BLENDER_USER_RESOURCES"] = sys.argv[7]  # read once, when bpy is imported
import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stand_in import stand_in_operator

zip_path, movie, out, conn, engine_python, engine_root = sys.argv[1:7]
bpy.context.preferences.system.sequencer_proxy_setup = "MANUAL"
assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
addon = sys.modules["bl_ext.user_default.vtoonify"]
prefs = bpy.context.preferences.addons[addon.__name__].preferences
prefs.auto_start, prefs.engine_python, prefs.engine_root = bool(engine_python), engine_python, engine_root
prefs.connection_file, prefs.engine_args, prefs.output_dir, prefs.output_format = conn, "--device cpu", out, "png"
scene = bpy.data.scenes.new("quit_test")
editor = scene.sequence_editor_create()
strips = editor.strips if hasattr(editor, "strips") else editor.sequences
editor.active_strip = strips.new_movie("plate", movie, 2, 1)
scene.vtoonify.backend = "classic"
bpy.context.window_manager.windows[0].scene = scene
reports: list = []
op = stand_in_operator(addon, reports)
assert op._setup_session(bpy.context) is None, reports
timer = type("Timer", (), {"type": "TIMER", "value": "NOTHING"})()
deadline = time.monotonic() + 150
while not (op._session.job and op._session.job.tracker.written) and time.monotonic() < deadline:
    assert op.modal(bpy.context, timer) == {"PASS_THROUGH"}, reports
    time.sleep(0.05)
assert op._session.job.tracker.written and not op._session.job.tracker.finished
started = addon.engines.current().running()
print("ENGINE_PID", started[0].pid if started else 0, flush=True)
print("JOB", op._session.job.tracker.job, flush=True)
print("FOLDER", op._prepared.output_dir, flush=True)
op.cancel(bpy.context)  # Blender quitting: it drops the running modal operator first...
sys.exit(0)  # ...then disables the add-on and ends Python
