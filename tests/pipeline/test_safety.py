"""Issue 9, pipeline half: nothing lost, nothing written outside the output folder, no hang.

Each test names the hostile or unlucky case it covers; renders use the classic backend on small plates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import ConfigError, FrameRangeError, InputError, OutputError
from engine.io import open_source, read_image
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import parse_frame_ranges, select_frames
from engine.pipeline.outputs import OutputNaming
from engine.pipeline.render import render

SMALL = (48, 48, 48, 48)
REPO = Path(__file__).resolve().parents[2]


def _release(fifo: Path) -> None:
    """Give a reader stuck on ``fifo`` its end of file (never blocks: no reader, no open)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture()
def face_png(reference_dir):
    return reference_dir / "preprocess" / "529_2_frame0.png"


def _plates(folder, face_png, numbers=(1, 2)):
    folder.mkdir(exist_ok=True)
    for n in numbers:
        shutil.copy(face_png, folder / f"shot.{n:04d}.png")
    return {n: (folder / f"shot.{n:04d}.png").read_bytes() for n in numbers}


# --- item 1: --overwrite touches only files this engine wrote ---------------------------------------

def test_overwrite_into_the_plate_folder_never_deletes_plates(tmp_path, face_png, empty_models_dir):
    plates = tmp_path / "plates"
    originals = _plates(plates, face_png)
    first = RenderConfig(source=str(plates / "shot.####.png"), output=str(plates), padding=SMALL)
    render(first)                                                  # shot.0001.exr, shot.0002.exr beside the plates
    other = RenderConfig(**{**first.to_dict(), "padding": (64, 64, 64, 64)})
    with pytest.raises(ConfigError, match="holds 2 files"):       # the two EXRs, not the plates too
        render(other)
    render(RenderConfig(**{**other.to_dict(), "overwrite": True}))
    for n, data in originals.items():
        assert (plates / f"shot.{n:04d}.png").read_bytes() == data
    assert sorted(p.name for p in plates.glob("shot.*.exr")) == ["shot.0001.exr", "shot.0002.exr"]


def test_overwrite_leaves_unstamped_and_linked_files_alone(tmp_path, face_png, empty_models_dir):
    out = tmp_path / "out"
    source = tmp_path / "in"
    _plates(source, face_png, (1,))
    render(RenderConfig(source=str(source / "shot.####.png"), output=str(out), padding=SMALL, format="png"))
    foreign = out / "shot.0007.png"                                  # an artist's file that matches the pattern
    shutil.copy(face_png, foreign)
    victim = tmp_path / "precious.png"
    shutil.copy(face_png, victim)
    (out / "shot.0008.png").symlink_to(victim)
    render(RenderConfig(source=str(source / "shot.####.png"), output=str(out), padding=(64, 64, 64, 64),
                        format="png", overwrite=True))
    assert foreign.read_bytes() == face_png.read_bytes() and victim.read_bytes() == face_png.read_bytes()
    assert (out / "shot.0008.png").is_symlink()


def test_output_name_held_by_a_foreign_file_is_refused(tmp_path, face_png, empty_models_dir):
    source = tmp_path / "in"
    _plates(source, face_png, (1,))
    out = tmp_path / "out"
    out.mkdir()
    (out / "shot.0001.png").write_bytes(b"an artist's file")
    with pytest.raises(Exception, match="not written by VToonify"):
        render(RenderConfig(source=str(source / "shot.####.png"), output=str(out), padding=SMALL, format="png"))
    assert (out / "shot.0001.png").read_bytes() == b"an artist's file"


# --- item 2: --resume counts only complete, regular files of this job ------------------------------

def test_resume_redoes_truncated_and_empty_frames_and_refuses_a_linked_one(tmp_path, face_png, empty_models_dir):
    source = tmp_path / "in"
    _plates(source, face_png, (1, 2, 3, 4))
    out = tmp_path / "out"
    config = RenderConfig(source=str(source / "shot.####.png"), output=str(out), padding=SMALL, format="png")
    render(config)
    good = (out / "shot.0001.png").read_bytes()
    (out / "shot.0002.png").write_bytes(good[: len(good) // 2])      # truncated by a full disk
    (out / "shot.0003.png").write_bytes(b"")                          # empty
    (out / "shot.0004.png").unlink()
    link_target = tmp_path / "elsewhere.png"
    link_target.write_bytes(good)
    (out / "shot.0004.png").symlink_to(link_target)                   # a link planted at an output name
    with pytest.raises(OutputError, match=r"shot\.0004\.png .* is a link"):  # never replaced, nor followed
        render(RenderConfig(**{**config.to_dict(), "resume": True}))
    assert (out / "shot.0004.png").is_symlink() and link_target.read_bytes() == good
    (out / "shot.0004.png").unlink()                                  # the fix the error names
    result = render(RenderConfig(**{**config.to_dict(), "resume": True}))
    assert (result.skipped, result.rendered) == (1, 3)
    for n in (2, 3, 4):
        path = out / f"shot.{n:04d}.png"
        assert path.is_file() and not path.is_symlink() and read_image(path).shape == (352, 376, 4)
    assert link_target.read_bytes() == good


# --- item 6 and 13: frame ranges --------------------------------------------------------------------

def test_huge_frame_range_is_an_instant_clear_error():
    start = time.monotonic()
    with pytest.raises(FrameRangeError, match="outside the source"):
        select_frames("1-99999999999", list(range(1, 30)))
    with pytest.raises(FrameRangeError, match="asks for"):
        parse_frame_ranges("1-99999999999")
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("text", ["\u0663", "1-\u0661\u0660", "\uff11-\uff15", "\u00b2"])
def test_frame_numbers_are_ascii_digits_only(text):
    # Before: Python's \d and int() read Arabic-Indic and full-width digits, so '\u0663' rendered frame 3
    # (and a farm's log showed a range no one could type back).
    with pytest.raises(FrameRangeError, match="cannot read frame range") as refused:
        parse_frame_ranges(text)
    assert "use forms like 1-10" in refused.value.fix


@pytest.mark.parametrize("text", ["", "  ", " , "])
def test_blank_frame_range_is_an_error(text):
    with pytest.raises(FrameRangeError):
        select_frames(text, [1, 2, 3])


def test_negative_frames_are_named_as_the_pattern_announces(tmp_path):
    naming = OutputNaming(tmp_path, "shot", "exr", 4)
    assert naming.pattern.endswith("shot.####.exr")
    assert [naming.beauty(f).name for f in (-12, -1, 0, 7)] == [
        "shot.-0012.exr", "shot.-0001.exr", "shot.0000.exr", "shot.0007.exr"]


def test_negative_start_number_renders_names_with_four_digits(media_dir, tmp_path, empty_models_dir):
    from engine.service import catalog
    from vtoonify_addon.core.sequence_files import frame_path

    result = render(RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(tmp_path), start_number=-3,
                                 frames="-3--2", padding=SMALL))
    assert result.pattern.endswith("529_2.####.exr")
    assert sorted(p.name for p in tmp_path.glob("*.exr")) == ["529_2.-0002.exr", "529_2.-0003.exr"]
    for frame in (-3, -2):                      # the panel's and the add-on's names for them agree
        assert catalog.frame_path(result.pattern, frame) == frame_path(result.pattern, frame) == \
            str(tmp_path / f"529_2.{frame:+05d}.exr".replace("+", ""))
    with open_source(result.pattern) as again:  # and the engine reads them back as frames -3, -2
        assert again.frame_numbers == [-3, -2]


# --- item 7: a damaged container does not shift frames ----------------------------------------------

def _mkv_with_a_hole(path, frames=29, hole=(9, 18), face=None):
    """An intra-only MKV whose frame i is noise around grey 8*i (or ``face`` brightened by 2*i), with the
    bytes of frames hole[0]..hole[1]-1 (0-based) zeroed as a damaged copy would have them."""
    h, w = (48, 64) if face is None else face.shape[:2]
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = 1
        for i in range(frames):
            if face is not None:
                img = (face.astype(np.int32) * 3 // 4 + 2 * i).astype(np.uint8)
            else:
                img = (np.random.default_rng(i).integers(0, 24, (48, 64, 3)) + 8 * i).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    start, end = packets[hole[0]][0] - 8, packets[hole[1] - 1][0] + packets[hole[1] - 1][1]
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))


def _grey_level(rgb) -> int:
    return round((float(rgb.mean()) - 11.5) / 8)


def test_hole_in_an_mkv_keeps_frame_numbers_and_names_the_damage(tmp_path):
    clip = tmp_path / "holed.mkv"
    _mkv_with_a_hole(clip)
    with open_source(clip) as src:
        for number in src.frame_numbers:
            try:
                picture = src.read(number)
            except InputError as exc:  # the hole's edge cuts the end of frame 9's packet: FFmpeg flags it corrupt
                assert number == 9 and "is damaged" in str(exc), (number, exc)  # (up to 12 levels off a clean copy)
                continue
            assert _grey_level(picture) == number - 1, number             # frame N is source frame N
        assert set(range(10, 19)) <= set(src.damaged_frames)
        assert sorted(src.frame_numbers + src.damaged_frames) == list(range(1, 30))
        with pytest.raises(InputError, match="cannot be decoded"):
            src.read(src.damaged_frames[0])


def test_render_of_a_damaged_mkv_names_the_frames_and_renders_the_rest(tmp_path, face_png, empty_models_dir):
    from engine.io import read_rgb8

    clip = tmp_path / "holed.mkv"
    _mkv_with_a_hole(clip, face=read_rgb8(face_png))
    with pytest.raises(InputError, match=r"frames 10-\d+ of .*holed.mkv cannot be decoded"):
        render(RenderConfig(source=str(clip), output=str(tmp_path / "all"), padding=SMALL))
    with pytest.raises(InputError, match=r"frames 10-12 of .*holed.mkv cannot be decoded"):
        render(RenderConfig(source=str(clip), output=str(tmp_path / "some"), frames="8-12", padding=SMALL))
    assert not (tmp_path / "all").exists() and not (tmp_path / "some").exists()
    result = render(RenderConfig(source=str(clip), output=str(tmp_path / "good"), frames="7-9,28-29",
                                 padding=SMALL))                      # frames that decode render as asked
    assert result.rendered == 5
    assert sorted(p.name for p in (tmp_path / "good").glob("*.exr")) == [
        f"holed.{n:04d}.exr" for n in (7, 8, 9, 28, 29)]
    for n in (9, 28):                                   # output frame N carries source frame N
        assert _spec(tmp_path / "good" / f"holed.{n:04d}.exr").getattribute("vtoonify/frame") == n


# --- item 6: memory clearly too large is refused up front -------------------------------------------

def test_scale_too_large_for_memory_is_refused_with_the_figure(tmp_path, face_png, empty_models_dir, monkeypatch):
    from engine.pipeline import memory

    monkeypatch.setattr(memory, "memory_figures", lambda device: (256 << 20, 256 << 20))   # a 256 MiB machine
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        render(RenderConfig(source=str(face_png), output=str(tmp_path / "out"), scale=8.0, padding=SMALL))
    text = info.value.user_message
    assert "3008x2816" in text and "0.4 GiB" in text and "use --scale 6.5 or less" in text, text
    assert time.monotonic() - start < 5
    assert not (tmp_path / "out").exists()


# --- item 5: Ctrl-C and SIGTERM end the CLI even inside a blocking read -----------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX signals and FIFOs")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_the_cli_inside_a_blocking_read(tmp_path, face_png, sig):
    plates = tmp_path / "plates"
    _plates(plates, face_png, (1,))
    fifo, marker = tmp_path / "stalled", tmp_path / "reading"
    os.mkfifo(fifo)
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_MODELS=str(tmp_path))
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "pipeline" / "blocking_render.py"), str(fifo),
                             str(marker), "render", str(plates / "shot.####.png"), "-o", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=5)
        time.sleep(0.3)                                     # now inside open(2) on the FIFO
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        _release(fifo)                                      # free the stuck read so the process can go
        proc.kill()
        proc.communicate()
        pytest.fail("the CLI kept waiting on a blocked read after the signal")
    assert proc.returncode == 130, err
    assert "cancelled:" in err and "--resume" in err
    # the job was given up inside the read, without unwinding: the folder it made was left empty before
    assert not (tmp_path / "out").exists(), list((tmp_path / "out").iterdir())


def _signal_a_render_at_its_marker(tmp_path, face_png, script, sig, settle=0.0):
    """Run ``engine render`` (classic) through a test wrapper ``script`` that writes ``marker`` once it is
    inside the step under test, send ``sig`` there, and return (exit code, stderr, seconds to the exit)."""
    plates = tmp_path / "plates"
    _plates(plates, face_png, (1,))
    marker = tmp_path / "marker"
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_MODELS=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "pipeline" / script), str(marker),
                             "render", str(plates / "shot.####.png"), "-o", str(tmp_path / "out"),
                             "--backend", "classic"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), proc.communicate(timeout=5)
        time.sleep(settle)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_a_step_that_never_checks_cancel_within_two_seconds(tmp_path, face_png, sig):
    """A step that computes for long without a cancel check (a 1.2 GB encoder.pt load, the pSp pass, a
    frame on one thread): Ctrl-C / SIGTERM ended the CLI only after the 5 s grace, and SIGTERM then often
    ended it with SIGABRT (exit -6, torch's threads alive at interpreter exit), which a farm reads as a
    crash. Now: exit 130 within ~1-2 s, the empty output folder removed."""
    code, err, took = _signal_a_render_at_its_marker(tmp_path, face_png, "busy_render.py", sig, settle=0.2)
    assert code == 130, err
    assert took < 2.5, f"took {took:.2f} s to stop"
    assert "cancelled:" in err and "--resume" in err
    assert not (tmp_path / "out").exists(), list((tmp_path / "out").iterdir())


def test_a_cancelled_render_ends_without_waiting_for_the_interpreter_to_tear_down(tmp_path, face_png):
    """A job that stopped at its own check 0.6 s after SIGTERM still took 3.3 s to end the process: the
    interpreter freed a full-size model's gigabytes on the way out. Every file is settled once the job
    has stopped, so the CLI now ends at once with 130."""
    code, err, took = _signal_a_render_at_its_marker(tmp_path, face_png, "slow_teardown_render.py", signal.SIGTERM)
    assert code == 130, err
    assert took < 2.5, f"took {took:.2f} s to end"
    assert "cancelled:" in err and "--resume" in err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="POSIX terminals")
def test_closing_the_terminal_stops_a_render_cleanly_and_it_resumes(tmp_path, face_png, empty_models_dir):
    """The artist closes the terminal running ``engine render`` (SIGHUP, then EIO on every write to
    it): the render stops between frames and exits 130 as for Ctrl-C (it died at once by default, and
    its last message to the gone terminal turned a clean stop into exit 1); the rerun completes it."""
    import pty
    import select

    plates = tmp_path / "plates"
    _plates(plates, face_png, range(1, 41))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "engine", "render", str(plates / "shot.####.png"), "-o", str(out),
               "--backend", "classic", "--format", "png"]
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_MODELS=str(empty_models_dir))
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the render, with the new terminal as its controlling one
        os.execve(sys.executable, command, env)
    shown = b""
    deadline = time.monotonic() + 120
    while len(list(out.glob("shot.*.png"))) < 3 and time.monotonic() < deadline:
        if select.select([terminal], [], [], 0.2)[0]:
            with contextlib.suppress(OSError):
                shown += os.read(terminal, 4096)
    os.close(terminal)  # the terminal goes away: the kernel hangs up its session
    waited, status = 0, None
    while status is None and waited < 600:
        done_pid, raw = os.waitpid(pid, os.WNOHANG)
        status = os.waitstatus_to_exitcode(raw) if done_pid else None
        time.sleep(0.1)
        waited += 1
    assert status == 130, (status, shown[-500:])
    written = sorted(out.glob("shot.*.png"))
    assert 3 <= len(written) < 40, "the render should have stopped part way"
    assert not [p.name for p in out.iterdir() if not p.name.startswith("shot.")], "temp files left behind"
    for frame in written:
        assert read_image(str(frame)).shape[:2] == (read_image(str(face_png)).shape[:2]), frame
    rerun = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("shot.*.png"))) == 40


def test_a_foreign_file_at_the_sidecar_name_is_never_replaced(tmp_path, face_png, empty_models_dir):
    """The engine keeps its shot analysis in ``<stem>.vtoonify.json``; somebody's file of that name
    was silently replaced by it. Now the job is refused and the file stays; a sidecar of ours whose
    fields an older or newer engine wrote differently is still replaced by a fresh analysis."""
    plates = tmp_path / "plates"
    _plates(plates, face_png, (1, 2))
    out = tmp_path / "out"
    out.mkdir()
    notes = out / "shot.vtoonify.json"
    notes.write_text("shot notes: keep the grain\n")
    config = RenderConfig(source=str(plates / "shot.####.png"), output=str(out), padding=SMALL, format="png")
    with pytest.raises(ConfigError, match=r"shot\.vtoonify\.json .* is not a VToonify sidecar") as info:
        render(config)
    assert "move the file away" in info.value.fix
    assert notes.read_text() == "shot notes: keep the grain\n"
    assert sorted(p.name for p in out.iterdir()) == ["shot.vtoonify.json"]

    notes.write_text('{"job_key": "from-another-engine", "landmarks": "not a list"}')  # ours, unreadable
    render(config)
    assert sorted(p.name for p in out.glob("shot.*.png")) == ["shot.0001.png", "shot.0002.png"]
    assert "landmarks" in notes.read_text() and "from-another-engine" not in notes.read_text()


