"""Timecode arithmetic (non-drop and SMPTE drop-frame), SMPTE packing and reading it from sources."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import InputError
from engine.io import open_source
from engine.io.timecode import (
    SourceTimecode,
    Timecode,
    frames_to_timecode,
    from_smpte_words,
    parse_timecode,
    source_timecode,
    standard_rate,
    timecode_to_frames,
    to_smpte_words,
)

NTSC, NTSC60, FILM = Fraction(30000, 1001), Fraction(60000, 1001), Fraction(24000, 1001)


def test_parse_and_print():
    assert parse_timecode("01:02:03:04") == Timecode(1, 2, 3, 4, False)
    assert parse_timecode("01:02:03;04") == Timecode(1, 2, 3, 4, True)
    assert parse_timecode("01:02:03.04").drop_frame  # FFmpeg writes '.' for drop-frame too
    assert str(Timecode(1, 2, 3, 4, True)) == "01:02:03;04" and str(Timecode(0, 0, 0, 9)) == "00:00:00:09"
    for bad in ("1:2:3", "25:00:00:00", "00:61:00:00", "junk"):
        with pytest.raises(ValueError):
            parse_timecode(bad)


def test_standard_rates_snap():
    assert standard_rate(29.97002997) == NTSC and standard_rate(Fraction(2997, 100)) == NTSC
    assert standard_rate(23.976) == FILM and standard_rate(25.0) == 25 and standard_rate(12.5) == Fraction(25, 2)


def test_non_drop_counts_nominal_frames_per_second():
    assert timecode_to_frames(parse_timecode("01:00:00:00"), Fraction(24)) == 86400
    assert timecode_to_frames(parse_timecode("01:00:00:00"), FILM) == 86400  # 23.976 counts 24 per second
    assert str(frames_to_timecode(86400 + 23, FILM)) == "01:00:00:23"
    assert str(frames_to_timecode(86400 + 24, FILM)) == "01:00:01:00"
    assert str(frames_to_timecode(24 * 86400, Fraction(24))) == "00:00:00:00"  # wraps at 24 hours


@pytest.mark.parametrize(("count", "label"), [
    (1799, "00:00:59;29"), (1800, "00:01:00;02"), (1801, "00:01:00;03"),
    (3597, "00:01:59;29"), (3598, "00:02:00;02"),
    (17981, "00:09:59;29"), (17982, "00:10:00;00"), (17983, "00:10:00;01"),   # minute 10 keeps ;00 ;01
    (107891, "00:59:59;29"), (107892, "01:00:00;00"),
])
def test_drop_frame_29_97_skips_two_labels_except_every_tenth_minute(count, label):
    assert str(frames_to_timecode(count, NTSC, drop_frame=True)) == label
    assert timecode_to_frames(parse_timecode(label), NTSC) == count


def test_drop_frame_59_94_skips_four_labels():
    assert str(frames_to_timecode(3599, NTSC60, True)) == "00:00:59;59"
    assert str(frames_to_timecode(3600, NTSC60, True)) == "00:01:00;04"
    assert timecode_to_frames(parse_timecode("00:10:00;00"), NTSC60) == 10 * 3600 - 9 * 4


def test_drop_frame_round_trips_a_whole_day_sampled():
    for count in range(0, 2_589_408, 997):  # 29.97 DF has 2,589,408 labels a day
        tc = frames_to_timecode(count, NTSC, True)
        assert timecode_to_frames(tc, NTSC) == count


def test_labels_that_drop_frame_skips_are_refused():
    with pytest.raises(ValueError, match="does not exist"):
        timecode_to_frames(parse_timecode("00:01:00;00"), NTSC)
    with pytest.raises(ValueError, match="frame 30"):
        timecode_to_frames(parse_timecode("00:00:00:30"), NTSC)


def test_drop_frame_flag_on_a_rate_without_drop_frame_counts_non_drop():
    tc = SourceTimecode(parse_timecode("01:00:00;23"), FILM, 1)  # no DF exists at 23.976
    assert str(tc.at(2)) == "01:00:01:00" and not tc.to_dict()["drop_frame"]


def test_source_timecode_offsets_by_frame_number_across_a_minute():
    tc = SourceTimecode(parse_timecode("00:00:59;28"), NTSC, 1001)
    assert [str(tc.at(n)) for n in range(1001, 1005)] == ["00:00:59;28", "00:00:59;29", "00:01:00;02",
                                                          "00:01:00;03"]
    assert tc.to_dict() == {"start": "00:00:59;28", "rate": "30000/1001", "fps": 29.97, "drop_frame": True,
                            "first_frame": 1001}


def test_smpte_words_round_trip_and_match_oiio_decoding():
    tc = Timecode(23, 59, 58, 27, True)
    words = to_smpte_words(tc)
    assert from_smpte_words(words) == tc
    spec = oiio.ImageSpec(2, 2, 3, oiio.HALF)
    spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, words)
    assert "smpte:TimeCode: 23:59:58:27" in spec.serialize("text", "detailedhuman")  # OIIO's own decoder


@pytest.mark.parametrize("frames", [0, 1, 38, 59])
def test_above_30_fps_the_word_counts_frame_pairs(frames):
    tc = Timecode(1, 2, 3, frames, True)
    words = to_smpte_words(tc, fps=60)
    assert words[0] & 0x3F == int(f"{frames // 2:02d}", 16)  # BCD pair number, never spilling into flags
    assert bool(words[0] & 0x40) and bool(words[0] & 0x8000) == bool(frames % 2)
    assert from_smpte_words(words, fps=60) == tc


@pytest.mark.parametrize("rate", [Fraction(100), Fraction(120), Fraction(240)])
def test_above_60_fps_no_exr_timecode_word_is_written_only_the_text(rate):
    # Before: frame 100 of a second at 120 fps packed pair 50 as BCD 0x50, whose 0x40 bit is the drop-frame
    # flag: the EXR timeCode read back as 01:02:03;10, a wrong and drop-frame label.
    source = SourceTimecode(Timecode(1, 2, 3, 0), rate, first_frame=1)
    for frame in (1, 81, 100):
        attributes = source.exr_attributes(frame)
        assert "smpte:TimeCode" not in attributes
        assert attributes["framesPerSecond"][1] == (rate.numerator, rate.denominator)
        assert source.text_attributes(frame)["vtoonify/timecode"] == f"01:02:03:{frame - 1:02d}"
    words = SourceTimecode(Timecode(1, 2, 3, 0), Fraction(60), 1).exr_attributes(60)["smpte:TimeCode"][1]
    assert from_smpte_words(words, fps=60) == Timecode(1, 2, 3, 59)  # up to 60 fps the word holds every frame


def _mov(path, timecode, rate=NTSC, frames=2):
    with av.open(str(path), "w") as out:
        if timecode:
            out.metadata["timecode"] = timecode
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), "rgb24")))
        out.mux(stream.encode())


def test_video_timecode_is_read_from_the_tmcd_track(tmp_path):
    _mov(tmp_path / "tc.mov", "01:00:59;28")
    with av.open(str(tmp_path / "tc.mov")) as c:
        assert any(s.type == "data" for s in c.streams)  # FFmpeg wrote a tmcd track
    with open_source(tmp_path / "tc.mov", start_number=1001) as source:
        tc = source_timecode(source)
    assert tc.start == parse_timecode("01:00:59;28") and tc.rate == NTSC and tc.first_frame == 1001
    assert str(tc.at(1003)) == "01:01:00;02"


def test_video_without_timecode_gives_none_and_a_bad_one_is_refused(tmp_path):
    _mov(tmp_path / "none.mov", None)
    with open_source(tmp_path / "none.mov") as source:
        assert source_timecode(source) is None
    _mov(tmp_path / "tagged.mkv", "10:00:00;02")  # Matroska keeps the tag as text, spelled TIMECODE
    with open_source(tmp_path / "tagged.mkv") as source:
        assert str(source_timecode(source).start) == "10:00:00;02"
    _mov(tmp_path / "bad.mkv", "00:01:00;00")  # a label drop-frame skips (MOV would renumber it)
    with open_source(tmp_path / "bad.mkv") as source, pytest.raises(InputError, match="invalid start timecode"):
        source_timecode(source)


def _exr(path, timecode=None, fps=None):
    spec = oiio.ImageSpec(8, 8, 3, oiio.HALF)
    if timecode:
        spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, to_smpte_words(parse_timecode(timecode)))
    if fps:
        spec.attribute("FramesPerSecond", oiio.TypeRational, fps)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(np.full((8, 8, 3), 0.2, np.float32))
    out.close()


def test_sequence_timecode_comes_from_its_first_file(tmp_path):
    for frame, label in ((11, "10:00:00:23"), (12, "10:00:01:00")):
        _exr(tmp_path / f"plate.{frame:04d}.exr", label, (24, 1))
    with open_source(str(tmp_path / "plate.####.exr")) as source:
        tc = source_timecode(source)
    assert (str(tc.start), tc.rate, tc.first_frame) == ("10:00:00:23", 24, 11)
    assert str(tc.at(12)) == "10:00:01:00"


def test_dpx_sequence_timecode_and_frame_rate(tmp_path):
    spec = oiio.ImageSpec(8, 8, 3, oiio.UINT16)
    spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, to_smpte_words(parse_timecode("10:00:59;29")))
    spec.attribute("dpx:FrameRate", 29.97)
    out = oiio.ImageOutput.create("dpx")
    assert out.open(str(tmp_path / "scan.0100.dpx"), spec)
    out.write_image(np.zeros((8, 8, 3), np.uint16))
    out.close()
    with open_source(str(tmp_path / "scan.####.dpx")) as source:
        tc = source_timecode(source)
    assert tc.rate == NTSC and str(tc.at(101)) == "10:01:00;02"


def test_sequence_without_timecode_or_rate_gives_none(tmp_path):
    _exr(tmp_path / "a.0001.exr")
    _exr(tmp_path / "b.0001.exr", "01:00:00:00")  # a label with no rate: not counted on, never guessed
    for stem in ("a", "b"):
        with open_source(str(tmp_path / f"{stem}.####.exr")) as source:
            assert source_timecode(source) is None


def _plate_with_rate(path, label: str, fps) -> None:
    """An 8x8 EXR plate with a timecode and ``fps`` as given (any type) in its FramesPerSecond."""
    spec = oiio.ImageSpec(8, 8, 3, oiio.HALF)
    spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, to_smpte_words(parse_timecode(label)))
    spec.attribute("FramesPerSecond", fps)
    out = oiio.ImageOutput.create("openexr")
    assert out.open(str(path), spec)
    out.write_image(np.zeros((8, 8, 3), np.float32))
    out.close()


@pytest.mark.parametrize(("fps", "rate", "next_label"), [
    (25.0, Fraction(25), "10:00:00:24"), (23.976, FILM, "10:00:01:00"), (24, Fraction(24), "10:00:01:00"),
    ("24000/1001", FILM, "10:00:01:00"), (" 25 ", Fraction(25), "10:00:00:24")])
def test_a_frame_rate_written_as_a_number_or_text_counts_like_the_rational(tmp_path, fps, rate, next_label):
    # oiiotool --attrib and scripts write framesPerSecond as a float, int or text, not OpenEXR's rational:
    # a float crashed the render (TypeError), the text "24" read as the pair ("2", "4"): 1/2 fps
    _plate_with_rate(tmp_path / "plate.0011.exr", "10:00:00:23", fps)
    with open_source(str(tmp_path / "plate.####.exr")) as source:
        tc = source_timecode(source)
    assert tc.rate == rate and str(tc.at(12)) == next_label


@pytest.mark.parametrize("fps", ["fast", float("nan"), -24.0])
def test_a_frame_rate_that_is_no_rate_is_refused_with_a_fix(tmp_path, fps):
    _plate_with_rate(tmp_path / "plate.0001.exr", "10:00:00:00", fps)
    with open_source(str(tmp_path / "plate.####.exr")) as source, \
            pytest.raises(InputError, match="invalid frame rate"):
        source_timecode(source)
