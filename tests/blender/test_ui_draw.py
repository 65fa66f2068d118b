"""Panel and preferences draw code against the registered RNA (every prop and operator must exist)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

from checking_layout import CheckingLayout, prefs_proxy  # noqa: E402

pytestmark = pytest.mark.blender


def test_panel_draws_idle_and_running(addon, trimmed_scene):
    log: list = []
    panel = SimpleNamespace(layout=CheckingLayout(log))
    bpy.types.VTOON_PT_stylize.draw(panel, bpy.context)
    assert ("operator", "sequencer.vtoonify_stylize") in log and ("operator", "sequencer.vtoonify_preview") in log
    assert {"backend", "style", "style_id", "degree", "color_transfer", "mattes", "output_space"} <= {
        n for kind, n in log if kind == "prop"}
    wm = bpy.context.window_manager
    wm.vtoonify_running, wm.vtoonify_status = True, "VToonify: 3/21 frames"
    wm.vtoonify_progress, wm.vtoonify_done, wm.vtoonify_total = 3 / 21, 3, 21
    try:
        log.clear()
        bpy.types.VTOON_PT_stylize.draw(panel, bpy.context)
        assert ("operator", "sequencer.vtoonify_cancel") in log
        assert ("progress", "14%  (3/21)") in log or ("prop", "vtoonify_progress") in log
        assert ("label", "VToonify: 3/21 frames") in log
        assert bpy.ops.sequencer.vtoonify_cancel() == {"FINISHED"} and wm.vtoonify_cancel_requested
    finally:
        wm.vtoonify_running, wm.vtoonify_cancel_requested, wm.vtoonify_status = False, False, ""


def test_preferences_draw(addon):
    log: list = []
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    type(prefs).draw(prefs_proxy(prefs, log), bpy.context)
    assert {"engine_python", "engine_args", "connection_file", "auto_start", "models_dir", "output_dir",
            "output_format", "mattes"} <= {n for kind, n in log if kind == "prop"}
    # the engine can be started, stopped and asked from the preferences too, and the token is explained
    assert {"sequencer.vtoonify_engine_start", "sequencer.vtoonify_engine_stop",
            "sequencer.vtoonify_engine_refresh"} <= {n for kind, n in log if kind == "operator"}
    assert any("token" in text for kind, text in log if kind == "label")


def test_panel_shows_before_the_first_strip(addon):
    """A scene whose Sequencer has no strip yet (no sequence_editor): the tab still shows the engine row
    and says what to add, instead of vanishing."""
    scene = bpy.data.scenes.new("vtoonify_empty")
    window = bpy.context.window_manager.windows[0]
    previous = window.scene
    window.scene = scene
    workspace = window.workspace
    previous_vse = getattr(workspace, "sequencer_scene", None)
    if hasattr(workspace, "sequencer_scene"):
        workspace.sequencer_scene = scene
    try:
        assert scene.sequence_editor is None and bpy.types.VTOON_PT_stylize.poll(bpy.context)
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        assert ("operator", "sequencer.vtoonify_engine_start") in log
        assert any(text.startswith("Add a movie or image strip") for kind, text in log if kind == "label")
        with pytest.raises(RuntimeError, match="no Sequencer strips: add a movie or image strip"):
            bpy.ops.sequencer.vtoonify_stylize()  # greyed, with its reason
    finally:
        window.scene = previous
        if hasattr(workspace, "sequencer_scene"):
            workspace.sequencer_scene = previous_vse
        bpy.data.scenes.remove(scene)


def test_result_strip_rerenders_with_its_stored_settings(addon, trimmed_scene, media_dir):
    scene, source = trimmed_scene
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 4.x: sequences
    result = strips.new_movie("plate.vtoonify", str(media_dir / "529_2.mp4"), 3, 101)
    result["vtoonify_source"] = source.name
    result["vtoonify_role"] = "result"
    result["vtoonify_job"] = ('{"backend": "classic", "style": "arcane", "style_id": 3, "degree": 0.9, '
                              '"color_transfer": true, "format": "png", "output_space": "crop"}')
    operators = __import__(addon.__name__ + ".operators", fromlist=["job_options"])
    scene.vtoonify.degree, scene.vtoonify.style = 0.2, "pixar"
    editor.active_strip = result
    options = operators.job_options(bpy.context, scene, result)
    assert (options.backend, options.style, options.style_id, options.degree, options.output_space) == (
        "classic", "arcane", 3, 0.9, "crop")
    editor.active_strip = source  # the source strip renders with the panel's options
    options = operators.job_options(bpy.context, scene, source)
    assert options.style == "pixar" and options.degree == pytest.approx(0.2)
    log: list = []
    editor.active_strip = result
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    assert any(kind == "label" and "arcane #3, degree 0.9" in text for kind, text in log)


def test_panel_tells_the_fallback_wraps_long_text_and_shows_the_engine(addon, trimmed_scene):
    engines = __import__(addon.__name__ + ".engines", fromlist=["remember_status"])
    status_mod = __import__(addon.__name__ + ".core.engine_status", fromlist=["EngineStatus"])
    wm = bpy.context.window_manager
    scene, _source = trimmed_scene
    scene.vtoonify.style, scene.vtoonify.backend = "pixar", "auto"
    long_error = "the engine reported success but 3 output file(s) are missing, e.g. " + "/very/long" * 12
    engines.remember_status(status_mod.EngineStatus(running=True, version="0.1.0", devices=("cpu",),
                                                    backends=("auto", "classic"), styles=()))
    wm.vtoonify_status, wm.vtoonify_notes = long_error, "rendered with the classic backend (auto was asked for)"
    try:
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    finally:
        wm.vtoonify_status = wm.vtoonify_notes = ""
        engines.remember_status(None)
    labels = [text for kind, text in log if kind == "label"]
    assert any("Auto uses Classic" in text for text in labels)
    assert "modelsfetch--stylepixar" in "".join(labels).replace(" ", "")
    assert ("operator", "sequencer.vtoonify_copy_fetch_command") in log
    joined = "".join(labels).replace(" ", "")
    assert "classicbackend(autowasaskedfor)" in joined
    assert long_error.replace(" ", "") in joined and max(len(text) for text in labels) < 60  # wrapped, whole


def test_the_sidebar_says_when_the_engine_cut_its_style_list(addon, trimmed_scene):
    """The engine's note on a capabilities reply cut to fit its line limit stands under the installed styles."""
    engines = __import__(addon.__name__ + ".engines", fromlist=["remember_status"])
    status_mod = __import__(addon.__name__ + ".core.engine_status", fromlist=["EngineStatus"])
    note = "style names listed only for cartoon (dualstylegan): the first 37 of 300 (a job naming a later " \
           "style id by number still renders it)"
    engines.remember_status(status_mod.EngineStatus(running=True, version="0.1.0", devices=("cpu",),
                                                    backends=("auto", "classic", "vtoonify"), styles=("cartoon",),
                                                    truncated=note))
    try:
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    finally:
        engines.remember_status(None)
    labels = [text for kind, text in log if kind == "label"]
    joined = "".join(labels).replace(" ", "")
    assert "Installedstyles:cartoon" + note.replace(" ", "") in joined, labels


def test_options_are_disabled_while_a_result_strip_is_active(addon, trimmed_scene, media_dir):
    scene, source = trimmed_scene
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    result = strips.new_image("plate.vtoonify", str(media_dir / "038648.jpg"), 4, 101)
    result["vtoonify_source"], result["vtoonify_role"] = source.name, "result"
    editor.active_strip = result
    log: list = []
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    assert {"backend", "style", "degree"} <= {n for kind, n in log if kind == "disabled"}
    editor.active_strip = source
    log.clear()
    bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    # only these: Cryptomatte greyed until Mattes is on, At Most until Faces is All
    assert [n for kind, n in log if kind == "disabled"] == ["cryptomatte", "max_faces"]


@pytest.mark.timeout(180)
def test_panel_tells_when_an_engine_started_elsewhere_is_gone(addon, client_api, prefs, trimmed_scene, repo_root,
                                                              tmp_path):
    """An engine this Blender did not start (no process to watch: it may be behind an SSH tunnel) is
    killed: the next Stylize or Preview cannot connect, and the panel's engine line turns from
    "running" to "not reachable" with the fix, instead of keeping the old check mark."""
    import os
    import signal

    conn = tmp_path / "engine.json"
    env = dict(os.environ, PYTHONPATH=str(repo_root), VTOONIFY_STATE_DIR=str(tmp_path / "state"))
    python = os.environ.get("VTOONIFY_ENGINE_PYTHON", str(repo_root / ".venv" / "bin" / "python"))
    proc, _info = client_api.start_engine(python, args=("--device", "cpu"), connection_file=str(conn), env=env,
                                          timeout_s=120)
    prefs.connection_file, prefs.auto_start = str(conn), False
    prefs.output_dir = str(tmp_path / "out")
    trimmed_scene[0].frame_current = 110  # on the strip: Preview can run

    def panel_text() -> str:
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        return " ".join(text for kind, text in log if kind == "label")

    try:
        assert bpy.ops.sequencer.vtoonify_engine_refresh() == {"FINISHED"}  # background mode: waits
        assert "Auto uses" in panel_text(), panel_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert "Auto uses" in panel_text()  # nothing asked the engine yet: the last answer stands
        for ask in (bpy.ops.sequencer.vtoonify_stylize, bpy.ops.sequencer.vtoonify_preview):
            addon.engines.remember_status(addon.core.engine_status.EngineStatus(running=True, version="x"))
            with pytest.raises(RuntimeError, match="engine is not running"):
                ask()
            text = panel_text()
            assert text.startswith("Engine not reachable: the VToonify engine is not running (its connection "
                                   "file names an engine that has exited or does not answer); start it with "), text
            status = addon.engines.last_status()
            assert not status.running and status.summary().endswith(
                "or turn on Auto-start in the add-on preferences"), status.summary()
    finally:
        if proc.poll() is None:
            proc.kill()
        addon.engines.remember_status(None)
        bpy.context.window_manager.vtoonify_status = ""