def test_a_job_refused_for_a_foreign_frame_file_leaves_nothing_behind(tmp_path, face_png, empty_models_dir):
    """A file the engine did not write at an output frame's name refuses the job before its shot
    analysis: no sidecar (the refused job's analysis was written and left in the folder), no frames."""
    plates = tmp_path / "plates"
    _plates(plates, face_png, (1, 2, 3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "shot.0002.png").write_bytes(b"somebody's frame")
    config = RenderConfig(source=str(plates / "shot.####.png"), output=str(out), padding=SMALL, format="png")
    with pytest.raises(OutputError, match=r"shot\.0002\.png .* was not written by VToonify Studio"):
        render(config)
    assert sorted(p.name for p in out.iterdir()) == ["shot.0002.png"]
    assert (out / "shot.0002.png").read_bytes() == b"somebody's frame"


# --- item 4: two jobs with other settings into one folder at once: one is refused -------------------

def test_two_renders_with_other_settings_at_once_one_is_refused(tmp_path, face_png, empty_models_dir):
    import threading

    plates = tmp_path / "plates"
    _plates(plates, face_png, (1, 2, 3, 4, 5, 6))
    out = tmp_path / "out"
    start = threading.Barrier(2)
    outcome: dict = {}

    def job(name, padding):
        config = RenderConfig(source=str(plates / "shot.####.png"), output=str(out), padding=padding, format="png")
        start.wait()
        try:
            outcome[name] = render(config).to_dict()
        except ConfigError as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=job, args=("a", SMALL)), threading.Thread(target=job, args=("b", (64,) * 4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    refused = [k for k, v in outcome.items() if isinstance(v, ConfigError)]
    assert len(outcome) == 2 and len(refused) == 1, outcome
    import json

    key = json.loads((out / "shot.vtoonify.json").read_text())["job_key"]
    frames = sorted(out.glob("shot.*.png"))
    stamps = {_spec(p).getattribute("vtoonify/job") for p in frames}
    assert len(frames) == 6 and stamps == {key}                               # one look only


def test_a_plate_replaced_at_its_path_is_never_resumed_onto_the_old_plates_frames(media_dir, tmp_path,
                                                                                    empty_models_dir):
    """A plate re-exported over its file (same name and picture size, other frames) between two runs of one
    job: --resume (every farm chunk's) counted the old plate's frames 1-2 as done and added 3-4 of the new
    one, reusing the old plate's crop: a folder whose frame N was no longer input frame N. The job is now
    refused naming the change, and --overwrite renders the new plate, deleting the old plate's frames."""
    plate, out = tmp_path / "plate.mp4", tmp_path / "out"
    shutil.copy(media_dir / "651.mp4", plate)
    render(RenderConfig(source=str(plate), output=str(out), frames="1-2", padding=SMALL))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    shutil.copy(media_dir / "908.mp4", plate)            # 392x360 as 651.mp4 is: only the pictures differ
    for resume in (True, False):
        with pytest.raises(ConfigError, match=r"plate\.mp4 is not the file .* rendered from") as info:
            render(RenderConfig(source=str(plate), output=str(out), frames="1-4", padding=SMALL, resume=resume))
        assert "--overwrite" in info.value.fix
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    render(RenderConfig(source=str(plate), output=str(out), frames="3-4", padding=SMALL, overwrite=True))
    assert sorted(p.name for p in out.glob("*.exr")) == ["plate.0003.exr", "plate.0004.exr"]
    fresh = tmp_path / "fresh"
    render(RenderConfig(source=str(plate), output=str(fresh), frames="3-4", padding=SMALL))
    for name in ("plate.0003.exr", "plate.0004.exr"):
        assert np.array_equal(read_image(out / name), read_image(fresh / name)), name
    render(RenderConfig(source=str(plate), output=str(out), frames="1-4", padding=SMALL, resume=True))
    assert len(list(out.glob("*.exr"))) == 4             # the same plate again resumes as before


def test_a_start_number_given_for_an_image_sequence_is_named_as_ignored(tmp_path, face_png, empty_models_dir):
    """--start-number renumbers a video (and a single image); a sequence keeps its files' numbers. A TD who
    gave --start-number 1 for a 1001-based sequence got frames 1001-1002 without a word (the README's rule:
    an option that does nothing with the others is named in a warning). Now the job says so."""
    from engine.errors import render_settings

    _plates(tmp_path / "plates", face_png, (1001, 1002))
    events = []
    result = render(RenderConfig(source=str(tmp_path / "plates" / "shot.####.png"), output=str(tmp_path / "out"),
                                 start_number=1, padding=SMALL, format="png", backend="classic"),
                    on_event=events.append)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["shot.1001.png", "shot.1002.png"]
    assert not [e for e in events if e["event"] == "warning"]              # the default says nothing
    events.clear()
    result = render(RenderConfig(source=str(tmp_path / "plates" / "shot.####.png"), output=str(tmp_path / "out"),
                                 start_number=5, padding=SMALL, format="png", backend="classic", resume=True),
                    on_event=events.append)
    notes = [render_settings(e["message"]) for e in events if e["event"] == "warning"]
    assert len(notes) == 1 and notes[0] in [render_settings(w) for w in result.warnings], notes
    assert "--start-number 5 renumbers a video" in notes[0] and "keeps its files' numbers (1001-1002)" in notes[0]


def test_a_file_with_two_video_streams_says_which_one_is_read(tmp_path, face_png, empty_models_dir):
    """A container holding two video streams (a camera and a witness cam, a picture-in-picture export) is read
    from its first, as Blender's sequencer reads it, with no word: a shot whose face is in the second stream
    failed with only "no face was found". The job names the streams and how to render the other one."""
    from engine.io import read_rgb8

    face = read_rgb8(face_png)
    clip = tmp_path / "two.mkv"
    with av.open(str(clip), "w") as out:
        streams = [out.add_stream("libx264", rate=25), out.add_stream("libx264", rate=25)]
        for stream, (w, h) in zip(streams, ((face.shape[1], face.shape[0]), (64, 48))):
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for _ in range(2):
            for stream, picture in zip(streams, (face, np.full((48, 64, 3), 90, np.uint8))):
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    out.mux(packet)
        for stream in streams:
            for packet in stream.encode():
                out.mux(packet)
    result = render(RenderConfig(source=str(clip), output=str(tmp_path / "out"), padding=SMALL, backend="classic"))
    notes = [w for w in result.warnings if "video streams" in w]
    assert len(notes) == 1, result.warnings
    assert f"two.mkv holds 2 video streams: the first ({face.shape[1]}x{face.shape[0]}) is read" in notes[0]
    assert "ffmpeg -i two.mkv -map 0:v:1 -c copy two_v1.mkv" in notes[0]   # how to render the other one
    assert sorted(p.name for p in (tmp_path / "out").glob("*.exr")) == ["two.0001.exr", "two.0002.exr"]


def _rerender_upstream(path: Path) -> None:
    """An upstream re-render of one plate frame: the same picture size, other pixels."""
    pixels = read_image(path)
    pixels[:8, :8] = 1.0 - pixels[:8, :8]
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], oiio.UINT8))
    out.write_image(pixels)
    out.close()


