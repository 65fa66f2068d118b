"""Odd states an artist reaches by mouse and keyboard: the sidebar draws and every VToonify operator's
poll answers (with a reason when it says no) without a Python traceback, and Stylize's job is prepared
or refused with a StripError naming the fix: a movie with proxies on (files never built), a strip with
crop and transform, a 29.97 fps scene over a 15 fps and a 30 fps clip, a sound, scene, colour or text strip, a meta,
an empty meta, a muted or locked strip, the playhead off the strip, no strip at all."""

from __future__ import annotations

import importlib
import re
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402
from vse_scene import new_effect  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.timeout(120)]
_TECHNICAL = re.compile(r"--|`|\.md\b|\bdocs/|\bbpy\b|\bPython\b|poll\(|\b[a-z]+_[a-z_]+\(")
"""What an artist's tooltip never says: a CLI flag, a shell command, a docs file, a Python name."""


def _operators(addon) -> list[str]:
    return [
        cls.bl_idname.split(".")[1] for cls in addon.classes if getattr(cls, "bl_idname", "").startswith("sequencer.")
    ]


def _effect(strips, name, kind, channel):
    return new_effect(strips, name, kind, channel, 1, 10)


def _odd_strips(scene, movie, media_dir) -> dict:
    editor = scene.sequence_editor
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    proxied = strips.new_movie("proxied", str(media_dir / "529_2.mp4"), 10, 1)
    proxied.use_proxy = True
    proxied.proxy.build_25 = proxied.proxy.build_50 = True
    framed = strips.new_movie("framed", str(media_dir / "529_2.mp4"), 11, 1)
    framed.crop.min_x, framed.crop.max_y = 20, 12
    framed.transform.offset_x, framed.transform.rotation, framed.transform.scale_x = 33.0, 0.3, 1.4
    muted = strips.new_movie("muted", str(media_dir / "529_2.mp4"), 12, 1)
    muted.mute = True
    locked = strips.new_movie("locked", str(media_dir / "529_2.mp4"), 13, 1)
    locked.lock = True
    near_rate = strips.new_movie("near_rate", str(media_dir / "529.mp4"), 20, 1)  # 30 fps in a 29.97 scene
    meta = strips.new_meta("meta", 14, 1)
    empty_meta = strips.new_meta("empty_meta", 15, 1)
    inner = (meta.strips if hasattr(meta, "strips") else meta.sequences).new_movie(
        "inner", str(media_dir / "529_2.mp4"), 1, 1
    )
    made = {
        "movie": movie,
        "proxied": proxied,
        "framed": framed,
        "muted": muted,
        "locked": locked,
        "near_rate": near_rate,
        "meta": meta,
        "empty_meta": empty_meta,
        "inner": inner,
        "scene": strips.new_scene("sc", bpy.data.scenes.new("vtoonify_odd_inner"), 16, 1),
        "color": _effect(strips, "col", "COLOR", 17),
        "text": _effect(strips, "txt", "TEXT", 18),
    }
    try:
        made["sound"] = strips.new_sound("snd", str(media_dir / "529_2.mp4"), 19, 1)
    except RuntimeError:  # a bpy built without audio (4.2's wheel)
        pass
    return made


@pytest.mark.parametrize("playhead", [1, 500])
def test_every_odd_state_draws_and_polls_without_a_traceback(
    addon, prefs, trimmed_scene, media_dir, tmp_path, playhead
):
    scene, movie = trimmed_scene
    scene.render.fps, scene.render.fps_base = 30, 1.001  # 29.97 over a 15 fps clip
    prefs.auto_start = True
    prefs.output_dir = str(tmp_path / "renders")
    scene.frame_current = playhead
    stylize = importlib.import_module(addon.__name__ + ".stylize")
    operators = importlib.import_module(addon.__name__ + ".operators")
    editor = scene.sequence_editor
    names = _operators(addon)
    assert {"vtoonify_stylize", "vtoonify_preview", "vtoonify_versions_purge"} <= set(names)
    for kind, strip in [*_odd_strips(scene, movie, media_dir).items(), ("none", None)]:
        editor.active_strip = strip
        log: list = []
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
        for name in names:
            operator = getattr(bpy.ops.sequencer, name)
            if operator.poll():
                continue
            with pytest.raises(RuntimeError) as refused:  # what Blender shows greyed out, with its reason
                operator()
            reason = str(refused.value).split("Error: ", 1)[-1].strip()
            assert reason and "poll() failed" not in reason, (kind, name, str(refused.value))
            said = reason.split(".poll() ", 1)[-1]  # Blender's own prefix names the operator, not ours
            assert not _TECHNICAL.search(said), (kind, name, said)
            assert not (name == "vtoonify_preview" and "to stylize" in said), said
            assert not re.search(r"frames (\d+)-\1\b", said), said  # one frame is "frame N"
        if operators.VTOON_OT_stylize.poll(bpy.context):
            try:
                prepared = operators.VTOON_OT_stylize._prepare(
                    operators.VTOON_OT_stylize, bpy.context, scene, operators._source_of(scene, strip)
                )
            except stylize.StripError as err:  # refused with the problem and the fix
                assert err.message and err.fix, (kind, err)
            else:
                assert prepared.source_numbers, kind


def _menu_entries(addon) -> tuple[set, list]:
    """(operators, labels) the add-on's menu entries reach, through its submenus, as F3 menu search
    (which lists menu entries, not bare operators) and the keyboard see them."""
    menus = importlib.import_module(addon.__name__ + ".menus")
    log: list = []
    for drawer in menus.DRAWERS.values():
        drawer(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    for kind, name in list(log):
        if kind == "menu":
            getattr(bpy.types, name).draw(SimpleNamespace(layout=CheckingLayout(log)), bpy.context)
    return {name for kind, name in log if kind == "operator"}, log


def test_every_operator_is_a_named_menu_entry_with_a_description(addon, trimmed_scene):
    """F3 finds each operator by a menu entry; the panel's icon-only version arrows say which way they
    go; rendering is no redo-able step (F9 would render again), the quick edits are."""
    reached, _log = _menu_entries(addon)
    contextual = {"vtoonify_copy_fetch_command"}  # a button beside the fetch command it copies
    assert {f"sequencer.{n}" for n in _operators(addon)} - reached == {f"sequencer.{n}" for n in contextual}
    for cls in addon.classes:
        if getattr(cls, "bl_idname", "").startswith("sequencer."):
            rna = getattr(bpy.ops.sequencer, cls.bl_idname.split(".")[1]).get_rna_type()
            assert rna.name.startswith(("Stylize", "Preview")) or "VToonify" in rna.name, rna.name
            assert len(rna.description) > 20, (cls.bl_idname, rna.description)
    step = addon.operators.VTOON_OT_version_step
    older, newer = (step.description(bpy.context, SimpleNamespace(step=s)) for s in (-1, 1))
    assert "previous" in older and "next" in newer
    flags = {
        cls.bl_idname.split(".")[1]: set(getattr(cls, "bl_options", set()))
        for cls in addon.classes
        if getattr(cls, "bl_idname", "").startswith("sequencer.")
    }
    assert "REGISTER" not in flags["vtoonify_stylize"] and "UNDO" in flags["vtoonify_stylize"]
    assert not flags["vtoonify_preview"] and not flags["vtoonify_versions_purge"]  # timer / files: own steps
    assert {"REGISTER", "UNDO"} <= flags["vtoonify_select_result"] & flags["vtoonify_match_placement"]
    assert {"REGISTER", "UNDO"} <= flags["vtoonify_follow_speed"]  # a quick edit, like Match Placement
