"""Variable-frame-rate videos are numbered as Blender shows them: frame k is the picture on screen at
k / rate (FFmpeg's guessed rate). The expected picture lists below are what Blender 4.2.23 and 5.0.1
render for the same timings (tests/blender/test_vfr_frames.py measures them against the engine)."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import av
import numpy as np
import pytest

from engine.io import open_source
from engine.io.frame_grid import FrameGrid, conform_rate, grid_frame_count, host_grid
from engine.pipeline.backends import ClassicBackend
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import held_pictures, render

SMALL = (64, 64, 64, 64)


def write_clip(path, durations: list[int], timescale: int = 600, pictures=None, bframes: bool = False) -> None:
    """H.264 whose picture i is stamped at the sum of the durations before it (ticks of 1/timescale s);
    by default picture i is grey level 8*i (64x48), else ``pictures[i]``."""
    tick = Fraction(1, timescale)
    first = pictures[0] if pictures is not None else np.zeros((48, 64, 3), np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        stream.codec_context.time_base = tick
        stream.options = {"crf": "12", **({"bf": "2", "g": "6"} if bframes else {"bf": "0"})}
        stamp = 0
        for i, duration in enumerate(durations):
            image = pictures[i % len(pictures)] if pictures is not None else np.full((48, 64, 3), 8 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = stamp, tick
            stamp += duration
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def pictures_shown(source) -> list[int]:
    return [round(float(source.read(n).mean()) / 8) for n in source.frame_numbers]


def test_dropped_frames_hold_the_picture_before_them(tmp_path):
    """A 30 fps phone clip that dropped 1 and then 2 frames: Blender holds the picture over each gap."""
    write_clip(tmp_path / "dropped.mp4", [20, 20, 40, 20, 20, 60, 20, 20])
    with open_source(tmp_path / "dropped.mp4") as src:
        assert src.fps == 30.0 and src.frame_grid is not None and src.frame_grid.rate == 30
        assert src.frame_numbers == list(range(1, 12)) and src.damaged_frames == [] and not src.truncated
        assert pictures_shown(src) == [0, 1, 2, 2, 3, 4, 5, 5, 5, 6, 7]
        assert (src.frame_grid.pictures, src.frame_grid.frames, src.frame_grid.repeats) == (8, 11, 3)


def test_a_low_light_slowdown_is_numbered_on_the_common_rate(tmp_path):
    """30 fps, then 20 fps, then 30: FFmpeg (and Blender) lay a 60 fps grid over it."""
    write_clip(tmp_path / "slow.mp4", [20] * 3 + [30] * 3 + [20] * 2)
    with open_source(tmp_path / "slow.mp4", start_number=1001) as src:
        assert src.fps == 60.0 and src.frame_numbers == list(range(1001, 1001 + 19))  # 0.317 s at 60 fps
        assert pictures_shown(src) == [0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7]
        # reading backwards and at random gives the same pictures (held frames too)
        order = list(src.frame_numbers)
        random.Random(3).shuffle(order)
        truth = dict(zip(src.frame_numbers, pictures_shown(src), strict=True))
        assert all(round(float(src.read(n).mean()) / 8) == truth[n] for n in order)


def test_jittery_millisecond_stamps_with_b_frames(tmp_path):
    """No common rate: FFmpeg guesses the average one; pictures shorter than a frame fall between
    frames, as in Blender. Every frame decodes, pictures come in order, random reads agree."""
    rng = random.Random(1)
    durations = [rng.choice([20, 33, 50, 100]) for _ in range(30)]
    write_clip(tmp_path / "jitter.mp4", durations, timescale=1000, bframes=True)
    with open_source(tmp_path / "jitter.mp4") as src:
        grid = src.frame_grid
        shown = pictures_shown(src)
        assert len(shown) == grid.frames == len(src) and shown == sorted(shown) and shown[0] == 0
        assert grid.pictures == 30 and grid.unshown == 30 - len(set(shown)) and shown[-1] == 29
        order = list(src.frame_numbers)
        random.Random(5).shuffle(order)
        assert [round(float(src.read(n).mean()) / 8) for n in order] == [shown[n - 1] for n in order]


def test_constant_rate_clips_are_untouched(media_dir):
    with open_source(media_dir / "529_2.mp4") as src:
        assert src.frame_grid is None and len(src) == 29 and src.fps == 15.0


def test_grid_arithmetic_is_exact_at_frame_boundaries():
    """A picture stamped exactly on a frame's time shows from that frame (not one later)."""
    pts = [0, 1280, 2560, 4480]  # 1/19200 s ticks: 0, 1/15, 2/15, 7/30 s
    rate, base = Fraction(30), Fraction(1, 19200)
    assert host_grid(pts, 0, 8, base, rate) == [0, 0, 1, 1, 2, 2, 2, 3]
    assert grid_frame_count(pts, 0, None, base, rate) == 8  # the last picture shows at frame 7
    assert grid_frame_count(pts, 0, 4480 + 640 * 3, base, rate) == 10  # the stream runs on
    assert conform_rate(25.9) == 25 and conform_rate(29.9) == Fraction(30000, 1001) and conform_rate(None) is None


