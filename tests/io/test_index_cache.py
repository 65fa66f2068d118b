"""A clip opened again (the service's preview, then render) is not indexed again unless it changed."""

from __future__ import annotations

import os
import time

import av
import numpy as np
import pytest

from engine.io import video
from engine.io.index_cache import IndexCache


def _clip(path, frames: int = 12, value: int = 0, faststart: bool = False):
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            pixels = np.full((16, 16, 3), (value + 10 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def demuxes(monkeypatch):
    """A fresh cache, and the paths each index was built for (one demux per build)."""
    monkeypatch.setattr(video, "INDEX_CACHE", IndexCache(max_entries=2), raising=False)
    seen = []
    real = video._index_by_demux
    monkeypatch.setattr(video, "_index_by_demux", lambda path: seen.append(path.name) or real(path))
    return seen


def test_a_second_open_reuses_the_index_and_reads_the_same_frames(tmp_path, demuxes):
    clip = _clip(tmp_path / "plate.mp4")
    with video.VideoSource(clip) as first:
        frames = [int(first.read(n).mean()) for n in first.frame_numbers]
    with video.VideoSource(clip) as again:  # before: indexed on every open
        assert [int(again.read(n).mean()) for n in again.frame_numbers] == frames
    assert demuxes == ["plate.mp4"]
    with video.VideoSource(clip, start_number=1001) as offset:  # the index is per file, not per open
        assert offset.frame_numbers[0] == 1001 and len(offset.frame_numbers) == 12
    assert demuxes == ["plate.mp4"]


def test_a_changed_file_is_indexed_again(tmp_path, demuxes):
    clip = _clip(tmp_path / "plate.mp4", frames=12)
    with video.VideoSource(clip) as source:
        assert len(source.frame_numbers) == 12
    _clip(tmp_path / "other.mp4", frames=20).replace(clip)  # replaced by a rename (new inode)
    with video.VideoSource(clip) as source:
        assert len(source.frame_numbers) == 20
    stamp = time.time_ns() + 5_000_000_000
    os.utime(clip, ns=(stamp, stamp))  # touched: same bytes, but it is the user's word that it changed
    with video.VideoSource(clip) as source:
        assert len(source.frame_numbers) == 20
    assert demuxes == ["plate.mp4"] * 3


def test_the_cache_is_bounded_least_recently_used_out(tmp_path, demuxes):
    clips = [_clip(tmp_path / f"c{i}.mp4", frames=3) for i in range(3)]
    for clip in [clips[0], clips[1], clips[0], clips[2], clips[0], clips[1]]:
        with video.VideoSource(clip):
            pass
    assert demuxes == ["c0.mp4", "c1.mp4", "c2.mp4", "c1.mp4"]  # c1 was least recent when c2 came
    assert len(video.INDEX_CACHE) == 2
    small = IndexCache(max_entries=8, max_frames=20)
    for clip in clips:
        small.get_or_build(clip, lambda p: p.name, frames=lambda _: 8, keep=lambda _: True)
    assert len(small) == 2  # 3 x 8 frames pass the frame budget: the oldest went


def test_a_damaged_index_is_not_kept(tmp_path, demuxes):
    clip = _clip(tmp_path / "plate.mp4", frames=48, faststart=True)  # index first: a cut file still opens
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) * 2 // 3])  # cut short: perhaps still being copied
    for _ in range(2):
        with video.VideoSource(clip) as source:
            assert source.truncated and 0 < len(source.frame_numbers) < 48
    assert demuxes == ["plate.mp4"] * 2 and len(video.INDEX_CACHE) == 0
