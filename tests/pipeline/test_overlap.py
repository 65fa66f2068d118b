"""The overlapped frame loop: order kept, errors from any stage raised, cancel between batches."""

from __future__ import annotations

import threading
import time

import pytest

from engine.errors import JobCancelled, OutputError
from engine.pipeline.config import RenderConfig
from engine.pipeline.overlap import DONE, Stages, Stopped
from engine.pipeline.render import render
from engine.pipeline.writer import FrameWriter

SMALL = (64, 64, 64, 64)


def test_stage_error_reaches_the_caller_and_stops_the_other_stages():
    stages = Stages()
    q = stages.queue(1)

    def producer():
        stages.put(q, 1)
        raise OutputError("disk gone", "fix it")

    stages.start("producer", producer)
    with pytest.raises(Stopped):  # the pipeline stopped on the error (in-flight items are dropped)
        while True:
            stages.get(q)
    stages.join(5)
    with pytest.raises(OutputError, match="disk gone"):
        stages.raise_error()


def test_items_keep_their_order_through_bounded_queues():
    stages = Stages()
    q = stages.queue(2)
    stages.start("producer", lambda: [stages.put(q, i) for i in range(50)] and stages.put(q, DONE))
    seen = []
    while (item := stages.get(q)) is not DONE:
        seen.append(item)
    assert seen == list(range(50))


def test_frames_come_out_in_order_with_matching_numbers(media_dir, tmp_path, empty_models_dir):
    events = []
    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="3-9",
                          backend="classic", format="png", padding=SMALL, batch=2)
    result = render(config, on_event=events.append)
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == list(range(3, 10))
    assert result.rendered == 7
    assert sorted(p.name for p in tmp_path.glob("529_2.*.png")) == [f"529_2.{n:04d}.png" for n in range(3, 10)]


def test_a_writer_error_fails_the_render_without_hanging(media_dir, tmp_path, empty_models_dir, monkeypatch):
    original = FrameWriter.write

    def failing(self, frame, result, plate, *rest):
        if frame == 4:
            raise OutputError("cannot write frame 4", "free some space")
        return original(self, frame, result, plate, *rest)

    monkeypatch.setattr(FrameWriter, "write", failing)
    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="1-12",
                          backend="classic", format="png", padding=SMALL, batch=1)
    start = time.monotonic()
    with pytest.raises(OutputError, match="frame 4"):
        render(config)
    assert time.monotonic() - start < 120
    written = sorted(p.name for p in tmp_path.glob("529_2.*.png"))
    assert written[:3] == ["529_2.0001.png", "529_2.0002.png", "529_2.0003.png"]
    assert "529_2.0004.png" not in written and not list(tmp_path.glob(".*.tmp"))


def test_cancel_stops_between_batches_leaving_only_complete_frames(media_dir, tmp_path, empty_models_dir):
    cancel = threading.Event()

    def on_event(event):
        if event["event"] == "frame_done":
            cancel.set()

    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), backend="classic",
                          format="png", padding=SMALL, batch=1)
    with pytest.raises(JobCancelled):
        render(config, on_event=on_event, cancel=cancel)
    written = list(tmp_path.glob("529_2.*.png"))
    assert 1 <= len(written) < 29 and not list(tmp_path.glob(".*.tmp"))


def test_cancel_mid_batch_reports_exactly_the_frames_on_disk_and_resume_skips_them(media_dir, tmp_path,
                                                                                    empty_models_dir):
    """A cancel inside a batch: the writer finishes the frame it is on, so the last progress event must
    count the files written after the last batch's report (it said 4 while 5+ were on disk)."""
    cancel = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        if event["event"] == "frame_done" and event["frame"] == 5:  # first frame of the second batch
            cancel.set()

    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), frames="1-16",
                          backend="classic", format="png", padding=SMALL, batch=4)
    with pytest.raises(JobCancelled):
        render(config, on_event=on_event, cancel=cancel)
    on_disk = sorted(int(p.name.split(".")[1]) for p in tmp_path.glob("529_2.*.png"))
    last = [e for e in events if e["event"] == "progress"][-1]
    assert on_disk == list(range(1, len(on_disk) + 1)) and 5 <= len(on_disk) < 16
    assert last["done"] == len(on_disk) and last["frame"] == on_disk[-1]
    assert [e["frame"] for e in events if e["event"] == "frame_done"] == on_disk
    resumed = render(RenderConfig(**{**config.__dict__, "resume": True}))
    assert resumed.skipped == len(on_disk) and resumed.rendered == 16 - len(on_disk)


