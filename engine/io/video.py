"""Frame-accurate video reading with PyAV, addressed by frame index.

Why not ``cv2.VideoCapture``: its ``CAP_PROP_FRAME_COUNT`` (what the official ``style_transfer.py``
uses) is an estimate from the container header and its seeking is not frame-accurate. Here the frame
index is built at open time by demuxing the packets (no decoding) and sorting their presentation
timestamps, so frame *i* is the picture at the *i*-th presentation time. ``read(n)`` seeks
to the keyframe at or before that time and decodes forward to the frame with exactly that pts;
consecutive reads keep decoding without seeking.

Damaged files: if demuxing fails, the container says it holds more frames (or a longer duration) than
were found, a packet lies past the end of the file, or the first picture does not decode (a stream cut
before its first keyframe), the file is treated as truncated and the index is
rebuilt by decoding, keeping every frame that decodes. Frames are numbered by their timestamp against
the stream's frame rate, so a hole mid-file does not shift the frames after it: the missing numbers
are ``damaged_frames`` ("frames 10-18 cannot be decoded") and the others read normally. An intact file
whose timestamps are not one picture per frame of its rate (variable frame rate: phone footage) is
numbered as Blender and other FFmpeg-based hosts show it: frame k is the picture on screen at time
k / rate (``frame_grid.py``; ``frame_grid`` says so). A file that cannot even be opened raises
InputError. Streams without timestamps (raw ``.h264``) are numbered in decode order and re-decoded from
the start when reading backwards.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from engine.errors import InputError, setting
from engine.io.base import FrameSource, check_frame_pixels
from engine.io.files import require_regular_file
from engine.io.frame_grid import FrameGrid, grid_frame_count, host_grid
from engine.io.index_cache import IndexCache
from engine.video_streams import ATTACHED_PIC, ffmpeg_file_name, picture_stream

# First bytes of container formats we recognise, to tell "damaged video" from "not a video at all".
_SIGNATURES = (
    (4, b"ftyp"),  # MP4 / MOV / M4V
    (4, b"moov"), (4, b"mdat"), (4, b"wide"), (4, b"free"),  # QuickTime without ftyp
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"\x47\x40"),  # MPEG-TS sync byte + PAT packet start
    (0, b"\x06\x0e\x2b\x34"),  # MXF
    (0, b"GIF8"),
)


CHROMA_UPSAMPLING = av.video.reformatter.Interpolation.POINT
"""How swscale brings subsampled chroma to full size when frames become RGB (the matrix and range come
from the frame's tags). Each chroma sample covers its own pixels, as Blender's sequencer reads them: the
default bilinear filter, used by swscale's 10/12-bit path only, put the next colour's chroma on the pixels
beside an edge (68/255 off on 10-bit colour bars, up to 14.8/255 from Blender's picture of a 10-bit clip;
now 2.4 and 4.0). 8-bit 4:2:0 frames decode byte for byte as before (the OpenCV goldens)."""


def looks_like_video(path: Path) -> bool:
    """True if the file starts like a known video container (used only to word errors)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return any(head[offset:offset + len(magic)] == magic for offset, magic in _SIGNATURES)


@dataclass(frozen=True)
class _FrameIndex:
    """Presentation timestamps of every frame (ascending) and of every keyframe."""

    pts: list[int]
    keyframe_pts: list[int]
    truncated: bool
    expected_frames: int
    by_count: bool = False
    """True when the stream has no timestamps: frame i is the i-th decoded frame."""
    indices: tuple[int, ...] = ()
    """Frame index (from 0) of each entry of ``pts``; gaps are frames that cannot be decoded."""
    damaged: tuple[int, ...] = ()
    """Frame indices the container should hold but that cannot be decoded."""
    grid: tuple[int, ...] = ()
    """Variable frame rate: position in ``pts`` of the picture each frame index shows (empty otherwise)."""
    frame_grid: FrameGrid | None = None


def _open_container(path: Path) -> av.container.InputContainer:
    require_regular_file(path)  # av.open on a FIFO or device would block forever
    if path.stat().st_size == 0:
        raise InputError(f"video {path} is empty (0 bytes)", "re-copy or re-export it: the copy or download failed")
    try:
        container = av.open(ffmpeg_file_name(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        if looks_like_video(path):
            raise InputError(f"video {path} is truncated or damaged and cannot be opened ({exc.__class__.__name__})",
                             "re-export or re-copy the file; a partial download or copy has no index") from exc
        raise InputError(f"{path} is not a readable video file", "check the path points at a video "
                         "(mp4, mov, mkv, ...) or give an image sequence pattern") from exc
    if picture_stream(container) is None:
        covers = len(container.streams.video)
        container.close()
        if covers:  # a song or podcast with its cover art: one still picture, no video
            what = "a cover picture" if covers == 1 else f"{covers} cover pictures"
            raise InputError(f"{path} has no video, only {what} (an audio file's artwork)",
                             "give a file with moving picture, not an audio file")
        raise InputError(f"{path} has no video stream", "give a file with picture, not audio only")
    return container


def _ends_early(container, stream, pts: list[int]) -> bool:
    """The header's duration reaches well past the last packet (formats with no frame count, e.g. MKV)."""
    if not pts or container.duration is None or stream.time_base is None:
        return False
    rate = stream.average_rate or stream.guessed_rate
    frame_s = 1.0 / float(rate) if rate else 0.04
    start_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    last_s = float(max(pts) * stream.time_base) - start_s
    return container.duration / av.time_base - last_s > max(3 * frame_s, 0.25)


def _index_by_demux(path: Path) -> tuple[list[int], list[int], bool, int, list[int]]:
    """Packet pts without decoding -> (frame pts, keyframe pts, intact?, frames the header claims,
    packet durations (0 where a packet has none)).

    No pts list (empty) with intact=True means the stream has no timestamps (raw elementary stream).
    """
    file_size = path.stat().st_size
    pts: list[int] = []
    durations: list[int] = []
    keyframes: list[int] = []
    complete = True
    container = _open_container(path)
    stream = picture_stream(container)
    claimed = int(stream.frames or 0)
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # flush packet at the end of the stream
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                return [], [], True, claimed, []  # no timestamps: only a decode can number the frames
            if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > file_size:
                complete = False
            pts.append(int(stamp))
            durations.append(max(0, int(packet.duration or 0)))
            if packet.is_keyframe:
                keyframes.append(int(stamp))
        if claimed > len(pts) or _ends_early(container, stream, pts):
            complete = False
    except (av.FFmpegError, OSError):
        complete = False
    finally:
        container.close()
    return sorted(pts), sorted(keyframes), complete, claimed, durations


def _index_by_decode(path: Path, errors: list[str] | None = None) -> tuple[list[int], list[int], bool, bool]:
    """Decode every frame that decodes -> (frame pts, keyframe pts, intact?, numbered by count?);
    for damaged files and streams without timestamps (then frames are numbered by decode order).
    ``errors`` collects the decoder's first complaint (for the message when nothing decodes).

    Packets are decoded one by one, so a packet that fails to decode is skipped and decoding goes on
    after the damage; only a container that cannot be demuxed any further ends the scan."""
    pts: list[int] = []
    keyframes: list[int] = []
    intact = True
    by_count = False
    container = _open_container(path)
    stream = picture_stream(container)

    def take(frames) -> None:
        nonlocal by_count
        for frame in frames:
            by_count = by_count or frame.pts is None
            pts.append(len(pts) if by_count else int(frame.pts))
            if frame.key_frame:
                keyframes.append(pts[-1])

    try:
        for packet in container.demux(stream):
            try:
                take(packet.decode())
            except (av.FFmpegError, OSError, ValueError) as exc:
                intact = False  # this packet is damaged: keep going
                if errors is not None and not errors:
                    errors.append((getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__)[:160])
    except (av.FFmpegError, OSError):
        intact = False  # the container ends here: keep the frames decoded before the damage
    finally:
        container.close()
    if by_count:
        return list(range(len(pts))), [0], intact, True
    return sorted(set(pts)), sorted(set(keyframes)), intact, False


@dataclass(frozen=True)
class _Timing:
    time_base: Fraction | None
    rate: Fraction | None
    """FFmpeg's guessed rate (``av_guess_frame_rate``): the rate hosts lay over the stream."""
    start: int | None
    duration: float | None
    """Container duration in seconds."""
    stream_end: int | None
    """End of the stream in ticks (start + stream duration), None when the header has no duration."""
    average_rate: float | None


def _stream_timing(path: Path) -> _Timing:
    """Timing facts of the video stream, from its header."""
    container = _open_container(path)
    try:
        stream = picture_stream(container)
        rate = stream.guessed_rate or stream.average_rate
        duration = container.duration / av.time_base if container.duration else None
        end = None
        if stream.duration and stream.duration > 0:
            end = (stream.start_time or 0) + int(stream.duration)
        return _Timing(Fraction(stream.time_base) if stream.time_base else None,
                       Fraction(rate) if rate else None, stream.start_time, duration, end,
                       float(stream.average_rate) if stream.average_rate else None)
    finally:
        container.close()


def number_by_time(pts: list[int], time_base: float | None, rate: float | None,
                   start: int | None) -> list[int] | None:
    """Frame index of each pts on the stream's rate grid; None when the timestamps are not on one grid
    (variable frame rate: numbered in order instead)."""
    if not pts or not time_base or not rate:
        return None
    origin = start if start is not None and start <= pts[0] else pts[0]
    exact = [(p - origin) * time_base * rate for p in pts]
    indices = [round(x) for x in exact]
    if any(abs(x - i) > 0.3 for x, i in zip(exact, indices)) or indices[0] < 0:
        return None
    if any(b <= a for a, b in itertools.pairwise(indices)):
        return None
    return indices


MAX_MISSING_FRAMES = 100_000
"""Most frames a file may lack (holes, a missing tail) before its numbers are distrusted. A header
claiming 2^31 frames or a timestamp 50 years in would otherwise be enumerated frame by frame (a hang
and gigabytes from a 1 KB file); such files are numbered in presentation order instead."""


def _timing_gaps_only(indices: list[int] | None, pts: list[int], durations: list[int]) -> bool:
    """True when the holes in on-rate ``indices`` are timing (a phone's dropped frames: the packets'
    durations still fill the clip, the picture before a hole stays up), False when they are lost data:
    packets are missing, so their durations are too (or the packets carry none, and it cannot be told).
    Off-rate timestamps (None) are variable frame rate by themselves."""
    if indices is None:
        return True
    if indices[0] != 0 or not durations or min(durations) <= 0:
        return False
    return sum(durations) >= pts[-1] - pts[0] + min(durations) / 2


def _with_numbers(index: _FrameIndex, path: Path, durations: list[int] | None = None) -> _FrameIndex:
    """Number the frames of ``index`` by timestamp and list the frames that are missing."""
    in_order = dataclasses.replace(index, indices=tuple(range(len(index.pts))))
    if index.by_count:
        return in_order
    timing = _stream_timing(path)
    time_base, rate, start, duration = (float(timing.time_base) if timing.time_base else None,
                                        float(timing.rate) if timing.rate else None, timing.start, timing.duration)
    indices = number_by_time(index.pts, time_base, rate, start)
    if (not index.truncated and indices != list(range(len(index.pts)))
            and _timing_gaps_only(indices, index.pts, durations or [])):
        return _on_host_grid(in_order, timing) or in_order
    if indices is None or indices[-1] + 1 - len(indices) > MAX_MISSING_FRAMES:
        return in_order
    most = indices[-1] + 1 + MAX_MISSING_FRAMES
    total = max(indices[-1] + 1, min(index.expected_frames, most) if index.truncated else 0)
    if index.truncated and duration and rate:
        total = max(total, min(round(duration * rate), most))
    have = set(indices)
    damaged = tuple(i for i in range(total) if i not in have)
    return dataclasses.replace(index, indices=tuple(indices), damaged=damaged,
                               truncated=bool(damaged) or index.truncated,
                               expected_frames=max(index.expected_frames, total))


def _on_host_grid(index: _FrameIndex, timing: _Timing) -> _FrameIndex | None:
    """An intact VFR index numbered on the host's grid (``frame_grid.py``); None when the header's
    rate or time base is missing or the grid would be absurdly long."""
    if not timing.time_base or not timing.rate or timing.rate <= 0:
        return None
    pts = index.pts
    origin = timing.start if timing.start is not None and timing.start <= pts[0] else pts[0]
    count = grid_frame_count(pts, origin, timing.stream_end, timing.time_base, timing.rate)
    if count > len(pts) + MAX_MISSING_FRAMES:
        return None
    grid = host_grid(pts, origin, count, timing.time_base, timing.rate)
    first_frame = {}
    for k, position in enumerate(grid):
        first_frame.setdefault(position, k)
    repeats = sum(1 for a, b in itertools.pairwise(grid) if a == b)
    summary = FrameGrid(timing.rate, len(pts), count, repeats, len(pts) - len(first_frame), timing.average_rate)
    # a picture no frame shows keeps the number of the frame shown in its place (for messages only)
    indices = tuple(first_frame.get(p, bisect.bisect_left(grid, p)) for p in range(len(pts)))
    return dataclasses.replace(index, indices=indices, grid=tuple(grid), frame_grid=summary)


def _first_picture_decodes(path: Path, first_pts: int, most_packets: int = 512) -> bool:
    """Whether the earliest packet's picture is the first one the decoder gives: False for a stream that
    starts without a keyframe (a recording or copy cut mid-GOP), whose leading pictures never decode though
    every packet is there. Only the first picture is decoded (the reader decodes it anyway)."""
    container = _open_container(path)
    stream = picture_stream(container)
    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= most_packets:
                return False
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                continue
            for frame in frames:
                return frame.pts is None or int(frame.pts) <= first_pts
    except (av.FFmpegError, OSError):
        return False
    finally:
        container.close()
    return False


def build_frame_index(path: Path) -> _FrameIndex:
    """Frame pts list for ``path`` (demux only when the file is intact and its first picture decodes)."""
    pts, keyframes, intact, expected, durations = _index_by_demux(path)
    if intact and pts and not _first_picture_decodes(path, pts[0]):
        intact = False  # numbered by decoding: the pictures that never decode are named as damaged
    if intact and pts:
        return _with_numbers(_FrameIndex(pts, keyframes, truncated=False, expected_frames=expected or len(pts)),
                             path, durations)
    packets = len(pts)
    errors: list[str] = []
    pts, keyframes, decoded_intact, by_count = _index_by_decode(path, errors)
    truncated = not (intact and decoded_intact) or len(pts) < expected
    if not pts and packets and errors:  # every picture is there, none decodes: a lying header, damage
        raise InputError(f"no frame of video {path} can be decoded ({errors[0]}; {packets} pictures in the file)",
                         "the file is damaged; re-export or re-copy it")
    if not pts:
        raise InputError(f"video {path} has no decodable frames (it looks truncated or damaged)",
                         "re-export or re-copy the file")
    return _with_numbers(_FrameIndex(pts, keyframes or pts[:1], truncated=truncated,
                                     expected_frames=max(expected, len(pts)), by_count=by_count), path)


INDEX_CACHE = IndexCache()
"""Frame indexes of the clips this process opened (the service opens one clip for preview, then render)."""


def frame_alpha_opaque(frame: av.VideoFrame) -> bool:
    """Whether a decoded frame's alpha is at its top code everywhere. A planar alpha (yuva*, gbrap*) is
    read as stored, exactly; a packed one (rgba, argb) through an 8-bit RGBA conversion."""
    alpha = next(component for component in frame.format.components if component.is_alpha)
    shares_plane = sum(component.plane == alpha.plane for component in frame.format.components) > 1
    if shares_plane:
        return bool(np.all(frame.to_ndarray(format="rgba")[..., 3] == 255))
    plane = frame.planes[alpha.plane]
    dtype = np.dtype("<u2") if alpha.bits > 8 else np.dtype(np.uint8)
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return bool(np.all(rows[:, : plane.width] >= (1 << alpha.bits) - 1))


class VideoSource(FrameSource):
    """A video file; frame ``start_number + i`` is the picture on screen at time i / rate (for variable
    frame rate too: then on FFmpeg's guessed rate, as hosts number it; see ``frame_grid``)."""

    kind = "video"

    def __init__(self, path: str | os.PathLike, start_number: int = 1, apply_rotation: bool = True) -> None:
        self._path = Path(path)
        self._apply_rotation = apply_rotation
        self.path_pattern = str(self._path)
        self.start_number = int(start_number)
        index = INDEX_CACHE.get_or_build(self._path, build_frame_index, frames=lambda i: len(i.pts),
                                         keep=lambda i: not i.truncated)
        self._pts = index.pts
        self._keyframe_pts = index.keyframe_pts
        self._indices = list(index.indices)
        self.truncated = index.truncated
        """True when the file is damaged; only the frames that decode are numbered."""
        self.damaged_frames = [self.start_number + i for i in index.damaged]
        """Frame numbers the file should hold but that cannot be decoded (empty for intact files)."""
        self.expected_frames = index.expected_frames
        """Frame count the container claims (equals ``len(self)`` for intact files)."""
        self._by_count = index.by_count
        self._grid = list(index.grid)
        self.frame_grid = index.frame_grid
        """Variable frame rate: how its pictures map onto frame numbers (None for constant rate)."""
        self._counter = 0  # frames decoded since the last restart (count mode)
        self._container = _open_container(self._path)
        self._stream = picture_stream(self._container)
        videos = list(self._container.streams.video)
        self.stream_size = (int(self._stream.width or 0), int(self._stream.height or 0))
        """The picture stream's coded width, height (before any display rotation)."""
        self.other_video_streams = tuple(
            (position, int(s.width or 0), int(s.height or 0)) for position, s in enumerate(videos)
            if s is not self._stream and s.index != self._stream.index
            and not int(getattr(s, "disposition", 0) or 0) & ATTACHED_PIC)
        """Video streams besides the picture stream (cover art aside): (position among the file's video
        streams, as ffmpeg's ``-map 0:v:N`` counts, width, height). Only the first is read; the job says so."""
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(self.frame_grid.rate) if self.frame_grid else float(rate) if rate else None
        self._decoder: Iterator[av.VideoFrame] | None = None
        self._skipped_error: Exception | None = None
        self._damage: str | None = None
        """Why the packets sent to the decoder now give wrong pictures (a packet before them failed, or a
        frame came out flagged corrupt), until the next keyframe: FFmpeg conceals the loss, it does not
        drop them."""
        self._damaged: dict[int, str] = {}
        """pts of the pictures decoded since the last seek that are wrong -> why."""
        self._seek_floor: int | None = None
        """The keyframe pts the decoder last seeked to: pictures before it are its leading pictures (open GOP),
        decoded without their references after a seek and never returned, so their flags are no damage."""
        self.display_rotation = 0
        """The container's display rotation (counter-clockwise degrees, as FFmpeg reports it), applied
        on read unless ``apply_rotation`` is off: named when no face is found (a clip whose rotation
        metadata is wrong reads sideways)."""
        self.rotation_applied = apply_rotation
        self.interlaced = False
        """A decoded frame was coded as two fields (broadcast/camcorder footage): the job says so."""
        self.transfer = self.primaries = 2  # AVCOL_TRC / AVCOL_PRI numbers, 2 = unspecified
        """The first frame's transfer and primaries tags: HLG/PQ or BT.2020 are read as SDR Rec.709
        (``colour_notes.hdr_note`` says so)."""
        self.plate_alpha: str | None = None
        """The pixel format when it carries alpha (ProRes 4444, ``yuva444p12le``): only colour is read."""
        self.plate_alpha_opaque = True
        """Whether the first frame's alpha is full everywhere (an opaque 4444 export): no warning then."""
        self.alpha_from: int | None = None
        """The first frame read whose alpha is not full everywhere (each decoded frame's alpha plane is
        looked at until one is found: ~1 ms for a 1080p 12-bit plane): a plate keyed or faded later."""
        self._last_index = -1  # index of the frame the decoder returned last
        self._cached: tuple[int, np.ndarray] | None = None
        self._first_size: tuple[int, int] | None = None
        try:
            check_frame_pixels(*self.stream_size, str(path), "video")  # before a picture is decoded
            first = self._decode_to(0)  # size after display rotation; kept for read(start_number)
        except BaseException:
            self.close()
            raise
        self._cached = (0, first)
        self.size = self._first_size = (int(first.shape[1]), int(first.shape[0]))

    @property
    def frame_numbers(self) -> list[int]:
        if self._grid:
            return list(range(self.start_number, self.start_number + len(self._grid)))
        return [self.start_number + i for i in self._indices]

    def __len__(self) -> int:
        return len(self._grid) if self._grid else len(self._pts)

    def _index_of(self, frame_number: int) -> int:
        """Position in ``_pts`` of ``frame_number``."""
        wanted = int(frame_number) - self.start_number
        if self._grid:
            if 0 <= wanted < len(self._grid):
                return self._grid[wanted]
            raise self._out_of_range(frame_number)
        position = bisect.bisect_left(self._indices, wanted)
        if position < len(self._indices) and self._indices[position] == wanted:
            return position
        if int(frame_number) in self.damaged_frames:
            raise InputError(f"frame {frame_number} of {self._path} cannot be decoded (the file is damaged there)",
                             "re-export or re-copy the file, or render frames that decode")
        raise self._out_of_range(frame_number)

    def picture_index(self, frame_number: int) -> int:
        """Which picture of the file ``frame_number`` shows (0-based, presentation order): equal for the
        frames a variable-frame-rate clip holds one picture over."""
        return self._index_of(frame_number)

    def _number_at(self, position: int) -> int:
        return self.start_number + self._indices[position]

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames from the current position; a packet that fails to decode (damage) is skipped,
        as when the index was built, so the frames after it stay reachable."""
        for packet in self._container.demux(self._stream):
            if packet.is_keyframe:
                self._damage = None
            if self._damage is not None and packet.pts is not None:
                self._damaged[packet.pts] = self._damage
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError) as exc:
                self._skipped_error = exc  # named if the wanted frame never comes
                self._damage = "it is decoded from data that cannot be read"
                continue
            for frame in frames:
                leading = self._seek_floor is not None and frame.pts is not None and frame.pts < self._seek_floor
                if getattr(frame, "is_corrupt", False) and frame.pts is not None and not leading:
                    self._damaged[frame.pts] = "part of its data is lost (FFmpeg flags it corrupt)"
                    self._damage = self._damage or "it is decoded from a picture whose data is partly lost"
                yield frame

    def _restart(self) -> None:
        """Decode from the first frame again (streams that cannot seek, or a seek that overshot)."""
        self._container.close()
        self._container = _open_container(self._path)
        self._stream = picture_stream(self._container)
        self._decoder = self._frames()
        self._last_index = -1
        self._counter = 0
        self._damage = self._seek_floor = None
        self._damaged = {}

    def _seek_before(self, target_pts: int) -> None:
        """Position the decoder at the keyframe at or before ``target_pts``."""
        if self._by_count:
            self._restart()
            return
        slot = bisect.bisect_right(self._keyframe_pts, target_pts) - 1
        seek_pts = self._keyframe_pts[slot] if slot >= 0 else self._pts[0]
        try:
            self._container.seek(seek_pts, stream=self._stream, backward=True, any_frame=False)
        except (av.FFmpegError, OSError):
            self._restart()  # raw streams (.h264) cannot seek
            return
        self._decoder = self._frames()
        self._last_index = -1
        self._damage, self._seek_floor, self._damaged = None, seek_pts, {}

    def _needs_seek(self, index: int) -> bool:
        if self._decoder is None or index <= self._last_index:
            return True
        if index == self._last_index + 1:
            return False
        # Continue decoding unless a keyframe lies between us and the target (then seeking is cheaper).
        slot = bisect.bisect_right(self._keyframe_pts, self._pts[index]) - 1
        return slot >= 0 and self._keyframe_pts[slot] > self._pts[self._last_index]

    def _decode_to(self, index: int) -> np.ndarray:
        """Decode frame ``index`` -> uint8 [H, W, 3] RGB, display rotation applied."""
        target = self._pts[index]
        self._skipped_error = None
        for attempt in range(2):
            try:
                if attempt == 1:
                    self._restart()  # the seek landed after the target (bad container index)
                elif self._needs_seek(index):
                    self._seek_before(target)
                for frame in self._decoder:
                    if self._by_count:
                        stamp, self._counter = self._counter, self._counter + 1
                    else:
                        stamp = frame.pts
                    if stamp is None:
                        continue
                    if stamp == target:
                        why = self._damaged.get(frame.pts) if frame.pts is not None else None
                        if why is not None:
                            raise InputError(f"frame {self._number_at(index)} of {self._path} is damaged: "
                                             f"{why}, and FFmpeg hides the loss in a wrong picture",
                                             "re-export or re-copy the file, or render a range before the damage")
                        self._last_index = index
                        # Phone footage carries a display rotation (counter-clockwise degrees);
                        # cv2.VideoCapture applies it too, so frames match the official code.
                        self.display_rotation = round(frame.rotation or 0) % 360
                        self.interlaced = self.interlaced or bool(getattr(frame, "interlaced_frame", False))
                        turns = round(frame.rotation / 90) % 4 if frame.rotation and self._apply_rotation else 0
                        self._check_size(index, frame.width, frame.height, turns)
                        if self._first_size is None:
                            self._note_colour(frame)
                            if not self.plate_alpha_opaque:
                                self.alpha_from = self._number_at(index)
                        elif self.plate_alpha and self.alpha_from is None and not frame_alpha_opaque(frame):
                            self.alpha_from = self._number_at(index)
                        rgb = frame.to_ndarray(format="rgb24", interpolation=CHROMA_UPSAMPLING)
                        return np.ascontiguousarray(np.rot90(rgb, turns))
                    if stamp > target:
                        break
                    self._last_index = bisect.bisect_left(self._pts, stamp)
            except (av.FFmpegError, OSError) as exc:
                self._decoder = None
                raise InputError(f"frame {self._number_at(index)} of {self._path} cannot be decoded: {exc}",
                                 "the file is damaged; re-export it or render a range before the damage") from exc
            self._decoder = None
        if self._skipped_error is not None:  # its packets are there but do not decode (a lying header, damage)
            error = self._skipped_error
            reason = (getattr(error, "strerror", None) or str(error).strip() or type(error).__name__)[:160]
            raise InputError(f"frame {self._number_at(index)} of {self._path} cannot be decoded ({reason})",
                             "the file is damaged; re-export it or render a range before the damage")
        raise InputError(f"frame {self._number_at(index)} of {self._path} could not be found by seeking",
                         "the file's timestamps are broken; re-export it (e.g. ffmpeg -c copy) and retry")

    def _note_colour(self, frame: av.VideoFrame) -> None:
        """Keep the first frame's colour facts that the rgb24 read cannot show (HDR transfer, alpha)."""
        self.transfer, self.primaries = int(frame.color_trc or 2), int(frame.color_primaries or 2)
        if any(component.is_alpha for component in frame.format.components):
            self.plate_alpha = frame.format.name
            self.plate_alpha_opaque = frame_alpha_opaque(frame)

    def _check_size(self, index: int, width: int, height: int, turns: int) -> None:
        """A stream that changes resolution mid-file (spliced broadcast/streaming footage) is refused at
        the first frame of another size: placed over the first frame's plate it would land squashed."""
        size = self._first_size  # None while the first frame is decoded
        shown = (height, width) if turns % 2 else (width, height)
        if size is not None and shown != tuple(size):
            raise InputError(f"frame {self._number_at(index)} of {self._path} is {shown[0]}x{shown[1]} but the "
                             f"video starts at {size[0]}x{size[1]} (its resolution changes mid-file)",
                             f"conform it to one resolution first, e.g. ffmpeg -i {self._path.name} "
                             f"-vf scale={size[0]}:{size[1]} conformed.mp4, or render only the frames before "
                             f"{self._number_at(index)} with {setting('frames')}")

    def read(self, frame_number: int) -> np.ndarray:
        index = self._index_of(frame_number)
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1].copy()
        if self._container is None:
            raise InputError(f"video {self._path} is closed", "open the source again")
        rgb = self._decode_to(index)
        self._cached = (index, rgb)
        return rgb.copy()

    def close(self) -> None:
        if self._container is not None:
            self._decoder = None
            self._container.close()
            self._container = None