def test_warning_names_the_grid_and_the_conform_command():
    grid = FrameGrid(Fraction(60), pictures=32, frames=74, repeats=42, unshown=0, average_rate=25.95)
    text = grid.warning("/shots/phone.mp4")
    assert "variable frame rate" in text and "60 fps" in text and "74 frames" in text and "42 repeat" in text
    assert "ffmpeg -i /shots/phone.mp4 -vf fps=25 " in text
    assert "ffmpeg -i '/shots/sh 010/phone.mp4' -vf" in grid.advice("/shots/sh 010/phone.mp4")  # pastes into a shell
    assert json.loads(json.dumps(grid.to_dict()))["rate"] == "60/1"


def test_held_frames_are_stylized_once(tmp_path, media_dir):
    write_clip(tmp_path / "dropped.mp4", [20, 20, 40, 20, 20, 60, 20, 20])  # pictures 0 1 2 2 3 4 5 5 5 6 7
    with open_source(tmp_path / "dropped.mp4") as src:
        assert held_pictures(src, list(range(1, 12))) == ([1, 2, 3, 5, 6, 7, 10, 11], {3: [4], 7: [8, 9]})
        assert held_pictures(src, [4, 8, 9, 2]) == ([4, 8, 2], {8: [9]})  # the frames asked for, in order
        assert src.picture_index(9) == src.picture_index(7) == 5
    with open_source(media_dir / "529_2.mp4") as cfr:
        assert held_pictures(cfr, [1, 2, 3]) == ([1, 2, 3], {})


@pytest.mark.slow
def test_render_numbers_output_on_the_grid_and_records_it(media_dir, tmp_path, empty_models_dir, monkeypatch):
    """Output frame N is the picture the host shows at N: frames that hold one picture are stylized once
    and get the same pixels; the sidecar and result record the grid; the job warns with the conform command."""
    with av.open(str(media_dir / "529_2.mp4")) as clip:
        faces = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)][:6]
    write_clip(tmp_path / "phone.mp4", [20, 20, 40, 20, 20, 20], pictures=faces)  # frames 3 and 4: picture 2
    stylized = []
    original = ClassicBackend.stylize_batch
    monkeypatch.setattr(ClassicBackend, "stylize_batch",
                        lambda self, batch, crops, *a: stylized.extend(crops) or original(self, batch, crops, *a))
    events = []
    config = RenderConfig(source=str(tmp_path / "phone.mp4"), output=str(tmp_path / "out"), frames="2-5",
                          backend="classic", format="png", padding=SMALL)
    result = render(config, on_event=events.append)
    assert result.frames == [2, 3, 4, 5] and result.rendered == 4 and len(stylized) == 3
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == [2, 3, 4, 5]
    assert result.frame_grid["frames"] == 7 and result.frame_grid["rate"] == "30/1"
    assert any("variable frame rate" in w and "ffmpeg" in w for w in result.warnings)
    assert any(e["event"] == "warning" and "variable frame rate" in e["message"] for e in events)
    sidecar = json.loads((tmp_path / "out" / "phone.vtoonify.json").read_text())
    assert sidecar["frame_grid"] == result.frame_grid and sidecar["job_settings"]["frame_grid"] == "30/1 fps"
    out = {n: (tmp_path / "out" / f"phone.{n:04d}.png") for n in (2, 3, 4, 5)}
    import cv2

    pixels = {n: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for n, p in out.items()}
    assert np.array_equal(pixels[3], pixels[4])  # one picture held over two frames
    assert not np.array_equal(pixels[2], pixels[3]) and not np.array_equal(pixels[4], pixels[5])


def test_the_panel_shows_the_frames_the_engine_renders(tmp_path, media_dir):
    from ui.source_info import probe_source

    write_clip(tmp_path / "dropped.mp4", [20, 20, 40, 20, 20, 60, 20, 20])
    info = probe_source(str(tmp_path / "dropped.mp4"), 1001)
    assert (info.first, info.last, info.count, info.fps) == (1001, 1011, 11, 30.0)
    assert "variable frame rate: 8 pictures, numbered on the 30 fps grid" in info.describe()
    assert "variable" not in probe_source(str(media_dir / "529_2.mp4")).describe()
