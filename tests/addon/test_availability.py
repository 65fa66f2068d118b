"""Why Preview is greyed out and what Stylize says about other selected strips (bpy-free)."""

from __future__ import annotations

from vtoonify_addon.core.availability import playhead_blocker, selection_note, stylize_blocker


def test_preview_is_greyed_with_the_frames_while_the_playhead_is_off_the_strip():
    assert playhead_blocker(104, 104, 125, "plate") == ""
    assert playhead_blocker(124, 104, 125, "plate") == ""
    reason = playhead_blocker(125, 104, 125, "plate")
    assert reason == ("The playhead (frame 125) is not on strip 'plate' (frames 104-124): move the playhead onto "
                      "the strip to preview that frame")


def test_other_selected_strips_are_named_and_the_way_to_render_them_said():
    assert selection_note("plate", []) == ""
    note = selection_note("plate", ["b", "c", "d", "e", "f"])
    assert note.startswith("only the active strip 'plate' is stylized; the other selected strip(s) 'b', 'c', 'd' "
                           "and 2 more are not")
    assert note.endswith("make each active in turn (click it) and Stylize it")


def test_a_preview_overlay_is_no_strip_to_stylize():
    from vtoonify_addon.core.availability import stylize_blocker

    reason = stylize_blocker(has_editor=True, strip_type="IMAGE", source_type="IMAGE", is_preview=True)
    assert reason.startswith("The active strip is a VToonify Preview overlay: click its source strip")
    assert stylize_blocker(has_editor=True, strip_type="IMAGE", source_type="IMAGE") == ""


def test_the_panel_says_to_save_first_only_while_renders_would_go_beside_an_unsaved_file():
    from vtoonify_addon.core.availability import unsaved_output_note

    assert unsaved_output_note("//vtoonify/", blend_saved=False).startswith(
        "Renders go to //vtoonify/ beside the .blend file: save it first (File > Save)")
    assert unsaved_output_note("//vtoonify/", blend_saved=True) == ""
    assert unsaved_output_note("/shots/toon/", blend_saved=False) == ""


def test_a_source_that_cannot_be_read_greys_the_button_with_problem_and_fix():
    reason = stylize_blocker(has_editor=True, strip_type="META", source_type="MOVIE", engine_missing=True,
                             source_problem=("movie strip 'plate' has 3 retiming keys", "reset the retiming"))
    assert reason == "The movie strip 'plate' has 3 retiming keys. Fix: reset the retiming"
    assert stylize_blocker(has_editor=True, strip_type="MOVIE", source_type="MOVIE", source_problem=None) == ""
