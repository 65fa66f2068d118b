"""What the artist sees while a follow-faces render searches every frame for the faces: the status
bar and the sidebar's progress bar count frames searched, then frames rendered (a real engine)."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402
from stand_in import stand_in_operator  # noqa: E402

HOW_TO_CANCEL = "Esc over the Sequencer or Strip > Cancel VToonify Render cancels"  # told on every line

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]


def test_follow_faces_shows_the_face_search_then_the_frames(addon, engine_prefs, trimmed_scene):
    scene, source = trimmed_scene
    source.frame_offset_end = 23  # 3 frames render (timeline 104..106); the search reads all 29
    scene.vtoonify.backend = "classic"
    scene.vtoonify.follow_faces = True
    wm = bpy.context.window_manager
    reports: list = []
    op = stand_in_operator(addon, reports)
    seen, bars = [], []
    try:
        assert op._setup_session(bpy.context) is None, reports
        outcome, deadline = {"PASS_THROUGH"}, time.monotonic() + 240
        while outcome == {"PASS_THROUGH"} and time.monotonic() < deadline:
            outcome = op.modal(bpy.context, SimpleNamespace(type="TIMER", value="NOTHING"))
            shown = wm.vtoonify_status.removesuffix(f" ({HOW_TO_CANCEL})")
            if outcome == {"PASS_THROUGH"} and (not seen or seen[-1] != shown):
                seen.append(shown)
                log: list = []
                bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
                bars += [text for kind, text in log if kind == "progress"]
            time.sleep(0.02)
        assert outcome == {"FINISHED"}, reports
    finally:
        wm.vtoonify_running, wm.vtoonify_status, wm.vtoonify_notes = False, "", ""
        scene.vtoonify.follow_faces = False
    searching = [s for s in seen if "frames searched for faces" in s]
    # one modal tick drains every waiting event, so the 29/29 status may be replaced by the render's in the
    # same tick: the search must count up through the shot, never past its 29 frames
    counts = [int(re.search(r"(\d+)/29 frames searched", s).group(1)) for s in searching]
    assert counts and counts == sorted(set(counts)) and 1 <= counts[-1] <= 29, seen
    rendering = [s for s in seen if s.endswith(" frames") or " frames," in s]
    assert rendering and seen.index(searching[-1]) < seen.index(rendering[0]), seen
    assert any(b.startswith("Finding faces ") and b.endswith("/29)") for b in bars), bars
    assert any(b.endswith("/3)") and not b.startswith("Finding") for b in bars), bars