@pytest.mark.timeout(180)
def test_panel_tells_when_the_engine_it_started_has_died(addon, prefs, trimmed_scene, repo_root, tmp_path):
    """The panel's engine line came from the last check; the engine this Blender started is then killed
    (or crashes, or idles out): the next redraw says it is not running, how it ended, and what to do,
    instead of the old "running" line with its check mark."""
    import os
    import signal

    prefs.connection_file = str(tmp_path / "engine.json")
    prefs.auto_start = True
    prefs.engine_python = os.environ.get("VTOONIFY_ENGINE_PYTHON", str(repo_root / ".venv" / "bin" / "python"))
    prefs.engine_root, prefs.engine_args = str(repo_root), "--device cpu"
    owner = addon.engines.current()
    assert bpy.ops.sequencer.vtoonify_engine_start() == {"FINISHED"}  # background mode: waits for the answer
    try:
        (proc,) = owner.running()

        def panel_text() -> str:
            log: list = []
            bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
            return " ".join(text for kind, text in log if kind == "label")

        assert panel_text().startswith("Engine ") and "Auto uses" in panel_text(), panel_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        text = panel_text()
        assert text.startswith("Engine not running: it was killed (signal 9) or crashed; press Start, or "
                               "Stylize with Auto-start on"), text
        assert not addon.engines.last_status().running
    finally:
        owner.stop_all(addon.engine_client.load())
        addon.engines.remember_status(None)


class _Sidebar:
    """``bpy.context`` as the panel sees it in a sidebar ``width`` px wide at UI scale ``scale`` (a
    hi-DPI screen counts 2): background mode has no region and reports a UI scale of 0."""

    def __init__(self, width: int, scale: float):
        self.region = SimpleNamespace(width=width)
        prefs = bpy.context.preferences
        self.preferences = SimpleNamespace(system=SimpleNamespace(ui_scale=scale), view=prefs.view,
                                           ui_styles=prefs.ui_styles, addons=prefs.addons)

    def __getattr__(self, name):
        return getattr(bpy.context, name)


def _text_px(text: str, scale: float) -> float:
    """The width Blender's UI font draws ``text`` at (11 pt labels, times the UI scale)."""
    import blf

    blf.size(0, bpy.context.preferences.ui_styles[0].widget.points * scale)
    return blf.dimensions(0, text)[0]


