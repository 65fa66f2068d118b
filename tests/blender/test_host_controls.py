"""The add-on as a user drives it: Strip menu / F3 entries, greyed-out reasons, Esc, the Cryptomatte
option, the idle-timeout preference, the result group, and an old .blend's Style choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout, prefs_proxy  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]
HERE = Path(__file__).resolve().parent
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", HERE.parents[1] / ".venv" / "bin" / "python"))


def _module(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["_"])


def test_strip_menu_and_context_menu_offer_the_operators(addon):
    for menu in ("SEQUENCER_MT_strip", "SEQUENCER_MT_context_menu"):
        log: list = []
        for draw in getattr(bpy.types, menu)._dyn_ui_initialize():  # the functions add-ons appended
            if getattr(draw, "__module__", "").startswith(addon.__name__):
                draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        assert ("operator", "sequencer.vtoonify_stylize") in log, menu
        assert ("operator", "sequencer.vtoonify_preview") in log, menu
        if menu == "SEQUENCER_MT_strip":  # Cancel and the engine are in the header's Strip menu (and F3)
            assert ("operator", "sequencer.vtoonify_cancel") in log
            assert ("menu", "SEQUENCER_MT_vtoonify_engine") in log
    log = []
    bpy.types.SEQUENCER_MT_vtoonify_engine.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    assert [n for kind, n in log if kind == "operator"] == ["sequencer.vtoonify_engine_start",
                                                            "sequencer.vtoonify_engine_stop",
                                                            "sequencer.vtoonify_engine_refresh"]
    # F3 lists menu entries by their labels: every one names the add-on ("Start" alone would not)
    assert bpy.ops.sequencer.vtoonify_stylize.get_rna_type().name == "Stylize with VToonify"
    for cls in addon.classes:
        if issubclass(cls, bpy.types.Operator):
            assert "VToonify" in cls.bl_label, cls.bl_idname
    assert "Esc" in bpy.ops.sequencer.vtoonify_stylize.get_rna_type().description


def test_greyed_out_stylize_says_why(addon, prefs, trimmed_scene, tmp_path, media_dir):
    scene, source = trimmed_scene
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    prefs.auto_start, prefs.connection_file = True, ""
    editor.active_strip = None
    with pytest.raises(RuntimeError, match="No active strip"):
        bpy.ops.sequencer.vtoonify_stylize()
    other = strips.new_scene("other", bpy.data.scenes.new("vtoonify_other"), 5, 101)  # no audio needed (bpy 4.2)
    editor.active_strip = other
    with pytest.raises(RuntimeError, match="scene strip: select a movie, image or meta strip"):
        bpy.ops.sequencer.vtoonify_stylize()
    editor.active_strip = source
    prefs.auto_start, prefs.connection_file = False, str(tmp_path / "absent.json")
    with pytest.raises(RuntimeError, match="engine is not running and Auto-start is off"):
        bpy.ops.sequencer.vtoonify_preview()
    wm = bpy.context.window_manager
    prefs.auto_start = True
    wm.vtoonify_running = True
    try:
        with pytest.raises(RuntimeError, match=r"render is running.*Esc"):
            bpy.ops.sequencer.vtoonify_stylize()
    finally:
        wm.vtoonify_running = False
    assert bpy.ops.sequencer.vtoonify_stylize.poll()


class _Session:
    phase = "running"

    def __init__(self):
        self.cancelled = 0

    def cancel(self):
        self.cancelled += 1


def test_esc_cancels_the_running_render_other_keys_pass(addon, esc_events):
    """The modal handler's event rule, on the real operator class, window and window manager: Esc
    over the Sequencer cancels; a stray Esc elsewhere (3D viewport, no pointer) passes on."""
    op_class = bpy.types.SEQUENCER_OT_vtoonify_stylize
    shown = []
    fake = SimpleNamespace(_session=_Session(), _show_progress=lambda context, phase: shown.append(phase))
    wm = bpy.context.window_manager
    try:
        key = SimpleNamespace(type="A", value="PRESS")
        assert op_class.modal(fake, bpy.context, key) == {"PASS_THROUGH"}
        assert fake._session.cancelled == 0 and not wm.vtoonify_cancel_requested
        over_sequencer, over_viewport = esc_events
        for stray in (over_viewport, SimpleNamespace(type="ESC", value="PRESS")):
            assert op_class.modal(fake, bpy.context, stray) == {"PASS_THROUGH"}  # the viewport's Esc
            assert fake._session.cancelled == 0 and not wm.vtoonify_cancel_requested
        esc = over_sequencer
        assert op_class.modal(fake, bpy.context, esc) == {"RUNNING_MODAL"}  # consumed: nothing else reacts
        assert fake._session.cancelled == 1 and wm.vtoonify_cancel_requested and shown == ["running"]
    finally:
        wm.vtoonify_cancel_requested = False


def test_cryptomatte_option_is_drawn_under_mattes_and_sent(addon, prefs, trimmed_scene):
    scene, source = trimmed_scene
    settings = scene.vtoonify
    settings.mattes, settings.cryptomatte = False, True
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    props = [n for kind, n in log if kind == "prop"]
    assert props.index("cryptomatte") == props.index("mattes") + 1
    assert ("disabled", "cryptomatte") in log  # greyed until Mattes is on
    settings.mattes = True
    prefs.output_format = "png"
    log.clear()
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    assert "Cryptomatte needs EXR" in " ".join(text for kind, text in log if kind == "label")  # wrapped lines
    operators = _module(addon, "operators")
    with pytest.raises(ValueError, match="EXR"):
        operators.job_options(bpy.context, scene, source)
    prefs.output_format = "exr"
    options = operators.job_options(bpy.context, scene, source)
    assert options.cryptomatte and options.mattes and options.format == "exr"


def test_idle_timeout_preference_reaches_the_engine_it_starts(addon, prefs, client_api, repo_root, tmp_path):
    assert prefs.idle_timeout_min == 15.0  # the default: 15 minutes
    assert prefs.launch_settings().idle_timeout_s == 900.0
    log: list = []
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    assert ("prop", "idle_timeout_min") in log
    prefs.idle_timeout_min = 0.05  # 3 s
    prefs.engine_python = str(ENGINE_PYTHON)
    prefs.engine_root, prefs.engine_args = str(repo_root), "--device cpu"
    prefs.connection_file, prefs.auto_start = str(tmp_path / "idle.json"), True
    link = _module(addon, "core.engine_link")
    started = []
    client = link.connect(prefs.launch_settings(), client_api, on_start=lambda proc, info: started.append(proc))
    proc = started[0]
    try:
        with open(f"/proc/{proc.pid}/cmdline", "rb") as handle:
            words = handle.read().split(b"\0")
        assert words[words.index(b"--idle-timeout") + 1] == b"3"
        client.close()
        assert proc.wait(timeout=60) == 0  # exits by itself once idle, cleanly
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


OPEN_OLD_FILE = """
import sys, bpy
assert bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
bpy.ops.wm.open_mainfile(filepath=sys.argv[2])  # load_post runs the add-on's migration
settings = bpy.data.scenes["old_shot"].vtoonify
print("STYLE", settings.style_name, settings.get("style"), settings.is_property_set("style_name"), flush=True)
"""


def test_old_blend_keeps_its_style(addon, addon_zip, tmp_path):
    old = tmp_path / "old.blend"
    env = {k: v for k, v in os.environ.items() if k != "BLENDER_USER_RESOURCES"}
    proc = subprocess.run([sys.executable, str(HERE / "make_old_blend.py"), str(old), "pixar"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # opened as a user opens it, in a Blender with the add-on installed: migrated on load
    opened = subprocess.run([sys.executable, "-c", OPEN_OLD_FILE, str(addon_zip), str(old)],
                            env=dict(env, BLENDER_USER_RESOURCES=str(tmp_path / "user")), capture_output=True,
                            text=True, timeout=120, check=False)
    assert "STYLE pixar None True" in opened.stdout, opened.stdout[-2000:] + opened.stderr[-2000:]
    with bpy.data.libraries.load(str(old), link=False) as (_src, dst):
        dst.scenes = ["old_shot"]
    scene = bpy.data.scenes["old_shot"]
    try:
        settings = scene.vtoonify
        assert not settings.is_property_set("style_name") and settings.get("style") is not None
        # read before any migration ran (appended data, or a draw): the old choice, not the default
        assert settings.style == "pixar"
        assert settings.options("png", False, "").style == "pixar"
        assert settings.degree == pytest.approx(0.8)
        # options added later come back as their defaults
        assert (settings.max_faces, settings.follow_faces) == (8, False)
        assert settings.options("png", False, "").max_faces == 8
        props = _module(addon, "props")
        props.migrate_loaded_file()  # what load_post runs when such a file is opened
        assert settings.style_name == "pixar" and settings.get("style") is None
        assert props.migrate_loaded_file in bpy.app.handlers.load_post
        settings.style = "arcane"  # the artist's next pick is kept as usual
        assert settings.style_name == "arcane"
    finally:
        bpy.data.scenes.remove(scene)


def _panel_log() -> list:
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    return log


def test_faces_choice_is_drawn_and_sent(addon, prefs, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    log = _panel_log()
    assert ("prop", "faces") in log and scene.vtoonify.faces == "one"
    # "at most" is greyed with the reason while Faces is One; following crops are offered either way
    assert ("disabled", "max_faces") in log and ("label", "At Most: used only with Faces All") in log
    assert ("prop", "follow_faces") in log and ("disabled", "follow_faces") not in log
    assert (scene.vtoonify.max_faces, scene.vtoonify.follow_faces) == (8, False)
    scene.vtoonify.faces = "all"
    log = _panel_log()
    assert ("prop", "max_faces") in log and ("disabled", "max_faces") not in log
    with pytest.raises(TypeError):  # Blender clamps a typed value; a wrong type is refused
        scene.vtoonify.max_faces = "3"
    scene.vtoonify.max_faces = 99
    assert scene.vtoonify.max_faces == 32  # the engine's bound
    scene.vtoonify.max_faces, scene.vtoonify.follow_faces = 3, True
    operators = _module(addon, "operators")
    prefs.output_format, prefs.output_dir = "png", str(tmp_path / "renders")
    options = operators.job_options(bpy.context, scene, source)
    assert (options.faces, options.max_faces, options.follow_faces) == ("all", 3, True)
    # the settings Stylize submits to the engine
    settings = _module(addon, "stylize").prepare_job(scene, source, options, prefs.output_dir).settings
    assert (settings["faces"], settings["max_faces"], settings["follow_faces"]) == ("all", 3, True)
    scene.vtoonify.faces = "one"
    settings = _module(addon, "stylize").prepare_job(scene, source, operators.job_options(bpy.context, scene, source),
                                                     prefs.output_dir).settings
    assert "max_faces" not in settings and settings["follow_faces"] is True
    scene.vtoonify.faces = "all"
    scene.vtoonify.output_space = "crop"
    with pytest.raises(ValueError, match="Output Space to Plate"):
        operators.job_options(bpy.context, scene, source)


def test_engine_line_turns_running_by_itself_when_an_engine_appears(addon, engine_prefs, engine, tmp_path):
    """The status watch the add-on's timer runs (in a UI session; background mode has no timers, so
    the test ticks the add-on's own watch as the timer would): the panel said "not running", an engine
    appears at the connection file, and the line says so without Refresh; nothing is auto-started."""
    import shutil
    import time

    operators, engines = _module(addon, "operators"), _module(addon, "engines")
    assert bpy.app.background and operators.start_status_watch() is None  # no panel to keep true here
    before = len(engines.current().running())
    engine_prefs.connection_file = str(tmp_path / "later.json")
    engine_prefs.auto_start = True  # the watch must not start one all the same
    engines.remember_status(None)
    watch = operators.StatusWatch(operators._watch_check, engines.last_status, operators._status_arrived,
                                  interval_s=0.3)

    def tick_until(done, limit_s=60.0):
        deadline = time.monotonic() + limit_s
        while not done():
            assert time.monotonic() < deadline, bpy.context.window_manager.vtoonify_status
            time.sleep(watch.tick())

    try:
        tick_until(lambda: engines.last_status() is not None)
        assert not engines.last_status().running
        assert "not running" in bpy.context.window_manager.vtoonify_status
        assert not (tmp_path / "later.json").exists() and len(engines.current().running()) == before  # none started
        shutil.copy(engine, tmp_path / "later.json")  # an engine started elsewhere writes its file
        tick_until(lambda: engines.last_status().running)
        assert "Auto uses" in bpy.context.window_manager.vtoonify_status
    finally:
        engines.remember_status(None)
