"""Settings a reviewer types (or sends over the socket) to break the engine: numbers of thousands of
digits (JSON and Python allow 10**4000), frame numbers that no 32-bit header can hold, outputs in
system folders. Each must be one clear error before anything is written."""

from __future__ import annotations

import os

import pytest

from engine.cli import main
from engine.errors import EXIT_USER_ERROR, ConfigError, FrameRangeError, InputError, OutputError
from engine.io import open_source, write_png
from engine.pipeline import outputs
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import select_frames

HUGE = 10**4000


@pytest.mark.parametrize("field, value", [
    ("degree", HUGE), ("scale", HUGE), ("style_id", HUGE), ("batch", HUGE), ("start_number", HUGE),
    ("start_number", -HUGE), ("padding", [HUGE, 1, 1, 1]), ("start_number", 10**12),
], ids=["degree", "scale", "style_id", "batch", "start_number", "negative_start", "padding", "start_1e12"])
def test_numbers_of_thousands_of_digits_are_bad_config(field, value):
    # Before: degree/scale raised OverflowError (an 'internal' reply); the others were accepted.
    with pytest.raises(ConfigError) as info:
        RenderConfig.from_dict({"source": "/a.mp4", "output": "/out", field: value})
    assert len(info.value.user_message) < 300  # the number is named, not printed in full


def test_a_frame_range_with_a_4000_digit_number_is_a_frame_range_error():
    # Before: OverflowError (Python int too large to convert to C ssize_t): an 'internal' job failure.
    with pytest.raises(FrameRangeError, match="more than 12 digits"):
        select_frames("1-" + "9" * 4000, [1, 2, 3])


def test_a_sequence_numbered_beyond_a_billion_is_refused_before_anything_is_written(media_dir, tmp_path,
                                                                                    empty_models_dir, capsys):
    # Before: the shot was analysed, its sidecar written, then the EXR writer died with std::bad_cast.
    with open_source(media_dir / "529_2.mp4") as video:
        plate = video.read(1)
    for number in (10**20, 10**20 + 1):
        write_png(tmp_path / f"shot.{number}.png", plate)
    out = tmp_path / "out"
    code = main(["render", str(tmp_path / f"shot.{10**20}.png"), "-o", str(out), "--backend", "classic",
                 "--padding", "48"])
    assert code == EXIT_USER_ERROR and "beyond the 1,000,000,000" in capsys.readouterr().err
    assert not out.exists()