@pytest.mark.parametrize(("width", "scale"), [(220, 1.0), (300, 1.0), (600, 2.0)])
def test_no_sidebar_label_is_cut_in_a_narrow_or_hi_dpi_sidebar(addon, trimmed_scene, media_dir, width, scale):
    """Blender cuts a label too wide for its line in the middle ("Add a movie or...Image/Sequence"):
    every label of the sidebar in each state fits the sidebar's width once the panel's margins (at least
    30 px) and its icon (20 px) are taken, measured with Blender's own UI font at the UI scale."""
    engines = __import__(addon.__name__ + ".engines", fromlist=["remember_status"])
    status_mod = __import__(addon.__name__ + ".core.engine_status", fromlist=["EngineStatus"])
    wm = bpy.context.window_manager
    scene, movie = trimmed_scene
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    meta = strips.new_meta("interview_take_03_" + "x" * 40, 9, 1)
    (meta.strips if hasattr(meta, "strips") else meta.sequences).new_movie(
        "Closeup_of_the_second_interviewee_graded_v002", str(media_dir / "529_2.mp4"), 1, 1)
    import json
    import os
    import shutil
    import tempfile

    stem = tempfile.mkdtemp(prefix="vtoonify-narrow-")
    for n in (1, 2, 3):
        os.makedirs(os.path.join(stem, f"v{n:03d}"))
        shutil.copyfile(media_dir / "038648.jpg", os.path.join(stem, f"v{n:03d}", "plate.0004.jpg"))
    result = strips.new_image("plate.vtoonify", os.path.join(stem, "v002", "plate.0004.jpg"), 4, 104)
    result["vtoonify_source"], result["vtoonify_role"] = movie.name, "result"
    result["vtoonify_settings"] = json.dumps({"backend": "vtoonify", "style": "illustration_c", "style_id": 104,
                                              "degree": 0.5})
    bare = bpy.data.scenes.new("vtoonify_no_editor")
    window = bpy.context.window_manager.windows[0]
    states = {"no strips yet": bare, "movie": movie, "meta": meta, "nothing selected": None, "result": result}
    engines.remember_status(status_mod.EngineStatus(running=True, version="0.1.0", devices=("cpu",),
                                                    backends=("auto", "classic"), styles=()))
    scene.vtoonify.style, scene.vtoonify.backend = "pixar", "auto"
    wm.vtoonify_status = "the engine reported success but 3 output file(s) are missing\nFix: render again"
    wm.vtoonify_notes = "rendered with the classic backend (auto was asked for)"
    cut = []
    try:
        for state, shown in states.items():
            if state == "no strips yet":
                window.scene = bare
            else:
                window.scene = scene
                editor.active_strip = shown
            labels: list = []
            bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout([], labels)), _Sidebar(width, scale))
            assert labels, state
            if state == "result":
                assert any(text.startswith("v002") for text, _icon in labels), labels
            for text, icon in labels:
                beside = 60 if text.startswith("v00") else 0  # the versions row's three buttons
                room = width - (30 + beside + (20 if icon != "NONE" else 0)) * scale
                if _text_px(text, scale) > room:
                    cut.append((state, text, round(_text_px(text, scale)), room))
    finally:
        window.scene = scene
        bpy.data.scenes.remove(bare)
        shutil.rmtree(stem)
        wm.vtoonify_status = wm.vtoonify_notes = ""
        engines.remember_status(None)
    assert not cut, cut


@pytest.mark.parametrize(("width", "scale"), [(640, 1.0), (1280, 2.0)])
def test_no_preferences_label_is_cut(addon, prefs, width, scale):
    """The add-on preferences (Edit > Preferences > Add-ons, about 640 px of text room in the default
    window): a wrong engine Python and engine folder (long paths), the engine's state, the token note."""
    engines = __import__(addon.__name__ + ".engines", fromlist=["remember_status"])
    status_mod = __import__(addon.__name__ + ".core.engine_status", fromlist=["EngineStatus"])
    deep = "/studio/projects/feature_2026/pipeline/tools/vtoonify/environments/python311"
    prefs.engine_python, prefs.engine_root = deep + "/bin/python3", deep + "/engine_checkout"
    engines.remember_status(status_mod.EngineStatus(running=False, error="the engine did not answer within "
                                                    "10 s on 127.0.0.1:53817 (it may still be loading models)"))
    labels: list = []
    try:
        proxy = prefs_proxy(prefs, [])
        type(proxy).layout = CheckingLayout([], labels)
        type(prefs).draw(proxy, _Sidebar(width, scale))
    finally:
        engines.remember_status(None)
    said = " ".join(text for text, _icon in labels)
    assert "python3" in said and "token" in said
    cut = [(text, round(_text_px(text, scale))) for text, icon in labels
           if _text_px(text, scale) > width - (30 + (20 if icon != "NONE" else 0)) * scale]
    assert not cut, cut
