"""The panel in a real X session driven by the mouse: clicks on its controls, and files dragged onto
it from another X client (XDND, as from a file manager), each bare and under a real window manager
(openbox; skipped with the reason where it is not installed).

The panel runs as ``python -m ui`` does, through ``x_panel_probe.py``, which reports where Qt drew
the controls and what the panel shows (queue rows, messages, status bar, focus); the clicks and
drags themselves go through the X server (xdotool), so a control that is covered, or not where it
is reported, is not hit. Each reported position is checked to lie inside the panel's X window."""

from __future__ import annotations

import shutil

import pytest
from x_session import (
    NEEDS_X,
    ProbedPanel,
    drag,
    has_wm,
    kill_if_running,
    stop_engine_of,
    wait_window,
    window_geometry,
    xdotool,
)

pytestmark = [pytest.mark.timeout(120), NEEDS_X]
SESSIONS = ["1920x1080", "1920x1080+openbox"]
"""Bare Xvfb and Xvfb with openbox; 1920x1080 leaves room beside the panel for the drag source."""


@pytest.fixture
def plates(tmp_path, media_dir):
    folder = tmp_path / "plates"
    folder.mkdir()
    for name in ("908.mp4", "sh010_plate_v001.mov"):
        shutil.copyfile(media_dir / "908.mp4", folder / name)
    for n in (1001, 1002, 1003):
        shutil.copyfile(media_dir / "077436.jpg", folder / f"sh020.{n}.jpg")
    (folder / "notes.txt").write_text("not a plate")
    return folder


@pytest.fixture
def drag_sources():
    sources: list = []
    yield sources
    for source in sources:
        kill_if_running(source)


def _uri(path) -> str:
    return path.as_uri()


def _focused_window(display: str) -> str:
    return xdotool(display, "getwindowfocus", "-f")


@pytest.mark.parametrize("x_display", SESSIONS, indirect=True)
def test_drag_a_sequence_frame_onto_the_source_field(x_display, repo_root, plates, tmp_path, drag_sources):
    """A frame of a numbered sequence dragged from another client onto Source: the panel asks
    (Image sequence?) with the focus in its dialog, Enter says yes, the field holds the pattern and
    its facts are read; under a window manager the focus is back in the panel (bare X gives it to
    no window: that is the window manager's job)."""
    panel = ProbedPanel(x_display, repo_root, tmp_path, "--connection-file", str(tmp_path / "none.json"))
    try:
        outcome = drag(x_display, [_uri(plates / "sh020.1002.jpg")], panel.centre("source_edit"), tmp_path,
                       drag_sources)
        assert outcome == "CopyAction"
        dialog = wait_window(x_display, "Image sequence?", timeout_s=20)
        state = panel.wait(lambda s: s["active_window"] == "Image sequence?", "the question has the focus")
        assert _focused_window(x_display) == dialog, "the X input focus is not on the question"
        xdotool(x_display, "key", "Return")  # Yes is the default button
        pattern = str(plates / "sh020.####.jpg")
        state = panel.wait(lambda s: s["source"] == pattern and "3 frames" in s["source_info"],
                           "the sequence as the source, its facts read")
        assert "Image sequence?" not in state["top_levels"]
        if has_wm(x_display):  # giving the focus back to the window under a closed dialog is the WM's job
            panel.wait(lambda s: s["active_window"] == "VToonify Studio", "the panel active again after the question")
            assert _focused_window(x_display) == panel.window, "the X input focus did not come back to the panel"
        panel.quit()
    finally:
        kill_if_running(panel.process)


@pytest.mark.parametrize("x_display", SESSIONS, indirect=True)
def test_drag_files_and_urls_onto_the_panel(x_display, repo_root, plates, tmp_path, drag_sources):
    """A web link alone dragged onto Source is refused as it enters (the drag source is told, the
    field keeps its text, the status bar says why and what to do); videos, two frames of a sequence, a text
    file and a link dragged onto the queue become one row per shot, and the rest is named."""
    panel = ProbedPanel(x_display, repo_root, tmp_path, "--connection-file", str(tmp_path / "none.json"))
    try:
        panel.wait(lambda s: s["source"] == "", "an empty source field")
        link = "https://example.com/shots/sh030.mov"
        refusal_shown = lambda: panel.state().get("notice", "").startswith("Cannot drop here: ")  # noqa: E731
        outcome = drag(x_display, [link], panel.centre("source_edit"), tmp_path, drag_sources, refusal_shown)
        assert outcome == "IgnoreAction"
        state = panel.wait(lambda s: s["notice"].startswith("Cannot drop here: "), "the refusal in the status bar")
        assert state["notice"] == (f"Cannot drop here: {link} is not a file on this machine: download it "
                                   "first, or drop it from a local or mounted folder")
        assert state["source"] == "" and state["rows"] == []

        out_dir = tmp_path / "renders"  # rows take the form's output folder: clicked and typed in
        if not has_wm(x_display):
            xdotool(x_display, "windowfocus", "--sync", panel.window)  # what a window manager does on map
        panel.click_control("output_edit")
        panel.wait(lambda s: s["focus"] == "output_edit", "a click puts the focus in the output field")
        xdotool(x_display, "type", "--delay", "2", str(out_dir))

        uris = [_uri(plates / "908.mp4"), _uri(plates / "sh020.1001.jpg"), _uri(plates / "sh020.1003.jpg"),
                _uri(plates / "notes.txt"), "smb://fileserver/plates/a.mov", _uri(plates / "sh010_plate_v001.mov")]
        assert drag(x_display, uris, panel.centre("queue_table"), tmp_path, drag_sources) == "CopyAction"
        state = panel.wait(lambda s: len(s["rows"]) == 3, "three queue rows")
        assert [r["source"] for r in state["rows"]] == [str(plates / "908.mp4"), str(plates / "sh020.####.jpg"),
                                                        str(plates / "sh010_plate_v001.mov")]
        assert all(r["status"] == "waiting" and r["output"] == str(out_dir) for r in state["rows"])
        assert state["notice"].startswith("Not added: smb://fileserver/plates/a.mov is not a file on this machine")
        refused = [m for m in state["messages"] if m.startswith("Not added: ")]
        assert any(m.startswith(f"Not added: {plates / 'notes.txt'} is not a video or image") for m in refused)
        assert any(m.startswith("Not added: smb://fileserver/plates/a.mov is not a file on this machine")
                   for m in refused)
        assert "added 3 shots to the queue (press Start queue to render)" in state["messages"]

        # the three rows were never sent: Ctrl+Q asks before dropping them, with the focus in the
        # question; Escape (Don't close) keeps the panel and its rows, Alt+D (Close and drop them) quits
        panel.ask_quit()
        dialog = wait_window(x_display, "Shots still waiting", timeout_s=20)
        panel.wait(lambda s: s["active_window"] == "Shots still waiting", "the question has the focus")
        assert _focused_window(x_display) == dialog, "the X input focus is not on the question"
        xdotool(x_display, "key", "Escape")
        state = panel.wait(lambda s: "Shots still waiting" not in s["top_levels"], "the question gone")
        assert len(state["rows"]) == 3 and all(r["status"] == "waiting" for r in state["rows"])
        panel.ask_quit()
        wait_window(x_display, "Shots still waiting", timeout_s=20)
        panel.wait(lambda s: s["active_window"] == "Shots still waiting", "the question has the focus again")
        xdotool(x_display, "key", "alt+d")
        panel.quit(ask=False)
    finally:
        kill_if_running(panel.process)


