"""A frame that cannot be read in the middle of a batch: every good frame before it is written, the job
stops naming the bad frame and the fix, and ``--resume`` after the fix renders only what is missing.

The sequences are real PNG files (one cut short, as a copy interrupted mid-file leaves it); the video
case makes one decode fail, as a file damaged after its index was built would."""

from __future__ import annotations

import threading

import cv2
import pytest

from engine.errors import InputError
from engine.io import open_source
from engine.io.video import VideoSource
from engine.pipeline.config import RenderConfig
from engine.pipeline.outputs import is_complete_file
from engine.pipeline.render import render

SMALL = (64, 64, 64, 64)


def _plates(media_dir, folder, count: int) -> list:
    """``p.0001.png`` ... from 529_2.mp4's first ``count`` frames; returns their encoded bytes."""
    folder.mkdir()
    encoded = []
    with open_source(str(media_dir / "529_2.mp4")) as src:
        for number, rgb in src.read_many(range(1, count + 1)):
            ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            assert ok
            (folder / f"p.{number:04d}.png").write_bytes(data.tobytes())
            encoded.append(data.tobytes())
    return encoded


def _frames_on_disk(out, ext: str) -> list[int]:
    return sorted(int(p.name.split(".")[1]) for p in out.glob(f"p.*.{ext}"))


@pytest.mark.parametrize("backend, batch, bad", [("classic", 4, 6), ("classic", 3, 7), ("classic", 2, 5),
                                                 ("vtoonify", 3, 5)])
def test_good_frames_before_a_bad_member_are_written_and_resume_renders_the_rest(
        media_dir, tmp_path, empty_models_dir, narrow_models_dir, backend, batch, bad):
    count = 8 if backend == "classic" else 6
    encoded = _plates(media_dir, tmp_path / "plates", count)
    bad_file = tmp_path / "plates" / f"p.{bad:04d}.png"
    bad_file.write_bytes(encoded[bad - 1][: len(encoded[bad - 1]) // 2])  # a copy cut short mid-file
    out = tmp_path / "out"
    fmt = "png" if backend == "classic" else "exr"
    config = RenderConfig(source=str(tmp_path / "plates" / "p.####.png"), output=str(out), backend=backend,
                          format=fmt, padding=SMALL if backend == "classic" else (32, 32, 32, 32), batch=batch,
                          models_dir=str(narrow_models_dir) if backend == "vtoonify" else None)
    events: list[dict] = []
    with pytest.raises(InputError) as failed:
        render(config, on_event=events.append)
    message = failed.value.user_message
    assert f"frame {bad}" in message and bad_file.name in message, message
    assert "--resume" in failed.value.fix and f"{bad - 1} frames before it" in message, message
    assert _frames_on_disk(out, fmt) == list(range(1, bad)), "every good frame before the bad one is written"
    assert all(is_complete_file(out / f"p.{n:04d}.{fmt}", fmt) for n in range(1, bad))
    assert not list(out.glob(".*.tmp"))
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == list(range(1, bad))
    assert [e for e in events if e["event"] == "progress"][-1]["done"] == bad - 1

    bad_file.write_bytes(encoded[bad - 1])  # the artist fixes the file
    events.clear()
    again = render(RenderConfig(**{**config.__dict__, "resume": True}), on_event=events.append)
    assert again.skipped == bad - 1 and again.rendered == count - bad + 1
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == list(range(bad, count + 1))
    assert _frames_on_disk(out, fmt) == list(range(1, count + 1))


def test_a_video_frame_that_fails_to_decode_mid_batch_keeps_the_frames_before_it(media_dir, tmp_path,
                                                                                 empty_models_dir, monkeypatch):
    original = VideoSource.read

    def damaged_at_7(self, frame_number):  # only where the frame loop reads (the analysis read it fine)
        if frame_number == 7 and threading.current_thread().name == "render-decode":
            raise InputError(f"frame 7 of {self.path_pattern} cannot be decoded (the file is damaged there)",
                             "re-export or re-copy the file")
        return original(self, frame_number)

    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="1-10",
                          backend="classic", format="png", padding=SMALL, batch=4)
    monkeypatch.setattr(VideoSource, "read", damaged_at_7)
    with pytest.raises(InputError) as failed:
        render(config)
    assert "frame 7 of" in failed.value.message and "6 frames before it" in failed.value.message
    assert "--resume" in failed.value.fix and "'resume': true" in failed.value.to_dict()["fix"]  # each reader's words
    assert sorted(p.name for p in tmp_path.glob("529_2.*.png")) == [f"529_2.{n:04d}.png" for n in range(1, 7)]
    monkeypatch.setattr(VideoSource, "read", original)
    again = render(RenderConfig(**{**config.__dict__, "resume": True}))
    assert again.skipped == 6 and again.rendered == 4


def test_a_batch_that_cannot_be_prepared_keeps_the_batches_before_it(media_dir, tmp_path, empty_models_dir,
                                                                     monkeypatch):
    """Not only reads: any failure while the decode stage prepares a batch (a frame a parsing smoother
    reads, memory) lets the batches already decoded be written before the job stops."""
    from engine.errors import DeviceOutOfMemoryError
    from engine.pipeline.classic_backend import ClassicBackend

    original = ClassicBackend.batch_input
    calls = []

    def fails_on_the_third(self, crops, *rest, **kw):
        calls.append(len(crops))
        if len(calls) == 3:
            raise DeviceOutOfMemoryError("out of memory preparing a batch", "retry with --batch 1")
        return original(self, crops, *rest, **kw)

    monkeypatch.setattr(ClassicBackend, "batch_input", fails_on_the_third)
    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="1-12",
                          backend="classic", format="png", padding=SMALL, batch=3)
    with pytest.raises(DeviceOutOfMemoryError) as failed:
        render(config)
    assert "the 6 frames before it are written" in failed.value.message and "--resume" in failed.value.fix
    assert sorted(p.name for p in tmp_path.glob("529_2.*.png")) == [f"529_2.{n:04d}.png" for n in range(1, 7)]


