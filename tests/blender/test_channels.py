"""Channels the artist locked or muted: nothing the add-on lays goes there (a strip laid in a locked
channel cannot be moved, trimmed or deleted; one in a muted channel never shows), and a result strip
that is locked is refused before the engine renders, not after."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]


def _strips(scene):
    editor = scene.sequence_editor
    return editor.strips if hasattr(editor, "strips") else editor.sequences


@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


def test_a_preview_skips_locked_and_muted_channels(addon, trimmed_scene, media_dir):
    scene, source = trimmed_scene  # channel 2
    channels = scene.sequence_editor.channels
    channels[3].lock, channels[4].mute = True, True
    overlay = addon.stylize.show_preview_strip(scene, source, str(media_dir / "038648.jpg"), 110)
    assert overlay.channel == 5 and not overlay.lock


def test_a_result_lands_above_a_locked_channel_and_a_locked_result_is_refused_up_front(
        addon, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    source.frame_offset_end = 25  # 1 frame: 104
    scene.sequence_editor.channels[3].lock = True
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path / "out")}
    result = addon.stylize.stylize_strip(scene, source, settings, connected)
    assert result.channel == 4 and not result.lock
    result.lock = True  # the artist protects the result: a re-render must not change it
    with pytest.raises(addon.stylize.StripError) as refused:
        addon.stylize.stylize_strip(scene, source, settings, connected)
    assert "result strip 'plate.vtoonify' of 'plate' is locked (the strip is locked)" in refused.value.message
    assert refused.value.fix.startswith("unlock it (Strip > Lock/Mute > Unlock Strips")
    assert not (tmp_path / "out" / "plate" / "v002").exists(), "it rendered before refusing"
    scene.sequence_editor.active_strip = source
    with pytest.raises(RuntimeError, match=r"is locked \(the strip is locked\)"):  # the operator's error report
        bpy.ops.sequencer.vtoonify_stylize("EXEC_DEFAULT")
    assert "Fix: unlock it" in bpy.context.window_manager.vtoonify_status
    result.lock, scene.sequence_editor.channels[4].lock = False, True  # now its channel is locked instead
    with pytest.raises(addon.stylize.StripError, match="its channel 4 is locked"):
        addon.stylize.stylize_strip(scene, source, settings, connected)