@pytest.mark.parametrize("x_display", SESSIONS, indirect=True)
def test_mouse_add_start_and_cancel_a_row(x_display, repo_root, media_dir, tmp_path):
    """Clicks only (the paths are typed into the clicked fields): Add to queue makes a waiting row,
    Start queue arms the queue (no engine yet: the row waits for one, and the panel says so),
    clicking the row selects it, Cancel cancels it: the row says which backend was asked and that
    the job never started."""
    out_dir = tmp_path / "renders"
    panel = ProbedPanel(x_display, repo_root, tmp_path, "--connection-file", str(tmp_path / "none.json"))
    try:
        if not has_wm(x_display):
            xdotool(x_display, "windowfocus", "--sync", panel.window)  # what a window manager does on map
        source = str(media_dir / "529_2.mp4")
        for field, text in (("source_edit", source), ("output_edit", str(out_dir))):
            panel.click_control(field)
            panel.wait(lambda s, field=field: s["focus"] == field, f"a click puts the focus in {field}")
            xdotool(x_display, "key", "ctrl+a")
            xdotool(x_display, "type", "--delay", "2", text)
        panel.wait(lambda s: s["source"] == source, "the typed source")
        panel.click_control("add_button")
        state = panel.wait(lambda s: len(s["rows"]) == 1, "a queue row")
        assert state["rows"][0]["source"] == source and state["rows"][0]["status"] == "waiting"
        assert state["rows"][0]["output"] == str(out_dir)
        assert not state["start_checked"]

        panel.click_control("start_queue")
        state = panel.wait(lambda s: s["start_checked"], "Start queue pressed in")
        assert "the queue starts sending once an engine is connected" in state["messages"]
        assert state["rows"][0]["status"] == "waiting"

        x, y, w, h = state["rows"][0]["rect"]
        panel.click(x + w // 2, y + h // 2)
        panel.wait(lambda s: s["selected_rows"] == [0], "the clicked row selected")
        panel.click_control("cancel_button")
        state = panel.wait(lambda s: s["rows"][0]["status"] == "cancelled", "the row cancelled")
        assert state["rows"][0]["backend"] == "auto (cancelled before start)"
        assert not out_dir.exists(), "a job cancelled before it was sent wrote nothing"
        panel.quit()
    finally:
        kill_if_running(panel.process)


def test_mouse_start_renders_and_cancel_stops_the_running_job(x_display, repo_root, media_dir, tmp_path):
    """With the engine the panel started: clicks on Add to queue and Start queue render the clip;
    a click on the row and on Cancel stop it part-way. The row says what rendered (auto -> classic)
    and how far; the frames on disk are the first ones, numbered from 1, fewer than the clip's 29."""
    out_dir = tmp_path / "renders"
    connection = tmp_path / "engine.json"
    panel = ProbedPanel(x_display, repo_root, tmp_path, "--start-engine", "--connection-file", str(connection))
    try:
        xdotool(x_display, "windowfocus", "--sync", panel.window)  # what a window manager does on map
        source = str(media_dir / "529_2.mp4")
        for field, text in (("source_edit", source), ("output_edit", str(out_dir))):
            panel.click_control(field)
            panel.wait(lambda s, field=field: s["focus"] == field, f"a click puts the focus in {field}")
            xdotool(x_display, "type", "--delay", "2", text)
        panel.wait(lambda s: "29 frames" in s["source_info"] and any(m.startswith("engine connected")
                                                                     for m in s["messages"]),
                   "the clip's facts read and the engine connected", timeout_s=90)
        panel.click_control("add_button")
        panel.wait(lambda s: len(s["rows"]) == 1, "a queue row")
        panel.click_control("start_queue")
        state = panel.wait(lambda s: s["rows"][0]["done"] >= 2, "the job rendering", timeout_s=90)
        x, y, w, h = state["rows"][0]["rect"]
        panel.click(x + w // 2, y + h // 2)
        panel.wait(lambda s: s["selected_rows"] == [0], "the clicked row selected")
        panel.click_control("cancel_button")
        state = panel.wait(lambda s: s["rows"][0]["status"] == "cancelled", "the job cancelled", timeout_s=60)
        row = state["rows"][0]
        assert row["backend"] == "auto → classic" and row["total"] == 29, row
        frames = sorted(p.name for p in (out_dir / "v001").glob("529_2.*.exr"))
        assert 2 <= len(frames) < 29, frames
        assert frames == [f"529_2.{n:04d}.exr" for n in range(1, len(frames) + 1)]
        assert row["done"] >= len(frames) - 1, (row, frames)  # the row lags the disk by a frame at most
        assert state["title"] == "Queue finished: 0 done, 1 not done · VToonify Studio", state["title"]
        panel.quit()
    finally:
        kill_if_running(panel.process)
        stop_engine_of(connection)


def _active_window(display: str) -> str:
    return xdotool(display, "getactivewindow")


@pytest.mark.parametrize("x_display", ["1920x1080+openbox"], indirect=True)
def test_window_manager_focus_placement_and_size_restore(x_display, repo_root, media_dir, tmp_path):
    """Under openbox, with no help from the test: the panel is active when it maps and keys go to
    the Source field; Ctrl+Shift+O's file dialog takes the focus and Escape gives it back to the
    panel; the window, moved and resized through the window manager, opens at the same place and
    size next time."""
    source = str(media_dir / "529_2.mp4")
    panel = ProbedPanel(x_display, repo_root, tmp_path, "--connection-file", str(tmp_path / "none.json"))
    try:
        panel.wait(lambda s: s["active_window"] == "VToonify Studio" and s["focus"] == "source_edit",
                   "the panel active at map, the focus in Source")
        assert _active_window(x_display) == panel.window
        xdotool(x_display, "type", "--delay", "2", source)
        panel.wait(lambda s: s["source"] == source, "the typed source in the field")
        x, y, w, h = window_geometry(x_display, panel.window)
        assert x >= 0 and y >= 0 and x + w <= 1920 and y + h <= 1080, "placed inside the screen"

        xdotool(x_display, "key", "ctrl+shift+o")
        dialog = wait_window(x_display, "Output folder", timeout_s=20)
        panel.wait(lambda s: s["active_window"] == "Output folder", "the file dialog active")
        assert _active_window(x_display) == dialog
        xdotool(x_display, "key", "Escape")
        panel.wait(lambda s: s["active_window"] == "VToonify Studio" and "Output folder" not in s["top_levels"],
                   "the panel active again after the dialog")
        assert _active_window(x_display) == panel.window

        xdotool(x_display, "windowsize", "--sync", panel.window, "1100", "650")
        xdotool(x_display, "windowmove", "--sync", panel.window, "200", "150")
        moved = panel.wait(lambda s: s["geometry"][2:] == [1100, 650] and
                           tuple(s["geometry"]) == window_geometry(x_display, panel.window),
                           "the new size and place")
        panel.quit()
    finally:
        kill_if_running(panel.process)

    again = ProbedPanel(x_display, repo_root, tmp_path, "--connection-file", str(tmp_path / "none.json"))
    try:
        state = again.wait(lambda s: s["source"] == source, "the saved source restored")
        assert state["geometry"] == moved["geometry"], (state["geometry"], moved["geometry"])
        assert window_geometry(x_display, again.window) == tuple(moved["geometry"])
        again.quit()
    finally:
        kill_if_running(again.process)
