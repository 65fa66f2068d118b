"""A failing Stylize in real Blender: the error report and the panel's status say the problem, then
what to do about it on a line of its own."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402
from stand_in import stand_in_operator  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]
HERE = Path(__file__).resolve().parent


def test_a_failed_stylize_reports_the_fix_on_its_own_line(prefs, trimmed_scene, tmp_path):
    prefs.connection_file = str(tmp_path / "none.json")
    prefs.auto_start = True
    prefs.engine_python = str(tmp_path / "missing-python")
    prefs.output_dir = str(tmp_path / "out")
    wm = bpy.context.window_manager
    try:
        with pytest.raises(RuntimeError) as failed:  # the ERROR report, as bpy.ops raises it
            bpy.ops.sequencer.vtoonify_stylize()
        problem, fix = wm.vtoonify_status.split("\n")
        assert problem.endswith("not found") and "(" not in problem.rsplit("'", 1)[-1]
        assert fix == "Fix: set the engine's Python (its .venv/bin/python) in the VToonify add-on preferences"
        assert f"{problem}\n{fix}" in str(failed.value)
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        labels = [text for kind, text in log if kind == "label"]
        fix_at = next(i for i, text in enumerate(labels) if text.startswith("Fix: set the engine's Python"))
        assert labels[fix_at - 1].endswith("not found") or "not found" in " ".join(labels[:fix_at])
    finally:
        wm.vtoonify_status = ""


def test_a_new_render_starts_without_the_last_ones_frame_count(addon, prefs, trimmed_scene, tmp_path):
    """The modal render while it connects shows "Starting...", not the last render's "0% (21/21)";
    when connecting fails, the report and the status give the fix on a line of their own."""
    import time

    prefs.connection_file = str(tmp_path / "none.json")  # no engine, no Auto-start: connecting fails
    prefs.auto_start = False
    prefs.output_dir = str(tmp_path / "out")
    wm = bpy.context.window_manager
    wm.vtoonify_done, wm.vtoonify_total = 21, 21  # what the last render left
    reports: list = []
    op = stand_in_operator(addon, reports)
    try:
        assert op._setup_session(bpy.context) is None, reports
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        assert [text for kind, text in log if kind == "progress"] == ["Starting..."]
        outcome, deadline = {"PASS_THROUGH"}, time.monotonic() + 30
        while outcome == {"PASS_THROUGH"} and time.monotonic() < deadline:
            outcome = op.modal(bpy.context, SimpleNamespace(type="TIMER", value="NOTHING"))
            time.sleep(0.02)
        assert outcome == {"CANCELLED"} and not wm.vtoonify_running
        (kind, message), = reports
        assert kind == {"ERROR"} and message == wm.vtoonify_status
        problem, fix = message.split("\n")
        assert "engine is not running" in problem and fix.startswith("Fix: start it with")
    finally:
        wm.vtoonify_status, wm.vtoonify_running = "", False


def test_an_engine_lost_mid_render_says_where_its_frames_are(addon, client_api, prefs, trimmed_scene, tmp_path):
    """The engine went away mid-render (no final event from it): the report and the sidebar status
    name the version folder, the frames it already holds, and that Stylize renders into a new one."""
    prefs.output_dir = str(tmp_path / "out")
    wm = bpy.context.window_manager
    tracker_mod = __import__(addon.__name__ + ".core.job_tracker", fromlist=["JobTracker"])
    lost_fix = __import__(addon.__name__ + ".core.job_runner", fromlist=["LOST_FIX"]).LOST_FIX
    reports: list = []
    op = stand_in_operator(addon, reports)
    _api, _scene, _source, prepared = op._begin(bpy.context)
    folder = Path(prepared.output_dir)
    assert folder.name == "v001"
    folder.mkdir(parents=True)
    for n in (4, 5):  # what the engine wrote before it was killed
        (folder / f"plate.{n:04d}.png").write_bytes(b"frame")
    tracker = tracker_mod.JobTracker("job1", state="failed", error=client_api.UnreachableError(
        "lost the connection to the engine (it stopped or crashed)", lost_fix).to_dict())
    op._session = SimpleNamespace(start_error=None, job=SimpleNamespace(tracker=tracker), close=lambda: None)
    op._prepared, op._api = prepared, client_api
    addon.engines.remember_status(addon.core.engine_status.EngineStatus(running=True, version="x"))
    try:
        assert op._finish(bpy.context) == {"CANCELLED"}
        (kind, message), = reports
        assert kind == {"ERROR"} and message == wm.vtoonify_status
        problem, fix = message.split("\n")
        assert problem.endswith(f"; the 2 frames written so far are kept in {folder}")
        assert fix.startswith(f"Fix: {lost_fix.rstrip('.')}. Stylize renders every frame again into a new version "
                              "folder (v002); it does not continue v001")
        assert sorted(p.name for p in folder.iterdir()) == ["plate.0004.png", "plate.0005.png"]  # kept
        status = addon.engines.last_status()  # the panel's engine line no longer says "running"
        assert not status.running and status.summary().startswith("Engine not reachable: lost the connection")
    finally:
        wm.vtoonify_status, wm.vtoonify_running = "", False
        addon.engines.remember_status(None)
