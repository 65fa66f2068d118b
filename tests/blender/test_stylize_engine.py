"""Stylize a trimmed movie strip against a REAL engine process (classic backend)."""

from __future__ import annotations

import os
import re

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = pytest.mark.timeout(300)


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def _frame_number(filename: str) -> int:
    return int(re.search(r"(\d+)\D*$", filename).group(1))


@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


def test_result_strip_lines_up_with_trimmed_source(addon, connected, trimmed_scene, tmp_path, png_text):
    scene, source = trimmed_scene
    assert (source.frame_final_start, source.frame_final_end) == (104, 125)
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    events = []
    result = stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "output": str(tmp_path)},
                                   connected, progress=lambda t: events.append(t.done_frames))
    assert result.type == "IMAGE" and result.channel == source.channel + 1
    assert (result.frame_final_start, result.frame_final_end) == (source.frame_final_start, source.frame_final_end)
    # timeline frame 104 shows media frame 3 (0-based) = engine frame 4 (movie frames start at 1)
    names = [e.filename for e in result.elements]
    assert [_frame_number(n) for n in names] == list(range(4, 25))
    directory = bpy.path.abspath(result.directory)
    for k in (0, 10, 20):
        meta = png_text(os.path.join(directory, names[k]))
        assert int(meta["vtoonify/frame"]) == 4 + k
        assert meta["vtoonify/backend"] == "classic"
    # the strip shows the file for the current frame, and remembers its job for re-render
    assert os.path.basename(result.strip_elem_from_frame(110).filename) == names[6]
    assert '"frames": "4-24"' in result["vtoonify_job"] and result["vtoonify_source"] == source.name
    assert events and max(events) <= 21
    assert len(_strips(scene)) == 2


def test_rerender_updates_result_in_place(addon, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    source.frame_offset_end = 20  # 6 frames: 104..109
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path)}
    first = stylize.stylize_strip(scene, source, settings, connected)
    first.channel = 5
    name = first.name
    second = stylize.stylize_strip(scene, source, dict(settings, degree=0.9), connected)
    assert second.name == name and second.channel == 5
    assert len(_strips(scene)) == 2
    assert '"degree": 0.9' in second["vtoonify_job"]


def test_cancel_leaves_timeline_and_folder_clean(addon, client_api, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    out = tmp_path / "out"
    calls = []

    def stop_after_first_frame(tracker):
        calls.append(tracker.done_frames)
        return not tracker.written

    before = [(s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in _strips(scene)]
    with pytest.raises(client_api.JobCancelled):
        stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "output": str(out)},
                              connected, progress=stop_after_first_frame)
    assert [(s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in _strips(scene)] == before
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == []
