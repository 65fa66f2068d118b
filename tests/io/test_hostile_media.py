"""Media an outside reviewer crafts in a minute: lying headers, absurd timestamps, odd pixel formats.

Each file is made in tmp_path in milliseconds; each must give a clear InputError or the right pixels,
never a hang, a traceback or a multi-gigabyte allocation.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction

import av
import numpy as np
import OpenImageIO as oiio
import pytest
from cover_art import with_cover

from engine.errors import InputError
from engine.io import open_source
from engine.io.sequence import SequenceSource, parse_pattern


def _video(path, frames, codec="ffv1", pix_fmt="yuv444p", pts=None, fmt_in="rgb24"):
    """A tiny video of the given RGB(A) frames (optionally with explicit pts in 1/24 s)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format=fmt_in)
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 24)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _grey_frames(n, h=16, w=16, channels=3):
    return [np.full((h, w, channels), 40 * i + 20, np.uint8) for i in range(n)]


def _write_image(path, pixels, fmt=oiio.UINT8, edit=None):
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], fmt)
    if edit:
        edit(spec)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(pixels) and out.close()
    return path


@pytest.mark.timeout(20)
def test_avi_header_claiming_two_billion_frames_opens_at_once(tmp_path):
    # Before: the 2^31 frames the header claims were enumerated one by one as "damaged" (a hang).
    path = _video(tmp_path / "liar.avi", _grey_frames(3), codec="mpeg4", pix_fmt="yuv420p")
    data = bytearray(path.read_bytes())
    strh = data.find(b"strh")  # AVISTREAMHEADER: dwLength is 32 bytes into its payload
    data[strh + 40:strh + 44] = struct.pack("<I", 0x7FFFFFF0)
    avih = data.find(b"avih")  # AVIMAINHEADER: dwTotalFrames is 16 bytes into its payload
    data[avih + 24:avih + 28] = struct.pack("<I", 0x7FFFFFF0)
    path.write_bytes(bytes(data))
    with open_source(path) as source:
        assert source.frame_numbers == [1, 2, 3]
        assert np.allclose([source.read(n).mean() for n in (1, 2, 3)], [20, 60, 100], atol=2)


@pytest.mark.timeout(20)
def test_a_timestamp_fifty_years_in_is_numbered_in_presentation_order(tmp_path):
    # Before: the 1.5e12 "missing" frames between pts 1 and pts 50 years were enumerated (a hang).
    fifty_years = 24 * 3600 * 24 * 365 * 50
    path = _video(tmp_path / "jump.mkv", _grey_frames(3), pts=[0, 1, fifty_years])
    with open_source(path) as source:
        assert source.frame_numbers == [1, 2, 3] and source.damaged_frames == []
        assert np.allclose([source.read(n).mean() for n in (3, 1, 2)], [100, 20, 60], atol=2)


def test_exr_header_claiming_a_terapixel_display_window_is_refused_before_allocating(tmp_path):
    # Before: OIIO tried to allocate the 1M x 1M display window: MemoryError (std::bad_alloc) traceback.
    def huge(spec):
        spec.full_width = spec.full_height = 1 << 20

    path = _write_image(tmp_path / "bomb.exr", np.full((8, 8, 3), 0.5, np.float32), oiio.HALF, huge)
    assert path.stat().st_size < 2000
    with pytest.raises(InputError, match=r"declares a 1048576x1048576 display window"):
        open_source(path)


def test_sequence_member_claiming_another_size_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    for n in (1, 3):
        _write_image(tmp_path / f"shot.{n:04d}.png", np.full((16, 16, 3), 99, np.uint8))
    _write_image(tmp_path / "shot.0002.png", np.zeros((4000, 3000, 3), np.uint8))  # zlib: a few KB
    decoded = []
    from engine.io import sequence

    real = sequence.read_rgb8
    monkeypatch.setattr(sequence, "read_rgb8", lambda p: decoded.append(p.name) or real(p))
    source = SequenceSource(parse_pattern(str(tmp_path / "shot.####.png")))
    assert source.read(1).mean() == 99
    with pytest.raises(InputError, match=r"frame 2 of .* is 3000x4000 but the sequence is 16x16"):
        source.read(2)
    assert decoded == ["shot.0001.png"]  # the 12-megapixel member was judged by its header alone


def test_zero_byte_video_says_it_is_empty(tmp_path):
    (tmp_path / "plate.mp4").write_bytes(b"")
    with pytest.raises(InputError, match=r"is empty \(0 bytes\)"):
        open_source(tmp_path / "plate.mp4")


@pytest.mark.parametrize("name, codec, pix_fmt, channels", [
    ("ten_bit.mov", "prores_ks", "yuv444p10le", 3),
    ("prores4444_alpha.mov", "prores_ks", "yuva444p10le", 4),
    ("vp9_alpha.webm", "libvpx-vp9", "yuva420p", 4),
    ("odd_3x5.mkv", "ffv1", "yuv444p", 3),
])
def test_deep_alpha_and_odd_sized_video_read_as_rgb8(tmp_path, name, codec, pix_fmt, channels):
    h, w = (5, 3) if "odd" in name else (16, 16)
    frames = _grey_frames(2, h, w, channels)
    for frame in frames:
        if channels == 4:
            frame[..., 3] = 128  # half-transparent: the alpha is dropped, colour kept as stored
    path = _video(tmp_path / name, frames, codec, pix_fmt, fmt_in="rgba" if channels == 4 else "rgb24")
    with open_source(path) as source:
        assert source.size == (w, h)
        for n, expected in ((2, 60), (1, 20)):
            rgb = source.read(n)
            assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
            assert abs(float(rgb.mean()) - expected) <= 2


def test_cmyk_jpeg_palette_and_16_bit_grey_png_read_as_display_rgb(tmp_path):
    from PIL import Image

    Image.new("CMYK", (8, 8), (0, 128, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    Image.new("P", (8, 8), 0).save(tmp_path / "palette.png")  # palette entry 0 is black
    _write_image(tmp_path / "grey16.png", np.full((8, 8, 1), 0x8080, np.uint16), oiio.UINT16)
    cmyk = open_source(tmp_path / "cmyk.jpg").read(1)
    assert np.abs(cmyk[4, 4].astype(int) - (255, 127, 0)).max() <= 3  # C0 M50% Y100% K0 is orange
    assert open_source(tmp_path / "palette.png").read(1).max() == 0
    assert (open_source(tmp_path / "grey16.png").read(1) == 128).all()


@pytest.mark.parametrize("rate", [(0, 1), (-24, 1)], ids=["zero", "negative"])
def test_a_timecode_with_an_impossible_frame_rate_is_an_input_error(tmp_path, rate):
    # Before: ValueError("frame rate 0 is not positive") escaped: an 'internal error' for a bad header.
    from engine.io.timecode import parse_timecode, source_timecode, to_smpte_words

    def stamped(spec):
        spec.attribute("framesPerSecond", oiio.TypeDesc("rational2i"), rate)
        spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), to_smpte_words(parse_timecode("01:00:00:00")))

    path = _write_image(tmp_path / "plate.0001.exr", np.full((8, 8, 3), 0.5, np.float32), oiio.HALF, stamped)
    with open_source(path) as source, pytest.raises(InputError, match="invalid frame rate"):
        source_timecode(source)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["shot.%0999999999999999999d.png", "shot." + "#" * 5000 + ".png",
                                  "x" * 300 + ".mp4"], ids=["printf_padding", "hash_padding", "long_name"])
def test_absurd_patterns_and_names_are_input_errors(tmp_path, name):
    # Before: MemoryError (a pattern string of 10**18 '#') and OSError (File name too long) tracebacks.
    with pytest.raises(InputError):
        open_source(tmp_path / name)


@pytest.mark.timeout(20)
def test_png_header_claiming_a_million_pixels_square_is_one_clear_line(tmp_path):
    """A 100-byte PNG claiming 1000000x1000000: OIIO refuses to open it with three lines of its own advice
    ("raise the OIIO attribute limits:imagesize_MB"); the artist gets one line naming the size and the fix."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10**6, 10**6, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(InputError) as info:
        open_source(path)
    assert f"image {path} declares a 1000000x1000000 image, beyond what the engine reads" in info.value.message
    assert "\n" not in info.value.user_message and "OIIO" not in info.value.user_message
    assert "crop/scale it below 16384x16384" in info.value.fix


def test_a_folder_as_source_names_the_sequences_in_it(tmp_path):
    for n in (1, 2):
        _write_image(tmp_path / f"plate.{n:04d}.png", np.full((8, 8, 3), 50, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError) as info:
        open_source(tmp_path)
    assert info.value.message == f"{tmp_path} is a folder"
    assert info.value.fix == f"give the image sequence in it as a pattern: {tmp_path / 'plate.####.png'}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "empty")
    assert info.value.fix == "give a video, an image, or a sequence pattern such as shot.####.exr"


def test_a_link_that_leads_nowhere_is_named_as_a_link(tmp_path):
    (tmp_path / "loop_a.mp4").symlink_to(tmp_path / "loop_b.mp4")
    (tmp_path / "loop_b.mp4").symlink_to(tmp_path / "loop_a.mp4")
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "moved-away.mp4")
    for name in ("loop_a.mp4", "gone.mp4"):
        with pytest.raises(InputError) as info:
            open_source(tmp_path / name)
        assert info.value.message.endswith("is a link that leads nowhere (its target is missing, or links form a loop)")
        assert info.value.fix == "point the link at the media file, or give the file itself"


def test_a_video_whose_frames_claim_a_size_their_data_cannot_fill_says_it_cannot_be_decoded(tmp_path):
    # Before: "frame 1 ... could not be found by seeking (the file's timestamps are broken)": the packets
    # are indexed, but each JPEG frame header claims 4000x4000 from a few hundred bytes and never decodes.
    path = tmp_path / "lying.avi"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuvj420p"
        for _ in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, np.uint8), format="rgb24")))
        out.mux(stream.encode())
    data = bytearray(path.read_bytes())
    at = data.find(b"\xff\xc0")
    while at >= 0:  # every frame's start-of-frame marker: height, width
        data[at + 5:at + 9] = struct.pack(">HH", 4000, 4000)
        at = data.find(b"\xff\xc0", at + 2)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"no frame of video .*lying\.avi can be decoded \(.*; 3 pictures") as info:
        open_source(path)
    assert "re-export" in info.value.fix


DEEP_SCRIPT = """
import sys
import OpenImageIO as oiio
spec = oiio.ImageSpec(8, 8, 2, oiio.FLOAT)
spec.channelnames = ("A", "Z")
spec.deep = True
oiio.ImageBuf(spec).write(sys.argv[1])
from engine.errors import InputError, OutputError
from engine.io import open_source
from engine.io.oiio_write import check_written
try:
    open_source(sys.argv[1]).read(1)
except InputError as exc:
    print("source:", exc.message, "|", exc.fix)
try:
    check_written(sys.argv[1], "openexr")
except OutputError as exc:
    print("resume:", exc.message)
