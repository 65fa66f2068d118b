"""A landed result says when its source or the scene changed so that it no longer lines up."""

from vtoonify_addon.core.result_staleness import from_json, placement, placement_drift, stale_warning, to_json

TIMING = {"frame_start": 100, "offset_start": 3, "offset_end": 2, "duration": 20, "anim_start": 0,
          "anim_end": 0, "reverse": False, "strobe": 1.0, "retime_keys": 0, "speed": 1.0}


def made(fps=25.0, media="/clips/a.mov", start=103, end=118, **changes):
    return placement(media, fps, start, end, **{**TIMING, **changes})


def test_unchanged_is_not_stale_and_survives_json():
    stored = from_json(to_json(made()))
    assert stored == made()
    assert stale_warning(stored, made(), "a") is None


def test_scene_fps_change_is_told_with_the_fix():
    problem, fix = stale_warning(made(), made(fps=30.0), "a")
    assert "frame rate is now 30 fps" in problem and "made at 25 fps" in problem
    assert "Re-render" in fix and "Stylize" in fix and "25 fps" in fix
    assert "now 23.976 fps" in stale_warning(made(fps=24.0), made(fps=24000 / 1001), "a")[0]
    assert stale_warning(made(fps=30000 / 1001), made(fps=30000 / 1001 + 1e-7), "a") is None


def test_move_trim_retime_relink_and_delete_each_say_what_changed():
    moved = stale_warning(made(), made(start=113, end=128, frame_start=110), "a")
    assert "moved by +10 frames" in moved[0] and "move the result by +10" in moved[1]
    together = {"start": 113, "end": 128, "frame_start": 110}
    assert stale_warning({**made(), "result_start": 103}, {**made(**together), "result_start": 113}, "a") is None
    off = stale_warning({**made(), "result_start": 103}, {**made(), "result_start": 100}, "a")
    assert "this result was moved -3 frames" in off[0] and "move the result by +3" in off[1]
    trimmed = stale_warning(made(), made(end=115, offset_end=5), "a")
    assert "trimmed" in trimmed[0] and "Re-render" in trimmed[1]
    slipped = stale_warning(made(), made(frame_start=95, offset_start=8, offset_end=-3), "a")
    assert "slipped" in slipped[0]
    assert "retimed" in stale_warning(made(), made(retime_keys=2), "a")[0]
    assert "another file" in stale_warning(made(), made(media="/clips/b.mov"), "a")[0]
    assert "replaced" in stale_warning(made(size=1000), made(size=1200), "a")[0]
    assert "missing" in stale_warning(made(size=1000), made(size=None), "a")[0]
    # the project folder moved (same files, other paths): still in line
    assert stale_warning(made(media="/mnt/a/clips/a.mov", size=1000), made(media="D:\\b\\clips\\a.mov", size=1000),
                         "a") is None
    gone = stale_warning(made(), None, "a")
    assert "'a' is gone" in gone[0] and "undo" in gone[1]


def test_results_from_older_add_ons_are_not_flagged():
    assert stale_warning(None, made(), "a") is None
    assert from_json("") is None and from_json("{broken") is None and from_json("[1]") is None


def test_placement_drift_names_what_changed_on_the_source():
    look = {"transform.offset_x": 10.0, "transform.scale_x": 2.0, "crop.min_x": 0, "use_flip_x": False,
            "animation": ("offset_x keys",)}
    assert placement_drift(look, dict(look), "plate") is None
    moved = placement_drift({**look, "transform.offset_x": 70.0, "crop.min_x": 8}, look, "plate")
    assert moved[0] == ("Off its plate: the position/scale/rotation, crop of source strip 'plate' no longer match "
                        "this result's (changed after it landed), so the two no longer line up")
    assert moved[1].startswith("press Match Placement in the VToonify panel") and "no re-render" in moved[1]
    keyed = placement_drift({**look, "animation": ()}, look, "plate")
    assert "the placement animation of" in keyed[0]
    flipped = placement_drift({**look, "use_flip_x": True}, look, "p")
    assert "the flip of" in flipped[0]
    assert "the extra of" in placement_drift({**look, "extra": 1}, look, "p")[0]  # a setting of a newer Blender
