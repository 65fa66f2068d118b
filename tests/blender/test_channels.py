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


def test_a_plate_on_the_top_channel_is_refused_before_the_render(addon, connected, engine_prefs, trimmed_scene,
                                                                  tmp_path):
    """Channel 128 is the sequencer's last: a result could not go above it. Said with the fix before the
    engine renders (no folder written), by the operator too; with the channel above locked, the same."""
    scene, source = trimmed_scene
    source.frame_offset_end = 25  # 1 frame: 104
    source.channel = 128
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path / "out")}
    with pytest.raises(addon.stylize.StripError) as refused:
        addon.stylize.stylize_strip(scene, source, settings, connected)
    assert refused.value.message == ("the result strip of 'plate' has nowhere to go: no 1 free channel above "
                                     "channel 128 over frames 104-104 (Blender's channels end at 128)")
    assert refused.value.fix.startswith("move the source strip to a lower channel")
    assert not (tmp_path / "out").exists(), "it rendered before refusing"
    scene.vtoonify.backend = "classic"
    with pytest.raises(RuntimeError, match="has nowhere to go: no 1 free channel above channel 128"):
        bpy.ops.sequencer.vtoonify_stylize("EXEC_DEFAULT")
    assert "Fix: move the source strip to a lower channel" in bpy.context.window_manager.vtoonify_status
    assert not (tmp_path / "renders").exists()
    source.channel = 127
    scene.sequence_editor.channels[128].lock = True
    with pytest.raises(addon.stylize.StripError, match="above channel 127"):
        addon.stylize.stylize_strip(scene, source, settings, connected)
    scene.sequence_editor.channels[128].lock = False
    result = addon.stylize.stylize_strip(scene, source, settings, connected)
    assert result.channel == 128


def test_mattes_that_do_not_fit_below_the_top_are_told_with_the_kept_folder(addon, connected, trimmed_scene,
                                                                            tmp_path):
    """The result fits above the plate but its matte block does not (the engine decides how many mattes
    there are, so this shows after the render): the report names the channels, the fix, and the
    folder where the rendered frames are kept; no strip is half laid."""
    scene, source = trimmed_scene
    source.frame_offset_end = 25
    source.channel = 125
    settings = {"backend": "classic", "format": "png", "mattes": True, "output": str(tmp_path / "out")}
    with pytest.raises(addon.stylize.StripError) as refused:
        addon.stylize.stylize_strip(scene, source, settings, connected)
    kept = tmp_path / "out" / "plate" / "v001"
    assert "matte strips of 'plate' could not be laid: no " in refused.value.message
    assert refused.value.message.endswith(f"the rendered frames are kept in {kept}")
    assert refused.value.fix.endswith("or turn Mattes off, then Stylize again")
    assert sorted(p.name for p in kept.glob("plate.0004.png")) == ["plate.0004.png"]
    assert [s.name for s in _strips(scene)] == ["plate"]