def test_an_output_path_through_proc_is_refused_though_it_resolves_elsewhere(tmp_path, monkeypatch):
    """/proc/self/cwd/x is absolute (the service refuses relative outputs) but resolves into the engine's
    working folder, nobody's folder: it wrote there."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="output folder /proc/self/cwd/x is inside the system folder /proc"):
        with outputs.output_folder("/proc/self/cwd/x"):
            pass
    assert not (tmp_path / "x").exists()


def test_the_pipeline_never_creates_an_output_folder_in_a_system_folder(tmp_path):
    target = "/etc/vtoonify-hostile-test"
    try:
        with pytest.raises(OutputError, match="system folder /etc"), outputs.output_folder(target):
            pass
    finally:
        if os.path.isdir(target):
            os.rmdir(target)
    assert not os.path.exists(target)


def test_a_source_name_too_long_for_the_output_names_asks_for_a_shorter_name(media_dir, tmp_path,
                                                                               empty_models_dir, capsys):
    # Before: "….vtoonify.json in the output folder cannot be opened (File name too long) (remove it if
    # it is not a VToonify sidecar)": a wrong diagnosis, mid-job.
    source = tmp_path / ("a" * 230 + ".mp4")
    os.symlink(media_dir / "529_2.mp4", source)
    out = tmp_path / "out"
    code = main(["render", str(source), "-o", str(out), "--backend", "classic", "--frames", "1"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "over the 255-byte file name limit" in err and "--name" in err
    assert not out.exists()


@pytest.mark.parametrize("style", ["../../elsewhere", "a/b", "", ".hidden"])
def test_a_style_that_is_no_family_name_is_bad_config(style):
    # Before: accepted, and the models folder path vtoonify_d_<style> could climb out of --models.
    with pytest.raises(ConfigError, match="is not a style family name"):
        RenderConfig.from_dict({"source": "/a.mp4", "output": "/out", "style": style})


def test_an_output_name_that_reads_as_a_shell_option_is_refused(media_dir, tmp_path):
    # Before: --name -rf wrote -rf.0001.exr, which an artist's `rm *` or `ls *` takes for options.
    with pytest.raises(ConfigError, match="is not a plain file stem"):
        RenderConfig.from_dict({"source": "/a.mp4", "output": "/out", "name": "-rf"})
    from engine.pipeline.outputs import source_stem
    from vtoonify_addon.core.job_settings import safe_stem

    assert source_stem(str(tmp_path / "-x.mp4")) == "x"  # a source named like an option gives a plain stem
    assert safe_stem("-take1.mp4") == "take1"  # and so does a Blender strip (the add-on sends it as 'name')


def test_a_batch_that_would_decode_a_whole_shot_at_once_is_refused():
    # Before: accepted; --batch 100000 decoded every frame into memory before the first forward pass.
    RenderConfig.from_dict({"source": "/a.mp4", "output": "/out", "batch": 64})
    with pytest.raises(ConfigError, match="batch 100000 is larger than 64 frames"):
        RenderConfig.from_dict({"source": "/a.mp4", "output": "/out", "batch": 100000})


@pytest.mark.parametrize("text", ["1-2,,3", "1-2,", ",5"])
def test_a_frame_range_with_an_empty_part_names_the_comma(text):
    # Before: "cannot read frame range ''", which names nothing the artist typed.
    with pytest.raises(FrameRangeError) as info:
        select_frames(text, [1, 2, 3, 4, 5])
    assert info.value.message.startswith(f"frame range {text!r} has an empty part")
    assert "remove the extra comma" in info.value.fix


def test_a_source_named_like_an_option_gets_the_way_to_write_it(media_dir, tmp_path, monkeypatch, capsys):
    """`render -clip.mp4 -o out`: argparse takes the file for an option and only says the source is
    missing; the CLI also says it is a file and how to write it. Nothing is written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-clip.mp4").symlink_to(media_dir / "529_2.mp4")
    with pytest.raises(SystemExit) as info:
        main(["render", "-clip.mp4", "-o", "out", "--frames", "1"])
    err = capsys.readouterr().err
    assert info.value.code == EXIT_USER_ERROR
    assert "the following arguments are required: source" in err and "Traceback" not in err
    assert "'-clip.mp4' is a file, but it starts with '-' so it reads as an option: write it as ./-clip.mp4" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["-clip.mp4"]
    with pytest.raises(SystemExit):                   # a plain usage error gets no such hint
        main(["render", "-o", "out"])
    assert "starts with '-'" not in capsys.readouterr().err


def test_an_output_folder_under_a_file_names_the_file(media_dir, tmp_path, empty_models_dir, capsys):
    # Before: "cannot write to output folder .../notes.txt/shot (Not a directory)", naming no culprit.
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(notes / "shot" / "v1"), "--frames", "1",
                 "--backend", "classic"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    assert f"cannot be made: {notes} is a file, not a folder (give a folder for -o/--output" in err, err
    assert notes.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["no-models", "notes.txt"]