def test_sequence_frames_re_rendered_upstream_are_never_resumed_onto(tmp_path, face_png, empty_models_dir,
                                                                      monkeypatch):
    """Plate frames 2-3 re-rendered in place upstream (same names and size, other pixels) after the job wrote
    their frames: --resume counted the old frames 2-3 as done, so output frames 2-3 no longer showed input
    frames 2-3. The resume is refused naming the changed frames and the --overwrite that re-renders them;
    re-rendering just those frames with --overwrite makes the folder resumable again. Frames written by an
    earlier engine (no record of their plate file) still resume."""
    plates, out = tmp_path / "plates", tmp_path / "out"
    _plates(plates, face_png, numbers=(1, 2, 3, 4))
    pattern = str(plates / "shot.####.png")
    render(RenderConfig(source=pattern, output=str(out), frames="1-4", padding=SMALL))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for number in (2, 3):
        _rerender_upstream(plates / f"shot.{number:04d}.png")
    with pytest.raises(ConfigError, match=r"frames 2-3 of .*shot\.####\.png changed") as info:
        render(RenderConfig(source=pattern, output=str(out), frames="1-4", padding=SMALL, resume=True))
    assert "--overwrite --frames 2-3" in info.value.fix
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    render(RenderConfig(source=pattern, output=str(out), frames="1", padding=SMALL, resume=True))  # 1: unchanged
    render(RenderConfig(source=pattern, output=str(out), frames="2-3", padding=SMALL, overwrite=True))
    assert (out / "shot.0001.exr").read_bytes() == before["shot.0001.exr"]
    assert (out / "shot.0002.exr").read_bytes() != before["shot.0002.exr"]
    render(RenderConfig(source=pattern, output=str(out), frames="1-4", padding=SMALL, resume=True))

    from engine.pipeline.writer import FrameWriter

    old = tmp_path / "old"
    monkeypatch.setattr(FrameWriter, "plate_print", lambda self, frame: None)  # an earlier engine's frames
    render(RenderConfig(source=pattern, output=str(old), frames="1-2", padding=SMALL))
    monkeypatch.undo()
    _rerender_upstream(plates / "shot.0001.png")
    render(RenderConfig(source=pattern, output=str(old), frames="1-4", padding=SMALL, resume=True))
    assert len(list(old.glob("*.exr"))) == 4


# --- item 6: a tampered sidecar is validated, never trusted -----------------------------------------

def test_tampered_sidecar_is_recomputed_not_trusted(tmp_path, face_png, empty_models_dir):
    import json

    plates = tmp_path / "plates"
    _plates(plates, face_png, (1, 2))
    out = tmp_path / "out"
    config = RenderConfig(source=str(plates / "shot.####.png"), output=str(out), padding=SMALL, frames="1")
    render(config)
    sidecar = out / "shot.vtoonify.json"
    honest = json.loads(sidecar.read_text())
    tampered = dict(honest, crop={**honest["crop"], "left": honest["crop"]["left"] + 16,
                                  "right": honest["crop"]["right"] + 16})
    sidecar.write_text(json.dumps(tampered))
    render(RenderConfig(**{**config.to_dict(), "frames": "2"}))
    assert json.loads(sidecar.read_text())["crop"] == honest["crop"]
    from engine.pipeline.shot import read_sidecar, sidecar_problem

    with open_source(str(plates / "shot.####.png")) as source:
        for bad in ({"style_code": "../../outside.pt"}, {"source_size": [99999, 99999]},
                    {"landmarks": honest["landmarks"][:5]}, {"face_frame": 77}, {"warnings": ["x" * 5000]}):
            sidecar.write_text(json.dumps({**honest, **bad}))
            assert sidecar_problem(read_sidecar(sidecar), source, config, "shot") is not None, bad
    a, b = read_image(out / "shot.0001.exr"), read_image(out / "shot.0002.exr")   # same plate, same crop
    assert a.shape == b.shape and np.array_equal(a, b)