def test_a_network_failure_keeps_the_stylized_batch_already_on_its_way_to_the_writer(media_dir, tmp_path,
                                                                                    empty_models_dir, monkeypatch):
    """Out of memory in the network on a batch while the batch before it waits for the writer: that batch is
    stylized already and is written before the job stops, as frames decoded before a bad frame are. The
    writer is held on frame 1 until the network has failed, so batch 2 is in flight then, every run."""
    from engine.errors import DeviceOutOfMemoryError
    from engine.pipeline.classic_backend import ClassicBackend

    original = ClassicBackend.stylize_batch
    calls = []
    network_failed = threading.Event()

    def fails_on_the_third(self, batch, crops, *rest, **kw):
        calls.append(len(crops))
        if len(calls) == 3:
            network_failed.set()
            raise DeviceOutOfMemoryError("out of memory in the network", "retry with --batch 1")
        return original(self, batch, crops, *rest, **kw)

    def hold_the_writer(event):
        if event.get("event") == "frame_done" and event["frame"] == 1:
            assert network_failed.wait(60)

    monkeypatch.setattr(ClassicBackend, "stylize_batch", fails_on_the_third)
    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="1-4",
                          backend="classic", format="png", padding=SMALL, batch=1)
    with pytest.raises(DeviceOutOfMemoryError) as failed:
        render(config, on_event=hold_the_writer)
    assert sorted(p.name for p in tmp_path.glob("529_2.*.png")) == ["529_2.0001.png", "529_2.0002.png"]
    assert all(is_complete_file(p, "png") for p in tmp_path.glob("529_2.*.png"))
    assert "frame 3" in failed.value.message and "the 2 frames before it are written" in failed.value.message
    assert "--resume" in failed.value.fix

    calls.clear()
    monkeypatch.setattr(ClassicBackend, "stylize_batch", original)
    result = render(RenderConfig(**{**config.to_dict(), "resume": True}))
    assert (result.skipped, result.rendered) == (2, 2)