def test_an_output_folder_where_no_file_can_be_made_is_refused_and_left_as_found(media_dir, tmp_path,
                                                                                    empty_models_dir, capsys,
                                                                                    monkeypatch):
    """The folders can be made but no file in them (an ACL, a read-only bind mount under a writable one):
    exit 2 naming the folder and the fix, and the folders the engine made are gone again. (Root ignores
    chmod, so the refusal of the write probe stands in for the filesystem.)"""
    def refuse(folder):
        raise PermissionError(13, "Permission denied", str(folder / ".vtoonify-write-test"))

    monkeypatch.setattr(outputs, "write_probe", refuse)
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(tmp_path / "shows" / "shot" / "v1"),
                 "--frames", "1", "--backend", "classic"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    assert f"cannot write to output folder {tmp_path / 'shows' / 'shot' / 'v1'} (Permission denied)" in err
    assert "(choose a folder you can write to, or fix its permissions)" in err
    assert not (tmp_path / "shows").exists()


@pytest.mark.parametrize("below", ["", "shot"])
def test_an_output_folder_through_a_symlink_loop_is_bad_input(media_dir, tmp_path, empty_models_dir, capsys, below):
    # Before: "internal error: RuntimeError: Symlink loop from ..." and exit 1 (a bug, to a farm).
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    out = tmp_path / "a" / below if below else tmp_path / "a"
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "1", "--backend", "classic"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    assert err.startswith(f"error: output folder {out} cannot be reached: ") and "internal" not in err, err
    assert "(fix or remove the symlink loop, or give another folder for -o/--output)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "no-models"]


def test_a_newline_or_terminal_escape_in_a_path_stays_inside_one_error_line(media_dir, tmp_path, capsys):
    """A file name with a newline (or an ANSI escape) is printed escaped: one line per message, which farm
    log parsers and the panel's one-line status read. Before: the error line broke in two."""
    source = tmp_path / "bad\nname\x1b[31m.mp4"
    code = main(["render", str(source), "-o", str(tmp_path / "out"), "--backend", "classic"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR
    assert err == f"error: no such file: {tmp_path}/bad\\nname\\x1b[31m.mp4 (check the path)\n"


def test_a_sequence_spanning_a_billion_frame_numbers_is_never_expanded(tmp_path):
    # shot.0001.png + shot.900000000.png: two files, a span of 900 million numbers. Before, the gap
    # warning and the frame selection each built every number of the span (tens of GB: the machine ran
    # out of memory). Run under a 1 GiB address-space limit so the old code fails fast instead.
    import subprocess
    import sys

    script = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from engine.errors import FrameRangeError
from engine.pipeline.frames import format_runs, gaps_in, select_frames
span = [1, 900_000_000]
assert select_frames(None, span) == span
assert select_frames("1,900000000", span) == span
assert format_runs(gaps_in(span)) == "2-899999999"
try:
    select_frames("1-900000000", span)
except FrameRangeError as exc:
    assert exc.message.startswith("frames 2-51 ... are missing from the source"), exc.message
else:
    raise AssertionError("no error")
print("ok")
"""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_missing_member_of_a_sequence_spanning_a_billion_numbers_is_named_without_expanding(tmp_path):
    import numpy as np


    for number in (1, 5, 900_000_000):
        write_png(tmp_path / f"shot.{number:04d}.png", np.zeros((8, 8, 3), np.uint8))
    with open_source(str(tmp_path / "shot.####.png")) as source:
        assert source.missing_text() == "2-4, 6-899999999"
        with pytest.raises(InputError, match=r"frame 3 is missing .*\(missing: 2-4, 6-899999999\)"):
            source.read(3)


@pytest.mark.parametrize("parts, fix", [(["L" * 300, "v1"], "at most 255 bytes each"),
                                         (["d" * 200] * 22, "at most 4095 bytes in all")])
def test_an_output_folder_name_too_long_for_the_file_system_is_one_clear_line(tmp_path, parts, fix):
    # Before: pathlib's exists() let ENAMETOOLONG through: "internal error: OSError: [Errno 36] ...".
    target = os.path.join(tmp_path, *parts)
    with pytest.raises(OutputError, match="has a name too long for the file system") as info:
        with outputs.output_folder(target):
            pass
    assert fix in info.value.fix
    assert len(info.value.message) < 400  # the 4 KB path is cut short, not echoed
    assert os.listdir(tmp_path) == []
