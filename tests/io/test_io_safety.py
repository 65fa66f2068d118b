"""Hostile or unlucky output folders and sources (issue 9): full disks, planted links, FIFOs, NaN plates."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import DiskFullError, InputError, OutputError
from engine.io import open_source, read_rgb8, write_exr, write_png
from engine.io.atomic import host_tag

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str):
    """A tiny filesystem that really fills up; skips where mounting is not allowed (not root, containers)."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); see the injected-failure tests")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _release(fifo: Path) -> None:
    """Give a reader stuck on ``fifo`` its end of file (never blocks: no reader, no open)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _noise(h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, c), dtype=np.uint8)


def test_png_on_a_full_disk_is_disk_full_and_leaves_nothing(tmp_path):
    """OIIO's PNG writer truncates silently on ENOSPC; the read-back must catch it before the rename."""
    with small_tmpfs(tmp_path / "full", "64k") as disk:
        with pytest.raises(DiskFullError, match="full"):
            write_png(disk / "shot.0001.png", _noise(200, 200, 4))
        with pytest.raises(DiskFullError):
            write_exr(disk / "shot.0001.exr", np.random.default_rng(1).random((120, 120, 4), np.float32))
        assert os.listdir(disk) == []
        write_png(disk / "small.png", _noise(8, 8, 3))       # what fits is still written, and reads back
        assert read_rgb8(disk / "small.png").shape == (8, 8, 3)


def test_python_writes_on_enospc_are_disk_full(tmp_path, monkeypatch):
    """Injected ENOSPC at the write call (where no tmpfs can be mounted): sidecars and style codes."""
    from engine.io.atomic import atomic_open

    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: FullFile(real_fdopen(*a, **k)))
    with pytest.raises(DiskFullError, match="full"), atomic_open(tmp_path / "shot.vtoonify.json") as fh:
        fh.write(b"{}")
    monkeypatch.setattr(os, "fdopen", real_fdopen)
    assert os.listdir(tmp_path) == []


def test_sidecar_on_a_full_disk_is_disk_full(tmp_path):
    from engine.io.atomic import atomic_open

    with small_tmpfs(tmp_path / "full", "64k") as disk:
        with pytest.raises(DiskFullError), atomic_open(disk / "shot.vtoonify.json", "w") as fh:
            fh.write("x" * 200_000)
        assert os.listdir(disk) == []


def _plant_links(monkeypatch, tmp_path, target: Path, victim: Path) -> list[Path]:
    """Links to ``victim`` at the old predictable temp name and at the first random name to be drawn."""
    tokens = iter(["0123456789ab", "ba9876543210"])
    monkeypatch.setattr("secrets.token_hex", lambda n: next(tokens))
    legacy = target.with_name(f".{target.name}.{host_tag()}-{os.getpid()}.tmp")
    drawn = target.with_name(f".{target.name}.{host_tag()}-{os.getpid()}.0123456789ab.tmp")
    for link in (legacy, drawn):
        link.symlink_to(victim)
    return [legacy, drawn]


@pytest.mark.parametrize("kind", ["png", "exr", "json"])
def test_planted_links_at_temp_names_leave_their_target_untouched(tmp_path, monkeypatch, kind):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"do not touch")
    target = out / f"shot.0001.{kind}"
    links = _plant_links(monkeypatch, tmp_path, target, victim)
    if kind == "png":
        write_png(target, _noise(16, 16, 3))
    elif kind == "exr":
        write_exr(target, np.ones((8, 8, 4), np.float32))
    else:
        from engine.io.atomic import atomic_open

        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write("{}")
    assert victim.read_bytes() == b"do not touch"
    assert target.is_file() and not target.is_symlink()
    assert all(link.is_symlink() for link in links)        # the links themselves are left alone too
    assert sorted(p.name for p in out.iterdir()) == sorted([target.name, *(p.name for p in links)])


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reopening by fd needs Linux's /proc/self/fd")
@pytest.mark.parametrize("kind", ["png", "exr", "pt"])
def test_a_temp_swapped_for_a_link_right_after_it_was_created_is_not_written_through(tmp_path, monkeypatch, kind):
    # Someone watching a shared output folder (inotify) sees the temp's random name the moment it is made
    # and swaps it for a link to a file of the artist's. Before, OIIO then opened the temp BY NAME, so it
    # truncated and overwrote that file; now it writes the file created, whatever the name points at.
    from engine.io import atomic

    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"do not touch")
    real_create = atomic.create_exclusive

    def create_then_swap(path, mode=0o666, dirfd=None):
        fd = real_create(path, mode, dirfd)
        os.unlink(path)
        os.symlink(victim, path)
        return fd

    monkeypatch.setattr(atomic, "create_exclusive", create_then_swap)
    target = out / f"shot.0001.{kind}"
    with pytest.raises(OutputError, match="was replaced while it was written"):
        if kind == "png":
            write_png(target, _noise(16, 16, 3))
        elif kind == "exr":
            write_exr(target, np.ones((8, 8, 4), np.float32))
        else:  # engine train's checkpoints: torch.save opens by name too
            from engine.train.checkpoint import save_checkpoint

            save_checkpoint(target, {"iter": 1})
    assert victim.read_bytes() == b"do not touch"
    assert not target.exists() and os.listdir(out) == []


