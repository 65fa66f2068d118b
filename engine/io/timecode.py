"""SMPTE timecode kept from the source: read the start timecode, label each output frame with its own.

Why: editorial conforms by timecode, so a stylized plate must carry the source's timecode, frame for
frame. Output frame N gets the source's start timecode + (N - the source's first frame number),
counted at the source's rate; drop-frame counting (29.97 / 59.94 only, as SMPTE 12M defines it) when
the source says so. A source without timecode gets none: the engine never invents one.

Where it is read: a video's ``timecode`` tag (container, video stream or the ``tmcd`` data stream
of MOV/MP4, as FFmpeg exposes them); an image sequence's first file's ``smpte:TimeCode`` (EXR
``timeCode``, DPX) with its rate from EXR ``framesPerSecond`` (or OIIO's ``FramesPerSecond``) or the DPX
frame rate. OIIO stores ``smpte:TimeCode`` as the EXR ``timeCode`` attribute but writes other names as
given, so the rate is written under the OpenEXR standard name ``framesPerSecond``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from engine.errors import InputError

_TEXT = re.compile(r"^\s*(\d{1,2})[:.](\d{2})[:.](\d{2})([:;.,])(\d{2,3})\s*$")
_STANDARD_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                   Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60))
_DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


@dataclass(frozen=True)
class Timecode:
    """One SMPTE timecode label; ``drop_frame`` is written with ';' before the frames."""

    hours: int
    minutes: int
    seconds: int
    frames: int
    drop_frame: bool = False

    def __str__(self) -> str:
        sep = ";" if self.drop_frame else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frames:02d}"


def parse_timecode(text: str) -> Timecode:
    """``HH:MM:SS:FF`` (non-drop) or ``HH:MM:SS;FF`` / ``.FF`` / ``,FF`` (drop-frame, FFmpeg's spelling)."""
    match = _TEXT.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a timecode (HH:MM:SS:FF)")
    h, m, s, sep, f = match.groups()
    tc = Timecode(int(h), int(m), int(s), int(f), drop_frame=sep in ";.,")
    if tc.hours > 23 or tc.minutes > 59 or tc.seconds > 59:
        raise ValueError(f"{text!r} is not a valid timecode (hours < 24, minutes and seconds < 60)")
    return tc


def standard_rate(fps: float | Fraction) -> Fraction:
    """Snap a measured rate (29.97002997, 2997/100) to the standard rate it means (30000/1001)."""
    rate = Fraction(fps).limit_denominator(1001)
    for standard in _STANDARD_RATES:
        if abs(float(rate) - float(standard)) < 0.005:
            return standard
    if rate <= 0:
        raise ValueError(f"frame rate {fps} is not positive")
    return rate


def nominal_fps(rate: Fraction) -> int:
    """Frames per timecode second: 23.976 counts as 24, 29.97 as 30."""
    return max(1, round(rate))


def _drop_count(rate: Fraction) -> int:
    """Frame labels skipped at each minute not divisible by 10: 2 at 29.97, 4 at 59.94."""
    return 2 * nominal_fps(rate) // 30


def counts_drop_frame(tc: Timecode, rate: Fraction) -> bool:
    """Whether ``tc`` is counted drop-frame: only where the label says so and the rate has drop-frame."""
    return tc.drop_frame and rate in _DROP_FRAME_RATES


def timecode_to_frames(tc: Timecode, rate: Fraction) -> int:
    """Frames from 00:00:00:00 to ``tc`` at ``rate`` (drop-frame labels skip their dropped numbers)."""
    fps = nominal_fps(rate)
    if tc.frames >= fps:
        raise ValueError(f"timecode {tc} has frame {tc.frames}, but {float(rate):.3f} fps counts 0-{fps - 1}")
    count = ((tc.hours * 60 + tc.minutes) * 60 + tc.seconds) * fps + tc.frames
    if not counts_drop_frame(tc, rate):
        return count
    drop = _drop_count(rate)
    if tc.seconds == 0 and tc.frames < drop and tc.minutes % 10:
        raise ValueError(f"{tc} does not exist in drop-frame timecode (frames 0-{drop - 1} are skipped here)")
    minutes = tc.hours * 60 + tc.minutes
    return count - drop * (minutes - minutes // 10)


def frames_to_timecode(count: int, rate: Fraction, drop_frame: bool = False) -> Timecode:
    """The label of frame ``count`` after 00:00:00:00 (wrapping at 24 hours)."""
    fps = nominal_fps(rate)
    drop_frame = drop_frame and rate in _DROP_FRAME_RATES
    if drop_frame:
        drop = _drop_count(rate)
        per_ten = fps * 600 - 9 * drop
        per_minute = fps * 60 - drop
        count %= per_ten * 6 * 24
        tens, rest = divmod(count, per_ten)
        count += 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest >= drop else 0)
    else:
        count %= fps * 86400
    seconds, frames = divmod(count, fps)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return Timecode(hours % 24, minutes, seconds, frames, drop_frame)


MAX_SMPTE_FPS = 60
"""Most frames per second SMPTE 12M's packed word counts (frame pairs 0-29 and the field mark); a 100 or
120 fps source keeps its timecode in the text header (``vtoonify/timecode``) only."""
_FIELD_MARK = 0x8000  # TV60 packing's field/phase bit: the second frame of a pair above 30 fps


def to_smpte_words(tc: Timecode, fps: int = 30) -> tuple[int, int]:
    """SMPTE 12M packed BCD (time-and-flags word, user-bits word): OIIO ``smpte:TimeCode``, EXR ``timeCode``.

    The frames field holds 0-29 (two BCD tens bits), so above 30 fps (``fps``: nominal) it counts frame
    pairs and the field mark tells the pair's second frame apart, as SMPTE 12M-1 does for 50/60 fps.
    """
    def bcd(value: int) -> int:
        return (value // 10) << 4 | value % 10

    frames, mark = (tc.frames // 2, _FIELD_MARK * (tc.frames % 2)) if fps > 30 else (tc.frames, 0)
    word = bcd(frames) | (0x40 if tc.drop_frame else 0) | mark | bcd(tc.seconds) << 8 | bcd(tc.minutes) << 16
    return word | bcd(tc.hours) << 24, 0


def from_smpte_words(words, fps: int = 30) -> Timecode:
    """Inverse of ``to_smpte_words`` (flags other than drop-frame and, above 30 fps, the field mark are ignored)."""
    word = int(words[0]) & 0xFFFFFFFF

    def unbcd(value: int, tens_bits: int) -> int:
        return ((value >> 4) & ((1 << tens_bits) - 1)) * 10 + (value & 0xF)

    frames = unbcd(word, 2)
    if fps > 30:
        frames = frames * 2 + bool(word & _FIELD_MARK)
    return Timecode(unbcd(word >> 24, 2), unbcd(word >> 16, 3), unbcd(word >> 8, 3), frames,
                    drop_frame=bool(word & 0x40))


@dataclass(frozen=True)
class SourceTimecode:
    """The source's start timecode, its rate, and the frame number it labels."""

    start: Timecode
    rate: Fraction
    first_frame: int

    def at(self, frame_number: int) -> Timecode:
        """Timecode of output frame ``frame_number`` (= input frame ``frame_number``)."""
        drop = counts_drop_frame(self.start, self.rate)
        count = timecode_to_frames(self.start, self.rate) + int(frame_number) - self.first_frame
        return frames_to_timecode(count, self.rate, drop)

    def to_dict(self) -> dict:
        """What the sidecar and the job result carry, so hosts can show the start timecode."""
        return {"start": str(self.start), "rate": f"{self.rate.numerator}/{self.rate.denominator}",
                "fps": round(float(self.rate), 3), "drop_frame": counts_drop_frame(self.start, self.rate),
                "first_frame": self.first_frame}

    def exr_attributes(self, frame_number: int) -> dict:
        """Typed EXR header attributes for one frame, the OpenEXR standard ``timeCode`` and ``framesPerSecond``."""
        import OpenImageIO as oiio

        attributes = {"framesPerSecond": (oiio.TypeRational, (self.rate.numerator, self.rate.denominator))}
        fps = nominal_fps(self.rate)
        if fps <= MAX_SMPTE_FPS:  # above, frame pairs 40-59 spill into the drop-frame flag: a wrong label
            attributes["smpte:TimeCode"] = (oiio.TypeTimeCode, to_smpte_words(self.at(frame_number), fps))
        return attributes

    def text_attributes(self, frame_number: int) -> dict[str, str]:
        """Plain-text attributes for every format (PNG text chunks)."""
        return {"vtoonify/timecode": str(self.at(frame_number)),
                "vtoonify/fps": f"{self.rate.numerator}/{self.rate.denominator}"}


def _checked(start: Timecode, rate: Fraction, first_frame: int, where: str) -> SourceTimecode:
    try:
        timecode_to_frames(start, rate)
    except ValueError as exc:
        raise InputError(f"{where} carries an invalid start timecode: {exc}",
                         "fix the source's timecode (or re-export it)") from exc
    return SourceTimecode(start, rate, first_frame)


def video_timecode(path, fps: float | None, first_frame: int) -> SourceTimecode | None:
    """The ``timecode`` tag of a video (container, then each stream, the ``tmcd`` track included)."""
    import av

    from engine.video_streams import ffmpeg_file_name

    with av.open(ffmpeg_file_name(path)) as container:
        tags = [container.metadata] + [stream.metadata for stream in container.streams]
        text = next((value for t in tags for key, value in t.items() if key.lower() == "timecode" and value),
                    None)  # Matroska spells the tag TIMECODE
        from engine.video_streams import picture_stream

        stream = picture_stream(container) if fps is None else None
        if stream is not None:
            fps = stream.average_rate or stream.guessed_rate
    if text is None or not fps:
        return None
    try:
        start = parse_timecode(text)
    except ValueError as exc:
        raise InputError(f"video {path} carries an unreadable timecode: {exc}",
                         "fix the source's timecode tag (or re-export it)") from exc
    return _checked(start, standard_rate(fps), first_frame, f"video {path}")


def _header_rate(value) -> Fraction | None:
    """A header's frame rate as a Fraction, whatever type the writer gave it; None where it gives none.

    Why: OpenEXR's ``framesPerSecond`` is a rational, but tools (``oiiotool --attrib``, scripts) also
    write it as a float, an int or text ("24", "24000/1001"); indexing those as a pair crashed the
    render, and text "24" read as the pair ("2", "4") gave 1/2 fps, a wrong label on every frame.
    """
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not value[1]:
            return None  # 0 as denominator: no rate declared (as before)
        return Fraction(int(value[0]), int(value[1]))
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"frame rate {value!r} is not a number") from None
    return Fraction(value)  # int or float (nan/inf raise, as an invalid rate)


def image_timecode(path, first_frame: int) -> SourceTimecode | None:
    """``smpte:TimeCode`` of an image file's header with its rate; None without either."""
    import OpenImageIO as oiio

    from engine.io.oiio_errors import error_text, libpng_lines_dropped

    with libpng_lines_dropped():
        inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(f"cannot read image {path}: {error_text()}", "check the file")
    try:
        spec = inp.spec()
        words = spec.getattribute("smpte:TimeCode")
        rational = spec.getattribute("framesPerSecond") or spec.getattribute("FramesPerSecond")
        dpx_rate = spec.getattribute("dpx:FrameRate")
    finally:
        inp.close()
    if words is None:
        return None
    try:  # a header may declare any rate: 0/1, -24/1, inf
        declared = _header_rate(rational)
        if declared is not None:
            rate = standard_rate(declared)
        elif isinstance(dpx_rate, float) and dpx_rate > 0:
            rate = standard_rate(dpx_rate)
        else:
            return None  # a label without a rate cannot be counted on: write none rather than guess
    except (ValueError, OverflowError, ZeroDivisionError, TypeError) as exc:
        raise InputError(f"image {path} carries a timecode with an invalid frame rate ({exc})",
                         "fix the file's frame rate (framesPerSecond) or re-export it") from None
    return _checked(from_smpte_words(words, nominal_fps(rate)), rate, first_frame, f"image {path}")


def source_timecode(source) -> SourceTimecode | None:
    """The start timecode of an opened FrameSource (video, sequence or image), or None."""
    first = source.frame_numbers[0]
    if source.kind == "video":
        return video_timecode(source.path_pattern, source.fps, first)
    files = source.files()
    return image_timecode(files[0], first) if files else None