@pytest.mark.parametrize("plate, per_batch", [((640, 480), 4), ((2048, 1152), 1)])
def test_the_classic_look_batches_small_plates_and_renders_large_ones_a_frame_at_a_time(
        reference_dir, tmp_path, empty_models_dir, plate, per_batch):
    """About six batches are in flight between decoding and writing: on plates over 1080p a batch of 4
    doubled the peak (3840x2160 with mattes: 3.1 GB against 1.6 GB), so those go one frame a batch.
    Progress is reported once per batch, which shows the batch size the render chose."""
    import cv2
    import numpy as np

    face = cv2.imread(str(reference_dir / "preprocess" / "529_2_frame0.png"))
    canvas = np.full((plate[1], plate[0], 3), 40, np.uint8)
    canvas[20:20 + face.shape[0], 30:30 + face.shape[1]] = face
    plates = tmp_path / "plates"
    plates.mkdir()
    for n in range(1, 6):
        cv2.imwrite(str(plates / f"p.{n:04d}.png"), canvas)
    done = []
    config = RenderConfig(source=str(plates / "p.####.png"), output=str(tmp_path / "out"), backend="classic",
                          format="png", padding=SMALL)
    render(config, on_event=lambda e: done.append(e["done"]) if e.get("event") == "progress" else None)
    assert done == [0, *range(per_batch, 5, per_batch), 5]


def test_a_cancel_inside_a_cpu_batch_waits_for_one_frame_not_the_batch(media_dir, narrow_models_dir, tmp_path,
                                                                        monkeypatch):
    """With ``--batch 3`` on a CPU the network took the three frames in one pass (full-size, one thread:
    seconds a frame), so a cancel during the first frame waited for all three. Now the frames of a CPU
    batch go through one at a time, and the job stops after the frame in progress."""
    import engine.pipeline.backends as backends

    cancel = threading.Event()
    frames_through = []
    real_tiled = backends.tiled

    def tiled_then_cancel(net, x, *args, **kwargs):
        frames_through.append(len(x))
        cancel.set()  # the user cancels while this pass runs
        return real_tiled(net, x, *args, **kwargs)

    monkeypatch.setattr(backends, "tiled", tiled_then_cancel)
    with pytest.raises(JobCancelled):
        render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path / "out"), frames="1-3",
                            models_dir=str(narrow_models_dir), style="cartoon", backend="vtoonify", batch=3,
                            device="cpu", padding=(32, 32, 32, 32), format="png"), cancel=cancel)
    assert frames_through == [1]
    assert not list((tmp_path / "out").glob("*.png"))


def test_a_cancel_inside_a_frame_stops_the_network_at_its_next_layer(media_dir, narrow_models_dir, tmp_path,
                                                                      monkeypatch):
    """A shot's first frame took 25 s on one busy CPU thread (the full-size network, its conv routes timed)
    with no cancel check inside it: the service waited its 10 s and abandoned the job, which went on
    computing. Now every layer looks at cancel first: the pass in progress stops where it is."""
    import engine.pipeline.backends as backends

    cancel = threading.Event()
    passes = {"started": 0, "finished": 0}
    real_tiled = backends.tiled

    def tiled_cancelled_inside(net, x, *args, **kwargs):
        passes["started"] += 1
        cancel.set()  # the user cancels while the frame is in the network
        y = real_tiled(net, x, *args, **kwargs)
        passes["finished"] += 1
        return y

    monkeypatch.setattr(backends, "tiled", tiled_cancelled_inside)
    with pytest.raises(JobCancelled):
        render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path / "out"), frames="1-2",
                            models_dir=str(narrow_models_dir), style="cartoon", backend="vtoonify",
                            device="cpu", padding=(32, 32, 32, 32), format="png"), cancel=cancel)
    assert passes == {"started": 1, "finished": 0}
    assert not list((tmp_path / "out").glob("*.png"))
