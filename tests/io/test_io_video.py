"""Video sources: exact frame counts, frame-accurate random access, damaged and non-video files."""

from __future__ import annotations

import hashlib
import json
import random
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from rotated_clip import rotated_copy

from engine.errors import FrameRangeError, InputError
from engine.io import FrameSource, open_source


def decode_all(path) -> list[np.ndarray]:
    """Independent ground truth: one plain sequential PyAV decode, no seeking."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("name,count,fps,size", [("529_2.mp4", 29, 15.0, (376, 352)),
                                                 ("651.mp4", 62, 24.0, (392, 360))])
def test_random_order_reads_equal_sequential_decode(media_dir, name, count, fps, size):
    truth = decode_all(media_dir / name)
    assert len(truth) == count
    with open_source(media_dir / name) as src:
        assert isinstance(src, FrameSource) and src.kind == "video"
        assert src.frame_numbers == list(range(1, count + 1))
        assert src.fps == pytest.approx(fps) and src.size == size
        assert src.path_pattern == str(media_dir / name) and src.files() == [str(media_dir / name)]
        order = list(src.frame_numbers)
        random.Random(7).shuffle(order)
        for number in order:
            np.testing.assert_array_equal(src.read(number), truth[number - 1], err_msg=f"frame {number}")


def test_many_keyframes_seek_and_read_many(media_dir):
    """529.mp4 has a keyframe every 12 frames, so random access really seeks."""
    truth = decode_all(media_dir / "529.mp4")
    with open_source(media_dir / "529.mp4", start_number=1001) as src:
        assert len(src) == 300 and src.frame_numbers[0] == 1001 and src.frame_numbers[-1] == 1300
        picks = random.Random(3).sample(src.frame_numbers, 40) + [1300, 1001, 1013, 1012, 1024, 1025]
        for number in picks:
            np.testing.assert_array_equal(src.read(number), truth[number - 1001], err_msg=f"frame {number}")
        run = list(range(1150, 1190)) + [1010, 1011]
        got = list(src.read_many(run))
        assert [n for n, _ in got] == run
        for number, rgb in got:
            np.testing.assert_array_equal(rgb, truth[number - 1001], err_msg=f"frame {number}")


@pytest.mark.parametrize("stem", ["529_2", "651", "7154235"])
def test_first_frame_matches_opencv_reference(media_dir, reference_dir, stem):
    """The official code decodes with OpenCV; our first frame is byte-identical to the golden PNG."""
    golden = json.loads((reference_dir / "preprocess_golden.json").read_text())
    entry = next(e for e in golden["entries"] if e["source"].endswith(f"{stem}.mp4"))
    with open_source(media_dir / f"{stem}.mp4") as src:
        frame = src.read(1)
        assert len(src) == entry["video_meta"]["frame_count"]
        assert src.fps == pytest.approx(entry["video_meta"]["fps"])
    reference = cv2.cvtColor(cv2.imread(str(reference_dir / "preprocess" / f"{stem}_frame0.png")),
                             cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(frame, reference)
    assert hashlib.sha256(frame.tobytes()).hexdigest() == entry["decoded_rgb_sha256"]


def _write_vfr_video(path, count: int) -> list[int]:
    """Tiny H.264 (B-frames, GOP 6) with irregular frame durations; frame i is grey level 6*i."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    durations = random.Random(1)
    stamps = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=1000)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"bf": "2", "g": "6", "keyint_min": "6", "sc_threshold": "0"}
        t = 0
        for i in range(count):
            image = np.full((48, 64, 3), 6 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            stamps.append(t)
            t += durations.choice([20, 33, 50, 100])
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return stamps


def test_variable_frame_rate_with_b_frames(tmp_path):
    """Frame n shows the last picture stamped at or before (n - start) / fps, as Blender shows VFR
    clips (tests/io/test_vfr_grid.py, tests/blender/test_vfr_frames.py)."""
    path = tmp_path / "vfr.mp4"
    stamps = _write_vfr_video(path, 40)
    with open_source(path, start_number=101) as src:
        assert src.frame_grid is not None and src.frame_grid.pictures == 40
        assert src.frame_numbers == list(range(101, 101 + src.frame_grid.frames))
        for number in [140, 105, 101, 120, 119, 133, 102, 103, 139, src.frame_numbers[-1]]:
            seconds = (number - 101) / src.fps
            picture = max(i for i, t in enumerate(stamps) if t / 1000 <= seconds + 1e-9)
            level = float(src.read(number).mean())
            assert abs(level - 6 * picture) < 3, f"frame {number} has level {level}, not picture {picture}"


def test_truncated_without_index_is_input_error(media_dir, tmp_path):
    data = (media_dir / "529_2.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        open_source(path)
    assert "cut.mp4" in info.value.message and "truncated" in info.value.message
    assert info.value.fix


def test_truncated_with_index_first_keeps_decodable_frames(media_dir, tmp_path):
    """A 'faststart' file cut in half still opens: only the frames that decode are numbered."""
    full = tmp_path / "faststart.mp4"
    with av.open(str(media_dir / "651.mp4")) as src, av.open(str(full), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = full.read_bytes()
    cut = tmp_path / "faststart_cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    truth = decode_all(media_dir / "651.mp4")
    with open_source(cut) as src:
        assert src.truncated and src.expected_frames == 62
        assert 0 < len(src) < 62 and src.frame_numbers == list(range(1, len(src) + 1))
        for number in reversed(src.frame_numbers):
            np.testing.assert_array_equal(src.read(number), truth[number - 1])
        assert src.damaged_frames == list(range(len(src) + 1, 63))   # the lost tail is damage, named
        with pytest.raises(InputError, match="cannot be decoded"):
            src.read(len(src) + 1)
        with pytest.raises(FrameRangeError):
            src.read(63)
    with open_source(full) as intact:
        assert not intact.truncated and len(intact) == 62


def _remux(source, target, container_format: str) -> bytes:
    with av.open(str(source)) as src, av.open(str(target), "w", format=container_format) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return target.read_bytes()


def test_truncated_mkv_without_frame_count_is_flagged(media_dir, tmp_path):
    """Matroska stores no frame count: the header duration reveals the cut."""
    data = _remux(media_dir / "651.mp4", tmp_path / "full.mkv", "matroska")
    with open_source(tmp_path / "full.mkv") as intact:
        assert not intact.truncated and len(intact) == 62
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    truth = decode_all(media_dir / "651.mp4")
    with open_source(cut) as src:
        assert src.truncated and 10 < len(src) < 62
        for number in (len(src), 1, len(src) // 2):
            np.testing.assert_array_equal(src.read(number), truth[number - 1])


def test_raw_h264_without_timestamps_reads_by_count(media_dir, tmp_path):
    """An elementary stream has no timestamps and cannot seek: frames are numbered in decode order."""
    _remux(media_dir / "529_2.mp4", tmp_path / "raw.h264", "h264")
    truth = decode_all(media_dir / "529_2.mp4")
    with open_source(tmp_path / "raw.h264") as src:
        assert len(src) == 29
        for number in (29, 2, 1, 15, 16, 3):
            np.testing.assert_array_equal(src.read(number), truth[number - 1], err_msg=f"frame {number}")


def test_text_file_named_mp4_is_input_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    with pytest.raises(InputError, match="not a readable video"):
        open_source(path)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "nope.mp4")
    assert "no such file" in info.value.message and "check the path" in info.value.fix


def test_out_of_range_and_closed(media_dir):
    src = open_source(media_dir / "908.mp4", start_number=0)
    assert src.frame_numbers == list(range(39))
    with pytest.raises(FrameRangeError, match="0-38"):
        src.read(39)
    with pytest.raises(FrameRangeError):
        src.read(-1)
    src.read(5)
    src.close()
    src.close()  # idempotent
    with pytest.raises(InputError, match="closed"):
        src.read(6)


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_display_rotation_is_applied_like_opencv(media_dir, tmp_path, degrees):
    """Phone footage: the display matrix turns the picture; OpenCV (the official reader) applies it."""
    path = rotated_copy(media_dir / "529_2.mp4", tmp_path / f"rot{degrees}.mp4", degrees)
    capture = cv2.VideoCapture(str(path))
    expected = []
    for _ in range(3):
        ok, bgr = capture.read()
        assert ok
        expected.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    with open_source(path) as src:
        assert src.size == (expected[0].shape[1], expected[0].shape[0])
        assert src.size == ((352, 376) if degrees != 180 else (376, 352))
        for number in (3, 1, 2):
            np.testing.assert_array_equal(src.read(number), expected[number - 1])
    with open_source(path, orientation="stored") as stored, open_source(media_dir / "529_2.mp4") as plain:
        assert stored.size == plain.size == (376, 352)  # as coded: what Blender 4.2's sequencer shows
        np.testing.assert_array_equal(stored.read(2), plain.read(2))


@pytest.mark.parametrize("orientation, other", [("display", "stored"), ("stored", "display")])
def test_no_face_in_a_rotated_clip_names_its_rotation_and_the_other_orientation(media_dir, tmp_path, orientation,
                                                                                other):
    # Before: the plain "no face was found" (face size advice) for a phone clip whose rotation metadata
    # is wrong, though the face only lies sideways; the message now says how the clip was read.
    from engine.errors import render_settings
    from engine.pipeline.render import rotation_note
    from engine.pipeline.shot import no_face_error

    path = rotated_copy(media_dir / "529_2.mp4", tmp_path / "phone.mp4", 90)
    with open_source(path, orientation=orientation) as src:
        error = no_face_error(src, 3)
        note = render_settings(rotation_note(src))  # every job on a rotated clip says how (a job warning), in flags
    assert "90-degree display rotation" in error.message
    assert f"render with --orientation {other};" in error.fix
    assert "carries a 90-degree display rotation" in note and f"render with --orientation {other}" in note
    assert ("Blender 5.0's sequencer show the clip" if orientation == "display" else "ignored") in note
    with open_source(media_dir / "529_2.mp4") as plain:
        assert "rotation" not in no_face_error(plain, 3).message and rotation_note(plain) is None


def test_an_interlaced_clip_is_named_with_a_conform_that_keeps_the_frame_numbers(media_dir, tmp_path):
    # Before: interlaced footage was stylized with its combing and nothing said so.
    from engine.pipeline.render import interlace_note

    path = tmp_path / "tape.mp4"
    with av.open(str(media_dir / "529_2.mp4")) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 376, 352, "yuv420p"
        stream.options = {"flags": "+ilme+ildct", "x264-params": "interlaced=1"}
        for number, frame in enumerate(src.decode(video=0)):
            if number == 2:
                break
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
        out.mux(stream.encode())
    with open_source(path) as src:
        note = interlace_note(src)
    assert "tape.mp4 is interlaced" in note and "bwdif=mode=send_frame" in note
    with open_source(media_dir / "529_2.mp4") as plain:
        assert interlace_note(plain) is None


@pytest.mark.parametrize("name", ["take:2.mp4", "c:clip.mp4", "http:x.mp4"])
def test_a_clip_whose_name_reads_like_a_url_opens_as_the_file(media_dir, tmp_path, monkeypatch, name):
    """FFmpeg takes ``take:`` in ``take:2.mp4`` for a protocol; the reader opens it as the local file it is."""
    from engine.io.timecode import video_timecode

    clip = tmp_path / name
    clip.write_bytes((media_dir / "529_2.mp4").read_bytes())
    truth = decode_all(media_dir / "529_2.mp4")
    monkeypatch.chdir(tmp_path)
    for path in (clip, name, f"./{name}"):  # absolute, relative, relative with ./ (pathlib drops it)
        with open_source(path) as src:
            assert src.frame_numbers == list(range(1, 30))
            np.testing.assert_array_equal(src.read(3), truth[2])
        assert video_timecode(path, None, 1) is None  # the clip carries no timecode: read, not refused