# --- item 11: EXR plates with a display window away from (0, 0) -------------------------------------

def _exr_plate(path, rgb8, origin):
    from engine.io import srgb_to_linear

    h, w = rgb8.shape[:2]
    spec = oiio.ImageSpec(w, h, 3, oiio.HALF)
    spec.x, spec.y = origin
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = origin[0], origin[1], w, h
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(srgb_to_linear(rgb8.astype(np.float32) / 255.0).astype(np.float32))
    out.close()


def _spec(path):
    inp = oiio.ImageInput.open(str(path))
    try:
        return inp.spec()
    finally:
        inp.close()


def test_exr_plate_display_window_is_kept(tmp_path, face_png, empty_models_dir):
    from engine.io import read_rgb8

    rgb8 = read_rgb8(face_png)
    shifted, plain = tmp_path / "shifted", tmp_path / "plain"
    shifted.mkdir()
    plain.mkdir()
    _exr_plate(shifted / "plate.0001.exr", rgb8, (-40, -24))
    _exr_plate(plain / "plate.0001.exr", rgb8, (0, 0))
    moved_path, base_path = (render(RenderConfig(source=str(folder / "plate.0001.exr"), output=str(folder / "out"),
                                                 padding=SMALL)).outputs[0] for folder in (shifted, plain))
    moved, base = _spec(moved_path), _spec(base_path)
    assert (moved.full_x, moved.full_y, moved.full_width, moved.full_height) == (-40, -24, 376, 352)
    assert (base.full_x, base.full_y) == (0, 0)
    assert (moved.x - moved.full_x, moved.y - moved.full_y) == (base.x, base.y)   # same place over the plate
    assert np.array_equal(read_image(moved_path), read_image(base_path))


def test_exr_whose_pixels_lie_outside_its_display_window_names_that(tmp_path, face_png, empty_models_dir):
    """A face plate whose data window was set beside its display window (a comp's mistake): the plate the
    engine renders is black. Before: "no face was found ... (use a shot where a face is visible ...)"."""
    from engine.errors import NoFaceError
    from engine.io import read_rgb8

    rgb8 = read_rgb8(face_png)
    h, w = rgb8.shape[:2]
    spec = oiio.ImageSpec(w, h, 3, oiio.HALF)
    spec.x, spec.y = w + 100, 50                                 # data window right of the display window
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, w, h
    path = tmp_path / "plate.0001.exr"
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image((rgb8 / 255.0).astype(np.float32)) and out.close()
    with pytest.raises(NoFaceError) as info:
        render(RenderConfig(source=str(path), output=str(tmp_path / "out"), padding=SMALL))
    assert info.value.message.endswith(
        f"the pixels of plate.0001.exr lie wholly outside its display window (data window {w + 100},50-"
        f"{2 * w + 100},{h + 50}, display window 0,0-{w},{h}), so the plate is empty")
    assert info.value.fix == "re-export the plate with its data window inside the display window"
    assert not (tmp_path / "out").exists()


# --- item 13: two faces in the face frame ----------------------------------------------------------

def test_two_faces_warn_which_face_was_used(tmp_path, face_png, empty_models_dir):
    from engine.io import read_rgb8, write_png

    face = read_rgb8(face_png)
    pair = np.concatenate([face, face[:, ::-1]], axis=1)                 # 752x352, a face in each half
    write_png(tmp_path / "pair.png", pair)
    events = []
    result = render(RenderConfig(source=str(tmp_path / "pair.png"), output=str(tmp_path / "out"), padding=SMALL),
                    on_event=events.append)
    notes = [e["message"] for e in events if e["event"] == "warning" and "shows" in e["message"]]
    assert len(notes) == 1 and "shows 2 faces" in notes[0] and notes[0] in result.warnings
    import json
    import re

    left, right = (int(v) for v in re.search(r"x (-?\d+)-(-?\d+)", notes[0]).groups())
    landmarks = np.array(json.loads((tmp_path / "out" / "pair.vtoonify.json").read_text())["landmarks"])
    assert left <= landmarks[:, 0].mean() <= right                       # the named face is the one used