"""


def test_a_deep_exr_is_refused_by_name_not_read_as_a_flat_plate(tmp_path):
    # Before: reading a deep EXR's pixels as a flat image crashed the process (SIGSEGV in OIIO's Python
    # binding): a deep comp given as a plate killed `render`, or the whole engine under `serve`.
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", DEEP_SCRIPT, str(tmp_path / "deep.exr")], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "deep.exr is a deep EXR (a list of samples per pixel), not a flat picture" in run.stdout
    assert "--flatten" in run.stdout and "resume: deep.exr is a deep EXR, not a flat frame" in run.stdout


def test_a_header_whose_error_message_is_not_utf8_is_a_damaged_file_not_an_internal_error(tmp_path):
    # Before: OIIO quoted the garbled attribute name in its error, the binding's geterror() raised
    # UnicodeDecodeError, and `render` ended with "internal error: UnicodeDecodeError" (exit 1).
    path = tmp_path / "garbled.exr"
    spec = oiio.ImageSpec(16, 16, 3, oiio.HALF)
    spec.attribute("QQQQ", "abcdefgh")
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.zeros((16, 16, 3), np.float32))
    out.close()
    # the attribute's name becomes bytes that are not UTF-8, its type one that cannot hold a string
    path.write_bytes(path.read_bytes().replace(b"QQQQ\x00string\x00", b"\xbf\xbf\xbf\xbf\x00chlist\x00"))
    with pytest.raises(InputError, match=r"garbled\.exr: its header holds garbled text") as info:
        open_source(path)
    assert "complete EXR/PNG/JPG/TIFF image" in info.value.fix
    from engine.pipeline.outputs import job_stamp

    assert job_stamp(path) is None  # --resume/--overwrite scans pass over it too


def _png(path, size=32):
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(size, size, 3, oiio.UINT8))
    out.write_image(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
    out.close()
    return path


def test_a_truncated_png_is_one_error_line_without_libpngs_own(tmp_path, capfd):
    # Before: libpng printed "libpng error: IDAT: Read error: hit end of file in png reader" straight to
    # stderr (fd 2, past Python) above the engine's own error, which repeated the reason three times.
    data = _png(tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        with open_source(tmp_path / "cut.png") as source:
            source.read(source.frame_numbers[0])
    assert capfd.readouterr().err == ""
    assert info.value.message.startswith(f"cannot read image {tmp_path / 'cut.png'}: ")
    assert info.value.message.count("hit end of file") == 1 and "PNG library error" not in info.value.message
    assert info.value.fix == "check the file is a complete EXR/PNG/JPG/TIFF image"


def test_other_stderr_lines_written_while_libpng_is_held_come_through_in_order(tmp_path, capfd):
    import threading

    from engine.io.oiio_errors import libpng_lines_dropped

    data = _png(tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    errors = []

    def read_cut():
        with libpng_lines_dropped():
            buf = oiio.ImageBuf(str(tmp_path / "cut.png"))
            errors.append(buf.read(force=True))

    with libpng_lines_dropped():
        os.write(2, b"engine line 1\n")
        with libpng_lines_dropped():  # nested, and from another thread at once
            reader = threading.Thread(target=read_cut)
            reader.start()
            reader.join()
        os.write(2, b"libpng warning: iCCP: known incorrect sRGB profile\nengine line 2\n")
    os.write(2, b"engine line 3\n")
    assert errors == [False]
    assert capfd.readouterr().err == "engine line 1\nengine line 2\nengine line 3\n"


def _multipart_exr(path, names):
    specs = []
    for name in names:
        spec = oiio.ImageSpec(16, 16, 3, oiio.HALF)
        spec.attribute("name", name)
        specs.append(spec)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), specs), out.geterror()
    for index, spec in enumerate(specs):
        if index:
            assert out.open(str(path), spec, "AppendSubimage"), out.geterror()
        out.write_image(np.full((16, 16, 3), float(index), np.float32))
    out.close()
    return path


def test_a_multi_part_exr_says_its_first_part_is_the_one_read(tmp_path):
    # Before: a comp's multi-part EXR whose first part is a matte was read as a black plate, and the job
    # ended in "no face was found" with no word of the other parts.
    from engine.pipeline.render import parts_note

    path = _multipart_exr(tmp_path / "comp v2.exr", ["matte", "beauty", "depth"])
    with open_source(path) as source:
        assert source.parts == ("matte", "beauty", "depth")
        assert float(source.read(1).max()) == 0.0  # the first part: the black matte
        note = parts_note(source)
    assert note.startswith("comp v2.exr holds 3 parts ('matte', 'beauty', 'depth'): only the first, 'matte', "
                           "is read as the plate")
    assert note.endswith("oiiotool 'comp v2.exr' --subimage beauty -o beauty.exr)")
    for number in (1, 2):
        _multipart_exr(tmp_path / f"shot.{number:04d}.exr", ["rgba", "utility"])
    with open_source(tmp_path / "shot.####.exr") as sequence:
        assert sequence.parts == ("rgba", "utility") and "only the first, 'rgba'" in parts_note(sequence)
    with open_source(_png(tmp_path / "plain.png")) as plain:
        assert plain.parts == ("#0",) and parts_note(plain) is None


@pytest.mark.parametrize("name", ["plate.exr", "plate.png", "shot.####.png"])
def test_an_empty_image_or_sequence_member_says_it_is_empty(tmp_path, name):
    # Before: "cannot read image ...: Not a PNG file" / "EXR_ERR_READ_IO Unable to read magic and version
    # flags" for the 0-byte frame a killed render leaves behind.
    if "#" in name:
        _png(tmp_path / "shot.0001.png")
        (tmp_path / "shot.0002.png").write_bytes(b"")
        empty = tmp_path / "shot.0002.png"
    else:
        empty = tmp_path / name
        empty.write_bytes(b"")
    with pytest.raises(InputError) as info:
        with open_source(tmp_path / name) as source:
            source.read(source.frame_numbers[-1])
    assert info.value.message == f"image {empty} is empty (0 bytes)"
    assert info.value.fix.startswith("render or copy it again")


def test_an_alpha_only_image_is_refused_as_no_plate(tmp_path):
    # Before: its alpha was read as a grey picture and the job ended in "no face was found".
    path = tmp_path / "holdout.exr"
    spec = oiio.ImageSpec(16, 16, 1, oiio.HALF)
    spec.channelnames = ("A",)
    spec.alpha_channel = 0
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.ones((16, 16, 1), np.float32))
    out.close()
    with pytest.raises(InputError, match=r"holdout\.exr holds only an alpha channel \('A'\), no colour") as info:
        open_source(path)
    assert info.value.fix == "give the plate with its colour (RGB or RGBA) channels, not a matte pass"
    grey = tmp_path / "grey.png"
    out = oiio.ImageOutput.create(str(grey))
    out.open(str(grey), oiio.ImageSpec(16, 16, 1, oiio.UINT8))
    out.write_image(np.full((16, 16, 1), 128, np.uint8))
    out.close()
    with open_source(grey) as source:  # a grey picture is still a picture
        assert source.read(1).shape == (16, 16, 3) and int(source.read(1)[0, 0, 0]) == 128


def _jpeg(path, thumbnail: bytes = b""):
    """A 64x64 JPEG; ``thumbnail`` (a whole JPEG) goes into an APP1 segment as an EXIF thumbnail would."""
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(64, 64, 3, oiio.UINT8))
    out.write_image(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    out.close()
    data = path.read_bytes()
    if thumbnail:
        segment = b"Exif\x00\x00" + thumbnail
        data = data[:2] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + data[2:]
        path.write_bytes(data)
    return path


def test_a_truncated_jpeg_is_refused_not_rendered_half_grey(tmp_path):
    # Before: libjpeg filled the missing rows with grey, OIIO reported nothing, and the frame rendered.
    thumb = _jpeg(tmp_path / "thumb.jpg").read_bytes()
    for name, thumbnail in (("plain.jpg", b""), ("with thumbnail.jpg", thumb)):
        whole = _jpeg(tmp_path / name, thumbnail)
        with open_source(whole) as source:
            assert source.read(1).shape == (64, 64, 3)  # a complete file (its thumbnail's end marker aside)
        cut = tmp_path / f"cut {name}"
        data = whole.read_bytes()
        cut.write_bytes(data[: len(data) - 200])
        with pytest.raises(InputError) as info:
            with open_source(cut) as source:
                source.read(1)
        assert info.value.message.startswith(f"image {cut} is truncated: its JPEG data stops before the end")
        assert info.value.fix == "copy or export the file again"


def test_a_read_stuck_inside_the_libpng_hold_gives_stderr_back(capfd, monkeypatch):
    # A read stuck on a stalled share must not keep the engine's stderr (hosts read it for crash reports).
    import time

    from engine.io import oiio_errors

    monkeypatch.setattr(oiio_errors, "HOLD_LIMIT_S", 0.3)
    seen = ""
    with oiio_errors.libpng_lines_dropped():  # the "stuck read"
        os.write(2, b"engine: still alive\n")
        deadline = time.monotonic() + 10
        while "still alive" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)
            seen += capfd.readouterr().err
        assert "engine: still alive" in seen  # arrived while the read was still running
        with oiio_errors.libpng_lines_dropped():  # nested reads go on normally
            pass
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_cover_art_is_not_read_as_video(tmp_path):
    # Before: a song's or podcast's artwork (a video stream marked attached_pic) rendered as a one-frame
    # "video", and a clip whose first video stream was its thumbnail rendered the thumbnail.
    with pytest.raises(InputError, match=r"has no video, only a cover picture \(an audio file's artwork\)"):
        open_source(with_cover(tmp_path / "song.mp4"))
    clip = with_cover(tmp_path / "clip.mp4", [np.full((16, 16, 3), 20 * i, np.uint8) for i in range(5)])
    with open_source(clip) as source:
        assert len(source.frame_numbers) == 5
        assert int(source.read(5).mean()) in range(70, 90)  # the video's frame 5 (~80), not the cover (250)


def test_a_pasted_path_with_a_trailing_newline_or_space_names_the_invisible_end(tmp_path):
    # Before: "no such file: /shots/plate.png" for "/shots/plate.png\n" (pasted from a terminal): the
    # message showed a path that looked exactly like the file that exists.
    plate = _png(tmp_path / "plate.png")
    for number in (1, 2):
        _png(tmp_path / f"shot.{number:04d}.png")
    for text, where, what in ((f"{plate}\n", "ends", "a newline"), (f" {plate}", "starts", "white space"),
                              (f"{tmp_path}/shot.####.png ", "ends", "white space")):
        with pytest.raises(InputError) as info:
            open_source(text)
        assert info.value.message == f"no such file: {text!r} (the path {where} with {what})"
        assert info.value.fix == f"remove it: {text.strip()}"
    with pytest.raises(InputError, match=r"^no such file: .*missing\.png $"):  # nothing there either way
        open_source(f"{tmp_path}/missing.png ")
    (tmp_path / "odd name ").write_bytes(plate.read_bytes())  # a file whose name really ends in a space
    with open_source(tmp_path / "odd name ") as source:
        assert source.size == (32, 32)


def test_a_pattern_matching_nothing_names_the_sequences_the_folder_does_hold(tmp_path):
    # Before: only "check the path, the padding (#### = 4 digits) and the extension".
    for number in (1, 2, 3):
        _png(tmp_path / f"shot.{number:04d}.png")
    for typo in ("shot.###.png", "shot.#####.png", "shot.####.jpg"):
        with pytest.raises(InputError) as info:
            open_source(tmp_path / typo)
        assert info.value.message == f"no files match the sequence {tmp_path / typo}"
        assert info.value.fix == f"the folder holds: {tmp_path / 'shot.####.png'}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as info:
        open_source(tmp_path / "empty" / "shot.####.png")
    assert info.value.fix.startswith("check the path, the padding")


def test_a_sequence_member_whose_display_window_moved_is_refused_not_placed_shifted(tmp_path):
    # Before: only the size was compared, so a frame with its display window at another origin (overscan
    # changed mid-shot) was stylized and written at the first frame's origin, shifted against its plate.
    for number, origin in ((1, (0, 0)), (2, (0, 0)), (3, (-20, -10))):
        spec = oiio.ImageSpec(16, 16, 3, oiio.HALF)
        spec.x, spec.y = origin
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = origin[0], origin[1], 16, 16
        path = tmp_path / f"shot.{number:04d}.exr"
        out = oiio.ImageOutput.create(str(path))
        out.open(str(path), spec)
        out.write_image(np.full((16, 16, 3), 0.5, np.float32))
        out.close()
    with open_source(tmp_path / "shot.####.exr") as source:
        assert source.read(2).shape == (16, 16, 3)
        with pytest.raises(InputError, match=r"frame 3 of .* has its display window at -20,-10 but the "
                                             r"sequence's first frame at 0,0") as info:
            source.read(3)
    assert "same display window" in info.value.fix


def test_a_video_whose_resolution_changes_mid_file_is_refused_at_that_frame(tmp_path):
    # Before: a spliced stream (64x64, then 96x48) decoded its later pictures at their own size and the
    # render placed them over the first frame's 64x64 plate, squashed, with exit 0.
    noise = np.random.default_rng(0)  # enough bytes for FFmpeg to probe each part
    parts = [_video(tmp_path / f"{name}.ts", [noise.integers(0, 255, (h, w, 3), np.uint8) for _ in range(3)],
                    "libx264", "yuv420p") for name, w, h in (("a", 64, 64), ("b", 96, 48))]
    with av.open(str(parts[0])) as first, av.open(str(tmp_path / "spliced.ts"), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(first.streams.video[0])
        offset = 0
        for part in parts:
            with av.open(str(part)) as source:
                packets = [p for p in source.demux(source.streams.video[0]) if p.dts is not None]
                shift = offset - min(p.pts for p in packets)
                for packet in packets:
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    packet.stream = stream
                    out.mux(packet)
                offset = max(p.pts for p in packets) + 3750  # 90 kHz ticks per frame at 24 fps
    with open_source(tmp_path / "spliced.ts") as source:
        assert source.frame_numbers == [1, 2, 3, 4, 5, 6] and source.size == (64, 64)
        assert source.read(3).shape == (64, 64, 3)
        with pytest.raises(InputError, match=r"frame 4 of .* is 96x48 but the video starts at 64x64") as info:
            source.read(4)
    assert "render only the frames before 4 with --frames" in info.value.fix


@pytest.mark.parametrize("name", [b"plate\xff.mp4", b"still\xe9.png", b"shot\xfe.0001.png", b"shot\xfe.####.png"])
def test_a_name_that_is_not_utf8_is_refused_naming_its_bytes(tmp_path, name):
    # Before: OIIO raised TypeError and FFmpeg a C++ RuntimeError on a Latin-1 name: "internal error".
    folder = os.fsencode(tmp_path)
    _video(os.fsdecode(folder + b"/plate\xff.mp4"), _grey_frames(2))
    for member in (b"still\xe9.png", b"shot\xfe.0001.png", b"shot\xfe.0002.png"):
        _write_image(tmp_path / "utf8.png", np.full((8, 8, 3), 99, np.uint8))  # OIIO cannot name it either
        os.rename(tmp_path / "utf8.png", folder + b"/" + member)
    with pytest.raises(InputError, match="is not UTF-8 text") as info:
        open_source(os.fsdecode(folder + b"/" + name))
    assert name.decode("utf-8", "backslashreplace") in info.value.message
    assert info.value.fix.startswith("rename the file or folder to a UTF-8 name")


def test_a_sequence_member_that_is_a_dead_link_is_named_as_a_link(tmp_path):
    # Before: "no such file: .../shot.0002.png (check the path)" for a file the user can see in the folder.
    _write_image(tmp_path / "shot.0001.png", np.full((8, 8, 3), 99, np.uint8))
    os.symlink(tmp_path / "moved" / "shot.0002.png", tmp_path / "shot.0002.png")
    with open_source(tmp_path / "shot.####.png") as source:
        with pytest.raises(InputError, match=r"shot\.0002\.png is a link that leads nowhere \(its target "
                                             r".*moved/shot\.0002\.png is missing\)") as info:
            source.read(2)
    assert info.value.fix.startswith("point the link at the media file")


def test_a_stream_cut_before_its_first_keyframe_names_the_frames_that_cannot_decode(tmp_path):
    # Before: every packet is indexed, but the pictures before the first keyframe never decode: "frame 1 ...
    # could not be found by seeking (the file's timestamps are broken)", and nothing could be rendered.
    noise = np.random.default_rng(1)
    whole = tmp_path / "whole.ts"
    with av.open(str(whole), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=24,
                                options={"x264-params": "keyint=12:min-keyint=12:scenecut=0:bframes=0"})
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for _ in range(24):
            pixels = noise.integers(0, 255, (64, 64, 3), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode())
    with av.open(str(whole)) as probe:
        second = [p.pos for p in probe.demux(video=0) if p.size][1]
    data = whole.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[:376] + data[second // 188 * 188:])  # PAT + PMT, then from the 2nd picture's packet on
    with open_source(cut) as source:
        assert source.damaged_frames == list(range(1, 12))  # pictures 2-12 of the take: P-frames with no keyframe
        assert source.frame_numbers == list(range(12, 24))
        assert source.read(12).shape == (64, 64, 3)
        with pytest.raises(InputError, match=r"frame 5 of .*cut\.ts cannot be decoded"):
            source.read(5)


def test_frames_decoded_from_data_that_failed_are_refused_not_read_as_pictures(media_dir, tmp_path):
    # Before: 4000 bytes of noise mid-file (a bad sector, a broken copy) made frame 13's packet fail (refused),
    # but every later frame of its group of pictures, decoded from the lost one, was read as a good picture:
    # ~7% of their pixels off by more than 40 levels, rendered without a word. Those are refused now. (The
    # frame whose own packet holds the start of the noise decodes without an error and is not flagged, so
    # nothing can tell it; a frame FFmpeg flags corrupt is refused too.)
    data = bytearray((media_dir / "529_2.mp4").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    clip = tmp_path / "damaged.mp4"
    clip.write_bytes(bytes(data))
    outcome = {}
    with open_source(media_dir / "529_2.mp4") as clean, open_source(clip) as damaged:
        assert damaged.frame_numbers == clean.frame_numbers                 # the container itself is intact
        for number in damaged.frame_numbers:
            try:
                outcome[number] = np.array_equal(damaged.read(number), clean.read(number))
            except InputError as exc:
                outcome[number] = str(exc)
    lost = next(n for n, v in outcome.items() if isinstance(v, str))
    assert f"frame {lost} of {clip} cannot be decoded" in outcome[lost], outcome[lost]
    assert all(outcome[n] is True for n in range(1, lost - 1)), outcome   # before the damage: the clean pictures
    for number in range(lost + 1, 30):                                    # one group of pictures: to the end
        assert f"frame {number} of {clip} is damaged: it is decoded from data that cannot be read" in \
            str(outcome[number]), outcome[number]
    with open_source(clip) as damaged:                                     # read alone (a farm chunk) too
        with pytest.raises(InputError, match=r"frame 29 .* is damaged"):
            damaged.read(29)


@pytest.mark.parametrize("codec, params", [
    ("libx264", ("x264-params", "keyint=12:min-keyint=12:open-gop=1:bframes=3:scenecut=0")),
    ("libx265", ("x265-params", "keyint=12:open-gop=1:bframes=4:log-level=none"))])
def test_a_healthy_open_gop_clip_read_out_of_order_is_never_taken_for_damaged(tmp_path, codec, params):
    # After a seek the leading pictures of an open GOP decode without their references (FFmpeg may flag them
    # corrupt); they are never the frame asked for, so they must not make a healthy clip's frames "damaged".
    clip = tmp_path / "open_gop.mp4"
    noise = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    with av.open(str(clip), "w") as out:
        stream = out.add_stream(codec, rate=24, options=dict([params]))
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(36):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.roll(noise, 3 * i, axis=1), format="rgb24")))
        out.mux(stream.encode())
    with open_source(clip) as source:
        in_order = {n: source.read(n) for n in source.frame_numbers}
    shuffled = list(in_order)
    np.random.default_rng(1).shuffle(shuffled)
    with open_source(clip) as source:
        for number in shuffled:
            assert np.array_equal(source.read(number), in_order[number]), number
