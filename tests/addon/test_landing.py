"""Where a finished render lands after the artist edited its source strip meanwhile (no bpy)."""

from __future__ import annotations

from vtoonify_addon.core.landing import SourceMark, busy_edit, find_source, landing, landing_waits, waiting_text

BEFORE = SourceMark("plate", "/shots/529.mp4", (4, 5, 6), 104)


def test_untouched_source_lands_where_it_was():
    place = landing(BEFORE, BEFORE, "Scene", True, "/out/plate/v001")
    assert (place.frame_start, place.strip_name, place.problem, place.note) == (104, "plate", "", "")


def test_moved_source_takes_the_result_along_and_says_so():
    place = landing(BEFORE, SourceMark("plate", "/shots/529.mp4", (4, 5, 6), 90), "Scene", True, "/out")
    assert place.frame_start == 90 and "moved by -14 frames" in place.note


def test_trimmed_slipped_or_reversed_source_gets_nothing():
    for numbers in ((4, 5), (5, 6, 7), (6, 5, 4)):
        place = landing(BEFORE, SourceMark("plate", "/shots/529.mp4", numbers, 104), "Scene", True, "/out/v001")
        assert place.frame_start is None and "trimmed or retimed" in place.problem
        assert "kept in /out/v001" in place.problem and place.fix


def test_relinked_deleted_source_and_deleted_scene_get_nothing():
    relinked = landing(BEFORE, SourceMark("plate", "/shots/other.mp4", (4, 5, 6), 104), "Scene", True, "/o")
    assert relinked.frame_start is None and "another file" in relinked.problem
    gone = landing(BEFORE, None, "Scene", True, "/o")
    assert gone.frame_start is None and "'plate' was deleted" in gone.problem
    no_scene = landing(BEFORE, BEFORE, "Shot 10", False, "/o")
    assert no_scene.frame_start is None and "scene 'Shot 10' was deleted" in no_scene.problem


def test_a_renamed_source_is_found_by_its_frames_only_when_unambiguous():
    renamed = SourceMark("hero", "/shots/529.mp4", (4, 5, 6), 104)
    assert find_source(BEFORE, {"hero": renamed}) == renamed
    assert "renamed to 'hero'" in landing(BEFORE, renamed, "Scene", True, "/o").note
    copy = SourceMark("hero.001", "/shots/529.mp4", (4, 5, 6), 104)
    assert find_source(BEFORE, {"hero": renamed, "hero.001": copy}) is None  # two twins: no guessing
    assert find_source(BEFORE, {"hero": SourceMark("hero", "/shots/529.mp4", (4, 5, 6), 110)}) is None
    same_name = SourceMark("plate", "/shots/529.mp4", (1, 2), 104)  # the name wins: then judged as trimmed
    assert find_source(BEFORE, {"plate": same_name, "hero": renamed}) == same_name


def test_a_preview_lands_over_the_source_frame_it_was_rendered_from():
    """Preview of engine frame 5, asked at timeline 105 (offset 1 into BEFORE)."""
    from vtoonify_addon.core.landing import preview_landing

    still = preview_landing(BEFORE, BEFORE, 5, 105, "Scene", True)
    assert (still.frame_start, still.note, still.problem) == (105, "", "")
    moved = preview_landing(BEFORE, SourceMark("plate", "/shots/529.mp4", (4, 5, 6), 130), 5, 105, "Scene", True)
    assert moved.frame_start == 131 and "the preview follows it" in moved.note
    trimmed = preview_landing(BEFORE, SourceMark("plate", "/shots/529.mp4", (5, 6), 105), 5, 105, "Scene", True)
    assert trimmed.frame_start == 105  # its first frame now shows engine frame 5
    cut = preview_landing(BEFORE, SourceMark("plate", "/shots/529.mp4", (6,), 106), 5, 105, "Scene", True)
    assert cut.frame_start is None and "no longer shows source frame 5" in cut.problem and cut.fix
    gone = preview_landing(BEFORE, None, 5, 105, "Scene", True)
    assert gone.frame_start is None and "strip 'plate' was deleted while its preview rendered" in gone.problem
    assert "Preview again" in gone.fix
    relinked = preview_landing(BEFORE, SourceMark("plate", "/x.mp4", (4, 5, 6), 104), 5, 105, "Scene", True)
    assert relinked.frame_start is None and "another file" in relinked.problem
    no_scene = preview_landing(BEFORE, BEFORE, 5, 105, "Shot", False)
    assert no_scene.frame_start is None and "scene 'Shot' was deleted" in no_scene.problem


def test_a_finished_render_waits_for_the_edit_in_progress_but_not_for_ever():
    own = "sequencer.vtoonify_stylize"
    assert busy_edit([], own) == "" and busy_edit(["SEQUENCER_OT_vtoonify_stylize"], own) == ""
    edit = busy_edit(["SEQUENCER_OT_vtoonify_stylize", "TRANSFORM_OT_seq_slide"], own)
    assert edit == "TRANSFORM_OT_seq_slide"
    assert landing_waits(edit, 0.0) and landing_waits(edit, 119.0)
    assert not landing_waits(edit, 120.0)  # an add-on's endless modal operator: it lands anyway
    assert not landing_waits("", 0.0)
    assert waiting_text(edit) == ("VToonify: rendered; the result lands as soon as the current edit "
                                  "(TRANSFORM_OT_seq_slide) ends")