# --- item 2 at the CLI: a full disk is exit 75 (retry) and leaves no frame that is not whole ----------

def test_render_onto_a_full_disk_exits_75_with_no_partial_frame(media_dir, tmp_path, monkeypatch, capsys):
    from engine.cli import main
    from engine.errors import EXIT_RETRY

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here; tests/io/test_io_safety.py injects the failure instead")
    try:
        monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path))
        code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(disk / "out"), "--frames", "1-5",
                     "--format", "png", "--padding", "48"])
        assert code == EXIT_RETRY, capsys.readouterr().err
        assert "is full" in capsys.readouterr().err
        for path in (disk / "out").glob("529_2.*.png"):          # whatever was renamed into place is whole
            assert read_image(path).shape == (352, 376, 4)
        assert not [p for p in (disk / "out").iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_blank_frames_flag_is_a_one_line_error(media_dir, tmp_path, monkeypatch, capsys):
    from engine.cli import main

    monkeypatch.setenv("VTOONIFY_MODELS", str(tmp_path))
    assert main(["render", str(media_dir / "529_2.mp4"), "-o", str(tmp_path / "out"), "--frames", "  "]) == 2
    assert "empty frame range" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_stale_temps_with_random_names_are_reaped_but_links_are_not(tmp_path):
    from engine.io.atomic import host_tag
    from engine.pipeline.outputs import clean_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = tmp_path / f".shot.0001.exr.{host_tag()}-{dead}.0123456789ab.tmp"
    stale.write_bytes(b"partial")
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    link = tmp_path / f".shot.0002.exr.{host_tag()}-{dead}.ba9876543210.tmp"
    link.symlink_to(victim)
    assert clean_stale_temps(tmp_path, "shot") == [stale]
    assert link.is_symlink() and victim.read_bytes() == b"keep"


def test_a_style_code_swapped_for_float8_or_sparse_is_used_as_float32_or_recomputed(tmp_path):
    # Before: a float8 code raised NotImplementedError ("isfinite" has no float8 kernel) and a sparse one
    # failed the same way: an internal error from a file in the output folder, not a recomputed code.
    import torch

    from engine.pipeline.shot import _load_style_code

    code = torch.randn(1, 18, 512)
    torch.save(code.to(torch.float8_e4m3fn), tmp_path / "fp8.pt")
    torch.save(code.to_sparse(), tmp_path / "sparse.pt")
    loaded = _load_style_code(tmp_path / "fp8.pt")
    assert loaded.dtype == torch.float32 and torch.equal(loaded, code.to(torch.float8_e4m3fn).float())
    assert _load_style_code(tmp_path / "sparse.pt") is None


def test_an_animated_png_says_only_its_first_frame_is_read(tmp_path):
    # Before: an 8-frame APNG rendered its first frame with no word of the other 7 (OIIO sees one image).
    from PIL import Image

    from engine.io import open_source
    from engine.pipeline.render import animation_note

    frames = [Image.new("RGB", (16, 16), (40 * i, 0, 0)) for i in range(8)]
    frames[0].save(tmp_path / "take 2.png", save_all=True, append_images=frames[1:], duration=40)
    frames[0].save(tmp_path / "still.png")
    with open_source(tmp_path / "take 2.png") as source:
        assert source.animated_frames == 8 and source.read(1)[0, 0, 0] == 0
        assert animation_note(source) == ("take 2.png is an animated PNG of 8 frames: only its first is read as the "
                                          "plate (to render them all, convert it to a sequence, e.g. ffmpeg -i "
                                          "'take 2.png' take_2.%04d.png)")
    with open_source(tmp_path / "still.png") as source:
        assert source.animated_frames == 0 and animation_note(source) is None


def test_an_output_name_that_is_a_source_file_by_another_name_is_refused(tmp_path):
    """On a case-insensitive disk (Windows, macOS) ``shot.0001.png`` is the source ``Shot.0001.png``; no path
    comparison says so. Simulated on Linux by a hard link: the output name then is the source file too."""
    from engine.pipeline.outputs import check_no_clobber

    plate = tmp_path / "Shot.0001.png"
    plate.write_bytes(b"plate pixels")
    os.link(plate, tmp_path / "shot.0001.png")  # the second spelling of the same file
    naming = OutputNaming(tmp_path, "shot", "png", 4)
    with pytest.raises(OutputError, match="would overwrite a source frame"):
        check_no_clobber(naming, [1], [str(plate)])
    check_no_clobber(naming, [2], [str(plate)])  # another frame's name holds nothing of the source
    check_no_clobber(OutputNaming(tmp_path / "out", "shot", "png", 4), [1], [str(plate)])