@pytest.mark.skipif(os.open not in os.supports_dir_fd, reason="writes relative to the open folder need dir_fd")
def test_an_output_folder_swapped_for_a_link_mid_job_stops_the_job_instead_of_writing_through_it(tmp_path):
    # Someone who may write into the folder ABOVE the output renames the output away and puts a link to
    # another folder of the artist's in its place. Before, the next frames (and a rename over a file of
    # the same name) landed in that other folder.
    from engine.io.atomic import atomic_open
    from engine.pipeline.outputs import output_folder

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "shot.0002.png").write_bytes(b"do not touch")
    out = tmp_path / "show" / "out"
    with output_folder(str(out)) as out_dir:
        write_png(out_dir / "shot.0001.png", _noise(8, 8, 3))
        out.rename(tmp_path / "show" / "moved")
        out.symlink_to(elsewhere)
        with pytest.raises(OutputError, match=r"was replaced \(by a link or another folder\) while the job ran"):
            write_png(out_dir / "shot.0002.png", _noise(8, 8, 3))
        with pytest.raises(OutputError, match="was replaced"), atomic_open(out_dir / "shot.vtoonify.json", "w") as fh:
            fh.write("{}")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["shot.0002.png"]
    assert (elsewhere / "shot.0002.png").read_bytes() == b"do not touch"
    assert sorted(p.name for p in (tmp_path / "show" / "moved").iterdir()) == ["shot.0001.png"]
    with output_folder(str(out)) as out_dir:  # a new job checks the folder (the link) anew and may use it
        write_png(out_dir / "shot.0003.png", _noise(8, 8, 3))
    assert (elsewhere / "shot.0003.png").is_file()


def test_write_probe_never_follows_a_link(tmp_path, monkeypatch):
    from engine.pipeline.outputs import output_folder

    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"keep")
    (out / f".vtoonify-write-test.{os.getpid()}.tmp").symlink_to(victim)   # the old fixed probe name
    _plant_links(monkeypatch, tmp_path, out / ".vtoonify-write-test", victim)
    with output_folder(str(out)):
        pass
    assert victim.read_bytes() == b"keep"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("name", ["plate.mp4", "plate.png", "plate.0001.exr"])
