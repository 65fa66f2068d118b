"""Strip -> engine frame numbers, checked against what Blender shows for the same strips.

Expected numbers were read from Blender's own renders (bpy 4.2.23 and 5.0.1: a 29-frame 15 fps clip
whose frames carry their index as a bit pattern, added with "adjust playback rate" to 24/30/20 fps
scenes) and by hand from Blender's give-frame-index rule (round half up, single precision).
"""

from __future__ import annotations

import pytest

from vtoonify_addon.core.frame_mapping import (
    StripTiming,
    content_length,
    media_index,
    media_length_from_probe,
    playback_factor,
    range_text,
    source_frame_numbers,
)


def movie(frame_start=101, length=29, head=0, tail=0, anim_head=0, anim_tail=0, scene_fps=None, **kw) -> StripTiming:
    media = length - anim_head - anim_tail
    rate = playback_factor(15.0, scene_fps) if scene_fps else 1.0
    duration = content_length(media, rate)
    return StripTiming(frame_start=frame_start, frame_final_start=frame_start + head,
                       frame_final_end=frame_start + duration - tail, frame_duration=duration,
                       animation_offset_start=anim_head, playback_rate=rate, media_length=media, **kw)


def test_untrimmed_strip_maps_to_all_frames_from_one():
    assert source_frame_numbers(movie()) == list(range(1, 30))


def test_trimmed_handles_at_101():
    timing = movie(head=3, tail=5)  # the acceptance scene: visible 104..124
    assert (timing.frame_final_start, timing.frame_final_end) == (104, 125)
    numbers = source_frame_numbers(timing)
    assert len(numbers) == 21
    assert numbers[0] == 4 and numbers[-1] == 24


def test_animation_offset_shifts_media_not_timeline():
    timing = movie(anim_head=2, head=1)
    assert timing.frame_duration == 27
    assert source_frame_numbers(timing)[:3] == [4, 5, 6]  # media index 2 + 1 visible-cut + start 1


def test_start_number_follows_engine_convention():
    assert source_frame_numbers(movie(head=3, tail=5), start_number=1001)[0] == 1004


# what Blender 4.2.23 and 5.0.1 render for the coded 15 fps clip (media index + 1), first 16 frames
BLENDER_SHOWS = {
    24: [1, 2, 2, 3, 4, 4, 5, 5, 6, 7, 7, 8, 9, 9, 10, 10],
    20: [1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12, 12],
    30: [1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9],
}


@pytest.mark.parametrize("scene_fps", sorted(BLENDER_SHOWS))
def test_adjusted_rate_rounds_half_up_like_blender(scene_fps):
    timing = movie(scene_fps=scene_fps, head=0)
    assert source_frame_numbers(timing)[:16] == BLENDER_SHOWS[scene_fps]


def test_fps_ratio_15_on_24_stretches_and_holds_frames():
    timing = movie(scene_fps=24)  # 29 media frames last 46 scene frames
    assert timing.frame_duration == 46
    numbers = source_frame_numbers(timing)
    assert numbers[-1] == 29
    assert sorted(set(numbers)) == list(range(1, 30))


def test_fps_ratio_on_a_faster_clip_skips_frames():
    timing = StripTiming(frame_start=1, frame_final_start=1, frame_final_end=25, frame_duration=24,
                         playback_rate=1.25, media_length=30)
    assert source_frame_numbers(timing)[:5] == [1, 2, 4, 5, 6]


def test_reversed_strip_counts_back_from_the_end():
    timing = movie(head=3, tail=5, reverse=True)
    numbers = source_frame_numbers(timing)
    assert numbers[0] == 26 and numbers[-1] == 6


def test_strobe_holds_frames():
    assert source_frame_numbers(movie(strobe=3.0))[:7] == [1, 1, 1, 4, 4, 4, 7]


def test_fractional_frame_start_rounds_half_up():
    timing = StripTiming(frame_start=100.5, frame_final_start=101, frame_final_end=104, frame_duration=29)
    assert [media_index(timing, t) for t in range(101, 104)] == [1, 2, 3]


def test_empty_range_is_rejected():
    with pytest.raises(ValueError, match="empty strip range"):
        StripTiming(frame_start=1, frame_final_start=5, frame_final_end=5, frame_duration=10)


def test_media_length_comes_back_from_a_fast_probe_rate():
    probe = playback_factor(15.0, 60.0)  # the add-on probes at 4x the clip's rate
    for length in (1, 2, 29, 30, 1001, 86399):
        assert media_length_from_probe(content_length(length, probe), probe) == length
    assert content_length(29, playback_factor(15.0, 24.0)) == 46  # Blender's frame_duration


@pytest.mark.parametrize("numbers, text", [
    ([4, 5, 6], "4-6"), ([1, 1, 2, 2, 3], "1-3"), ([9, 4, 5, 6], "4-6,9"), ([7], "7"),
    ([1, 2, 4, 6, 7], "1-2,4,6-7"),
])
def test_range_text(numbers, text):
    assert range_text(numbers) == text


def test_range_text_round_trips_through_the_engine_parser():
    from engine.pipeline.frames import parse_frame_ranges

    numbers = source_frame_numbers(movie(scene_fps=10, length=30, head=2, tail=3))
    assert parse_frame_ranges(range_text(numbers)) == sorted(set(numbers))


def test_frames_past_the_media_end_hold_the_last_frame():
    # right handle dragged 4 frames past the 29-frame clip: Blender keeps showing media frame 29
    timing = StripTiming(frame_start=101, frame_final_start=104, frame_final_end=134, frame_duration=29)
    numbers = source_frame_numbers(timing)
    assert numbers == list(range(4, 30)) + [29, 29, 29, 29]
    assert range_text(numbers) == "4-29"


def test_frames_before_the_media_start_hold_the_first_frame_and_reverse_holds_too():
    timing = StripTiming(frame_start=101, frame_final_start=98, frame_final_end=103, frame_duration=29)
    assert source_frame_numbers(timing) == [1, 1, 1, 1, 2]
    rev = StripTiming(frame_start=101, frame_final_start=128, frame_final_end=132, frame_duration=29, reverse=True)
    assert source_frame_numbers(rev) == [2, 1, 1, 1]


def test_hold_respects_animation_offset_and_rate():
    # 10 media frames cut from the head; 15 fps media stretched on 30 fps: index never passes the clip
    timing = StripTiming(frame_start=1, frame_final_start=1, frame_final_end=50, frame_duration=38,
                         animation_offset_start=10, playback_rate=0.5, media_length=19)
    numbers = source_frame_numbers(timing)
    assert numbers[0] == 11 and max(numbers) == 11 + 18 and numbers[-12:] == [29] * 12


def test_a_retimed_movie_refusal_names_the_keys_the_api_limit_and_both_fixes():
    from vtoonify_addon.core.frame_mapping import retimed_movie_refusal

    problem, fix = retimed_movie_refusal("plate", 3)
    assert problem.startswith("movie strip 'plate' has 3 retiming keys (Strip > Retiming).")
    assert "only a key's place on the timeline, not the movie frame it holds" in problem
    assert "Strip > Retiming > Reset Retiming" in fix and "render the retimed strip to a movie" in fix
