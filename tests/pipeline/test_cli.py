"""The render CLI as farms and artists run it: real processes, chunks, kills, resume, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cli import parse_args
from engine.io import read_image

REPO = Path(__file__).resolve().parents[2]
SMALL = "48"


def run_cli(*args, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def start_cli(*args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "engine", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


@pytest.fixture()
def no_models(tmp_path):
    folder = tmp_path / "no-models"
    folder.mkdir()
    return {"VTOONIFY_MODELS": str(folder)}


def frame_files(folder: Path, pattern="*.exr"):
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))


def test_concurrent_chunks_equal_one_run(media_dir, tmp_path, no_models):
    """Two processes rendering 1-4 and 5-8 into one folder == one process rendering 1-8 (they start
    together, so both analyse the shot and write its sidecar at once: the race this test is about)."""
    clip = media_dir / "529_2.mp4"
    chunked, whole = tmp_path / "chunked", tmp_path / "whole"
    common = ["--backend", "classic", "--mattes", "--padding", SMALL]
    a = start_cli("render", clip, "-o", chunked, "--frames", "1-4", *common, env_extra=no_models)
    b = start_cli("render", clip, "-o", chunked, "--frames", "5-8", *common, env_extra=no_models)
    one = run_cli("render", clip, "-o", whole, "--frames", "1-8", *common, env_extra=no_models)
    assert one.returncode == 0, one.stderr
    for proc in (a, b):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    names = [p.name for p in frame_files(whole)]
    assert names == [p.name for p in frame_files(chunked)] and len(names) == 8
    for name in names:
        x, y = read_image(chunked / name), read_image(whole / name)
        assert x.shape == y.shape and np.array_equal(x, y), name
    assert json.loads((chunked / "529_2.vtoonify.json").read_text())["job_key"] == \
        json.loads((whole / "529_2.vtoonify.json").read_text())["job_key"]


def test_sigkill_then_resume_completes_cleanly(media_dir, tmp_path, no_models):
    out = tmp_path / "out"
    args = ["render", media_dir / "908.mp4", "-o", out, "--frames", "1-12", "--backend", "classic",
            "--padding", SMALL, "--batch", "1", "--json-progress"]  # 12 of the clip's 39 frames: cheaper
    proc = start_cli(*args, env_extra=no_models)
    deadline = time.monotonic() + 240
    while len(frame_files(out)) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = frame_files(out)
    assert 4 <= len(done_before) < 12, "the kill must land mid-job"
    resumed = run_cli(*args, "--resume", env_extra=no_models)
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    final = events[-1]
    assert final["event"] == "job_done"
    assert final["result"]["skipped"] == len(done_before) and final["result"]["count"] == 12
    files = frame_files(out)
    assert [int(p.name.split(".")[1]) for p in files] == list(range(1, 13))
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    for path in files:                                          # every file complete and readable
        assert read_image(path).shape[2] == 4


def test_ctrl_c_mid_render_exits_130_and_says_how_to_finish(media_dir, tmp_path, no_models):
    """Ctrl-C (SIGINT) while frames are being written: exit 130, complete frames only, and the one line
    says how to finish the job (before: "cancelled: job cancelled", with no fix); --resume then skips them."""
    out = tmp_path / "out"
    args = ["render", media_dir / "908.mp4", "-o", out, "--backend", "classic", "--padding", SMALL, "--batch", "1"]
    proc = start_cli(*args, "--frames", "1-12", env_extra=no_models)
    deadline = time.monotonic() + 240
    while len(frame_files(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last == "cancelled: job cancelled (run the same command again with --resume to finish it)", err
    done = frame_files(out)
    assert 2 <= len(done) < 12 and "Traceback" not in err, "the signal must land mid-job"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    resumed = run_cli(*args, "--frames", f"1-{len(done) + 1}", "--resume", "--json-progress", env_extra=no_models)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.splitlines()[-1])["result"]
    assert (result["skipped"], result["rendered"]) == (len(done), 1)


def _no_frames_written(folder: Path) -> bool:
    return not folder.exists() or not [p for p in folder.iterdir() if p.suffix in (".exr", ".png", ".tmp")]


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr      # no traceback, one error line
    assert all(line.startswith(("warning: ", "note: ", "error: ", "[")) for line in lines), result.stderr
    assert "(" in errors[0] and errors[0].endswith(")"), "the message names a fix in parentheses"
    return errors[0]


def _remux_faststart(src: Path, dst: Path) -> None:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)


def _make_faceless_video(path: Path, frames: int = 6):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(frames):
            img = np.full((96, 128, 3), 40 + 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_bad_inputs_give_one_line_errors(media_dir, reference_dir, tmp_path, no_models):
    out = tmp_path / "out"
    cases = {}
    cases["missing"] = run_cli("render", tmp_path / "nope.mp4", "-o", out, env_extra=no_models)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    cases["not_video"] = run_cli("render", text, "-o", out, env_extra=no_models)
    truncated = tmp_path / "cut.mp4"
    data = (media_dir / "529.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    cases["truncated"] = run_cli("render", truncated, "-o", out, env_extra=no_models)
    faststart = tmp_path / "fast.mp4"                       # index at the front: the head still decodes
    _remux_faststart(media_dir / "529_2.mp4", faststart)
    data = faststart.read_bytes()
    (tmp_path / "fastcut.mp4").write_bytes(data[: len(data) // 2])
    cases["truncated_head_decodes"] = run_cli("render", tmp_path / "fastcut.mp4", "-o", out, env_extra=no_models)
    faceless = tmp_path / "wall.mp4"
    _make_faceless_video(faceless)
    cases["no_face"] = run_cli("render", faceless, "-o", out, env_extra=no_models)
    cases["range"] = run_cli("render", media_dir / "529_2.mp4", "-o", out, "--frames", "25-40",
                             env_extra=no_models)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases["unwritable"] = run_cli("render", media_dir / "529_2.mp4", "-o", blocker / "sub", env_extra=no_models)

    messages = {name: _one_line_error(result) for name, result in cases.items()}
    assert "no such file" in messages["missing"]
    assert "notes.mp4" in messages["not_video"]
    assert "cut.mp4" in messages["truncated"]
    assert "fastcut.mp4 cannot be decoded" in messages["truncated_head_decodes"]
    assert "no face" in messages["no_face"]
    assert "outside the source" in messages["range"] and "1-29" in messages["range"]
    assert "cannot write" in messages["unwritable"] or "not a folder" in messages["unwritable"]
    assert not out.exists()                      # inputs are checked before the output folder is made


def test_output_folder_equal_to_source_folder_is_refused(reference_dir, tmp_path, no_models):
    shot = tmp_path / "plates"
    shot.mkdir()
    for n in (1, 2):
        shutil.copy(reference_dir / "preprocess" / "651_frame0.png", shot / f"shot.{n:04d}.png")
    before = {p.name: p.read_bytes() for p in shot.iterdir()}
    result = run_cli("render", shot / "shot.####.png", "-o", shot, "--format", "png", env_extra=no_models)
    assert "would overwrite a source frame" in _one_line_error(result)
    assert {p.name: p.read_bytes() for p in shot.iterdir()} == before


def test_wrong_model_file_is_named(media_dir, reference_dir, tmp_path):
    models = tmp_path / "models"
    (models / "vtoonify_d_cartoon").mkdir(parents=True)
    shutil.copy(reference_dir / "bisenet_golden.pt", models / "vtoonify_d_cartoon" / "vtoonify_s_d.pt")
    for name in ("encoder.pt", "faceparsing.pth"):
        (models / name).write_bytes(b"placeholder")
    codes = {f"cartoon_{i:05d}.jpg": np.zeros((1, 18, 512), np.float32) for i in range(32)}  # checked first, fine
    np.save(models / "vtoonify_d_cartoon" / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    out = tmp_path / "out"
    result = run_cli("render", media_dir / "529_2.mp4", "-o", out, "--models", models)
    line = _one_line_error(result)
    assert "vtoonify_s_d.pt" in line and "not a VToonify model" in line
    assert _no_frames_written(out)


def test_scale_and_crop_output_space(media_dir, tmp_path, no_models):
    clip = media_dir / "7154235.mp4"
    half = run_cli("render", clip, "-o", tmp_path / "half", "--frames", "2", "--scale", "0.5",
                   "--format", "png", "--padding", SMALL, env_extra=no_models)
    assert half.returncode == 0, half.stderr
    assert read_image(tmp_path / "half" / "7154235.0002.png").shape == (288, 320, 4)
    crop = run_cli("render", clip, "-o", tmp_path / "crop", "--frames", "2", "--output-space", "crop",
                   "--format", "png", "--padding", SMALL, env_extra=no_models)
    assert crop.returncode == 0, crop.stderr
    sidecar = json.loads((tmp_path / "crop" / "7154235.vtoonify.json").read_text())["crop"]
    img = read_image(tmp_path / "crop" / "7154235.0002.png")
    assert img.shape == (4 * (sidecar["bottom"] - sidecar["top"]), 4 * (sidecar["right"] - sidecar["left"]), 4)
    assert img[..., 3].min() == 1.0                     # the native crop is opaque


def test_models_commands(tmp_path):
    models = tmp_path / "models"
    listing = run_cli("models", "list", "--models", models, "--json")
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    assert data["usable"] == [] and "encoder.pt" in data["shared_missing"]
    offline = run_cli("models", "fetch", "--models", models, "--base-url", "http://127.0.0.1:9/models/")
    line = _one_line_error(offline)
    assert "cannot reach" in line and str(models) in line
    assert not models.exists()  # the offline fetch leaves no empty models folder behind
    models.mkdir()
    verify = run_cli("models", "verify", "--models", models)  # nothing there: a wrong folder, not a pass
    assert verify.returncode == 2 and f"no model files in {models}" in _one_line_error(verify)


def test_models_verify_loads_files_copied_by_hand(tmp_path, narrow_models_dir):
    models = tmp_path / "models"
    shutil.copytree(narrow_models_dir, models)
    good = run_cli("models", "verify", "--models", models, "--json")
    assert good.returncode == 0, good.stderr
    assert {r["relpath"]: r["status"] for r in json.loads(good.stdout)}["faceparsing.pth"] == "ok"
    (models / "encoder.pt").write_bytes(b"junk")
    bad = run_cli("models", "verify", "--models", models)
    line = _one_line_error(bad)
    assert "encoder.pt" in line and "corrupt: " in bad.stdout and "not a PyTorch checkpoint" in bad.stdout


def test_one_folder_never_mixes_two_jobs(media_dir, tmp_path, no_models):
    clip = media_dir / "529_2.mp4"
    first = run_cli("render", clip, "-o", tmp_path, "--frames", "1", "--padding", SMALL, env_extra=no_models)
    assert first.returncode == 0, first.stderr
    other = run_cli("render", clip, "-o", tmp_path, "--frames", "2", "--padding", "64", "--resume",
                    env_extra=no_models)
    assert "belongs to a job with other settings" in _one_line_error(other)
    mixed = run_cli("render", clip, "-o", tmp_path, "--frames", "2", "--padding", "64", env_extra=no_models)
    assert "--overwrite" in _one_line_error(mixed)
    assert [p.name for p in frame_files(tmp_path)] == ["529_2.0001.exr"]
    replaced = run_cli("render", clip, "-o", tmp_path, "--frames", "2", "--padding", "64", "--overwrite",
                       env_extra=no_models)
    assert replaced.returncode == 0, replaced.stderr
    assert [p.name for p in frame_files(tmp_path)] == ["529_2.0002.exr"]


def test_earlier_faceless_frames_use_the_first_face(reference_dir, tmp_path, no_models):
    """Frames before the first face are rendered too, with the crop the first face defines."""
    shot = tmp_path / "plates"
    shot.mkdir()
    face = reference_dir / "preprocess" / "651_frame0.png"
    grey = (read_image(face)[..., :3] * 0 + 0.5)
    from engine.io import write_png

    for n in (1, 2):
        write_png(shot / f"plate.{n:04d}.png", (grey * 255).astype(np.uint8))
    for n in (3, 4):
        shutil.copy(face, shot / f"plate.{n:04d}.png")
    result = run_cli("render", shot / "plate.####.png", "-o", tmp_path / "out", "--padding", SMALL,
                     "--format", "png", env_extra=no_models)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in frame_files(tmp_path / "out", "*.png")] == [f"plate.{n:04d}.png" for n in (1, 2, 3, 4)]
    assert json.loads((tmp_path / "out" / "plate.vtoonify.json").read_text())["face_frame"] == 3


@pytest.mark.parametrize("backend", ["classic", "auto"])
def test_a_missing_exemplar_image_is_refused_before_anything_is_written(media_dir, tmp_path, no_models, backend):
    """The classic backend never reads --exstyle-image, so a mistyped path used to render without a word
    (and give the folder another job key); any backend now names the flag and the file up front."""
    out = tmp_path / "out"
    result = run_cli("render", media_dir / "529_2.mp4", "-o", out, "--frames", "1", "--backend", backend,
                     "--exstyle-image", tmp_path / "nope.jpg", env_extra=no_models)
    line = _one_line_error(result)
    assert "exemplar image (--exstyle-image): no such file:" in line and "nope.jpg" in line
    assert "leave --exstyle-image out" in line and not out.exists()


def test_models_commands_given_a_file_for_the_folder_say_so(tmp_path):
    """`--models` naming a file (or a folder under one) was an internal error in `models fetch`, and
    `models list` called it a folder that "does not exist yet"."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    for models, needle in ((notes, f"--models {notes} is a file, not a folder"),
                           (notes / "models", f"cannot create the models folder {notes / 'models'}")):
        line = _one_line_error(run_cli("models", "fetch", "--models", models, "--base-url", "http://127.0.0.1:9/m/"))
        assert needle in line and "internal error" not in line
    listing = run_cli("models", "list", "--models", notes)
    assert listing.returncode == 0 and "(a file, not a folder" in listing.stdout.splitlines()[0], listing.stdout
    assert notes.read_text() == "not a folder"


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(tmp_path):
    """`vtoonify models list | head -1`: the reader goes away early; that is no engine bug to report."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "engine", "models", "list", "--models", tmp_path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    proc.stdout.close()  # before the engine writes a line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_a_negative_frame_range_given_as_its_own_word_renders(media_dir, tmp_path, no_models):
    """Deadline (`--frames <STARTFRAME>-<ENDFRAME>`), Flamenco and OpenCue pass a chunk's range as the word
    after --frames; a shot numbered below zero gives `--frames -3--2`, which argparse took for an option
    ("expected one argument") so every such chunk failed. It renders frames -3 and -2 as `--frames=` would."""
    out = tmp_path / "out"
    result = run_cli("render", media_dir / "529_2.mp4", "-o", out, "--start-number", "-3", "--frames", "-3--2",
                     "--backend", "classic", "--padding", SMALL, env_extra=no_models)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in frame_files(out)] == ["529_2.-0002.exr", "529_2.-0003.exr"]
    for words in (["-3,-1"], ["-3--1x2"], ["-3"]):      # lists and steps too; one plain number always worked
        args = parse_args(["render", "clip.mp4", "-o", "out", "--frames", *words, "--resume"])
        assert args.frames == words[0] and args.resume
    with pytest.raises(SystemExit):                      # an option after --frames is still no frame range
        parse_args(["render", "clip.mp4", "-o", "out", "--frames", "--resume"])