def test_fifo_source_is_refused_before_it_is_opened(tmp_path, name):
    """Opening a FIFO for reading blocks until a writer comes: it must be refused from stat alone."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    outcome: list = []

    def attempt():
        try:
            open_source(str(fifo))
        except InputError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the stuck open so the test process can end
        _release(fifo)
        pytest.fail("open_source blocked on a FIFO")
    assert outcome and "FIFO" in str(outcome[0])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_member_of_a_sequence_is_refused(tmp_path):
    write_png(tmp_path / "shot.0001.png", _noise(8, 8, 3))
    os.mkfifo(tmp_path / "shot.0002.png")
    code = ("import sys; from engine.io import open_source\n"
            "src = open_source(sys.argv[1])\n"
            "try:\n    src.read(2)\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "shot.####.png")], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert "InputError" in done.stdout and "FIFO" in done.stdout, done.stdout + done.stderr


def test_socket_and_device_sources_are_refused(tmp_path):
    import socket

    path = tmp_path / "sock.mov"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(InputError, match="socket"):
            open_source(str(path))
    finally:
        server.close()
    if os.path.exists("/dev/zero"):
        with pytest.raises(InputError, match="device"):
            open_source("/dev/zero")


def test_nan_plate_reads_without_numpy_warnings(tmp_path):
    plate = np.full((16, 16, 3), 0.18, np.float32)
    plate[2:6, 2:6] = np.nan
    plate[8, 8] = np.inf
    plate[9, 9] = -np.inf
    spec = oiio.ImageSpec(16, 16, 3, oiio.HALF)
    out = oiio.ImageOutput.create(str(tmp_path / "nan.exr"))
    assert out.open(str(tmp_path / "nan.exr"), spec) and out.write_image(plate)
    out.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = read_rgb8(tmp_path / "nan.exr")
    assert (rgb[3, 3] == 0).all() and (rgb[8, 8] == 255).all() and (rgb[9, 9] == 0).all()
    assert abs(int(rgb[12, 12, 0]) - 118) <= 1                 # 0.18 linear -> sRGB 118


def test_exr_display_window_origin_is_kept(tmp_path):
    pixels = np.ones((10, 20, 4), np.float32)
    write_exr(tmp_path / "a.exr", pixels, full_size=(40, 30), origin=(-45, -15), full_origin=(-50, -20))
    inp = oiio.ImageInput.open(str(tmp_path / "a.exr"))
    spec = inp.spec()
    inp.close()
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (-50, -20, 40, 30)
    assert (spec.x, spec.y, spec.width, spec.height) == (-45, -15, 20, 10)


def test_truncated_file_fails_the_read_back(tmp_path):
    from engine.io.oiio_write import check_written

    write_png(tmp_path / "a.png", _noise(64, 64, 3))
    check_written(tmp_path / "a.png", "png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(OutputError, match="truncated"):
        check_written(tmp_path / "b.png", "png")


# --- names a Windows host sharing the output folder cannot open ------------------------------------


@pytest.mark.parametrize("source, stem", [("con.mp4", "con_"), ("/plates/NUL.####.exr", "NUL_"),
                                          ("Com1.v2.mov", "Com1_.v2"), ("lpt\u00b9.png", "lpt\u00b9_"),
                                          ("console.mp4", "console"), ("aux_take.mp4", "aux_take"),
                                          ("prn2.mp4", "prn2")])
def test_a_source_named_like_a_windows_device_gets_a_stem_windows_can_open(source, stem):
    from engine.pipeline.outputs import source_stem

    assert source_stem(source) == stem


@pytest.mark.parametrize("name", ["CON", "con", "Aux", "nul.v2", "COM1", "lpt9", "CONOUT"])
def test_an_output_name_windows_keeps_for_a_device_is_refused_naming_another(tmp_path, name):
    from engine.errors import ConfigError
    from engine.pipeline.config import RenderConfig

    if name == "CONOUT":  # not a device: only CONOUT$ is, and '$' is no stem character anyway
        assert RenderConfig(source="a.mp4", output=str(tmp_path), name=name).name == name
        return
    with pytest.raises(ConfigError, match="Windows keeps for a device") as info:
        RenderConfig(source="a.mp4", output=str(tmp_path), name=name)
    assert info.value.fix == f"choose another name, e.g. {name.split('.')[0]}_shot"


@pytest.mark.parametrize("new, why", [("CON", "device"), ("aux.renders", "device"), ("shot.", "ends in a dot"),
                                      ("take 2 ", "ends in a space")])
def test_an_output_folder_windows_cannot_open_is_not_created(tmp_path, new, why):
    from engine.pipeline.outputs import output_folder

    target = tmp_path / "show" / new / "v001"
    with pytest.raises(OutputError, match=why) as info, output_folder(str(target)):
        pass
    assert repr(new) in info.value.message and "name the folder otherwise" in info.value.fix
    assert list(tmp_path.iterdir()) == []  # nothing was made, not even the parent 'show'


def test_an_existing_folder_with_a_device_name_is_used_as_it_is(tmp_path):
    from engine.pipeline.outputs import output_folder

    (tmp_path / "aux").mkdir()  # a Linux studio's own folder: the user's choice, not the engine's
    with output_folder(str(tmp_path / "aux")) as out:
        assert out == tmp_path / "aux"


@pytest.mark.parametrize("new, bad", [("take:2", "':'"), ("a<b>c", "'<', '>'"), ('say "hi"', "'\"'"),
                                      ("what?", "'?'"), ("all*", "'*'"), ("a|b", "'|'"), ("tab\there", "'\\t'"),
                                      ("back\\slash", "'\\\\'")])
def test_an_output_folder_holding_a_character_windows_cannot_hold_is_not_created(tmp_path, new, bad):
    from engine.pipeline.outputs import output_folder

    with pytest.raises(OutputError, match="which Windows cannot hold in a name") as info, \
            output_folder(str(tmp_path / "show" / new / "v001")):
        pass
    assert f"holds {bad}," in info.value.message
    better = info.value.fix.split("e.g. ")[1].strip("'\"")
    assert not any(c in better for c in ':<>|?*"\t\\') and better
    assert list(tmp_path.iterdir()) == []  # nothing was made, not even the parent 'show'


def test_an_existing_folder_with_a_colon_is_used_and_source_stems_replace_the_characters(tmp_path):
    from engine.pipeline.outputs import output_folder, source_stem

    (tmp_path / "take:2").mkdir()  # the user's own folder: used as it is
    with output_folder(str(tmp_path / "take:2")) as out:
        assert out == tmp_path / "take:2"
    assert source_stem('/plates/a:b<c>d|e?f*g"h\x01i\\j.mp4') == "a_b_c_d_e_f_g_h_i_j"
    assert source_stem("con:.mp4") == "con_"  # the ':' goes, and the device name left gets its '_'
