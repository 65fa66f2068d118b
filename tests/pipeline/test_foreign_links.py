"""A link at one of the job's file names (a frame, a matte file, the sidecar, a style code) is foreign:
the engine never makes links, so it never follows or replaces one. The job is refused before anything
is written (with --overwrite and --resume too), naming the link and the fix; the link and whatever it
points at are left exactly as they were. Real symlinks: to a file, to nothing, to a folder, a loop."""

from __future__ import annotations

import os
import shutil

import pytest

from engine.errors import EngineError, OutputError
from engine.io import write_png
from engine.io.atomic import atomic_open
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render

SMALL = (64, 64, 64, 64)


@pytest.fixture()
def plates(media_dir, tmp_path) -> str:
    from engine.io import open_source

    folder = tmp_path / "in"
    folder.mkdir()
    with open_source(str(media_dir / "529_2.mp4")) as src:
        for number, rgb in src.read_many([1, 2, 3]):
            write_png(folder / f"shot.{number:04d}.png", rgb)
    return str(folder / "shot.####.png")


def _plant(link, kind: str, tmp_path):
    """A link of ``kind`` at ``link``; returns what must stay as it is: {path: bytes or 'dir'}."""
    victim = tmp_path / "precious.png"
    victim.write_bytes(b"an artist's file")
    folder = tmp_path / "a_folder"
    folder.mkdir(exist_ok=True)
    (folder / "keep.txt").write_bytes(b"keep")
    if kind == "file":
        link.symlink_to(victim)
    elif kind == "nowhere":
        link.symlink_to(tmp_path / "moved-away.png")
    elif kind == "folder":
        link.symlink_to(folder, target_is_directory=True)
    else:  # a loop
        other = link.with_name(link.name + ".other")
        link.symlink_to(other)
        other.symlink_to(link)
    return victim, folder


def _listing(folder):
    return sorted((p.name, p.is_symlink(), os.readlink(p) if p.is_symlink() else p.stat().st_size)
                  for p in folder.iterdir())


@pytest.mark.parametrize("kind", ["file", "nowhere", "folder", "loop"])
@pytest.mark.parametrize("mode", ["new", "overwrite", "resume"])
def test_a_link_at_an_output_frame_name_is_refused_and_left_alone(plates, tmp_path, empty_models_dir, kind, mode):
    out = tmp_path / "out"
    config = RenderConfig(source=plates, output=str(out), backend="classic", padding=SMALL, format="png")
    if mode != "new":
        render(config)  # a finished job; its frame 2 is then swapped for a link
        (out / "shot.0002.png").unlink()
    else:
        out.mkdir()
    link = out / "shot.0002.png"
    victim, folder = _plant(link, kind, tmp_path)
    before = _listing(out)
    again = RenderConfig(**{**config.to_dict(), "overwrite": mode == "overwrite", "resume": mode == "resume",
                            "padding": SMALL})
    with pytest.raises(OutputError) as refused:
        render(again)
    assert "shot.0002.png" in refused.value.message and "link" in refused.value.message
    assert "remove" in refused.value.fix and "link" in refused.value.fix
    assert _listing(out) == before, "nothing written, replaced or deleted"
    assert victim.read_bytes() == b"an artist's file" and (folder / "keep.txt").read_bytes() == b"keep"
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]

    os.unlink(link)  # the fix
    if kind == "loop":
        os.unlink(out / "shot.0002.png.other")
    done = render(again)
    assert (out / "shot.0002.png").is_file() and not (out / "shot.0002.png").is_symlink()
    assert done.rendered == (1 if mode == "resume" else 3)


def test_a_link_at_a_matte_file_name_is_refused(plates, tmp_path, empty_models_dir):
    out = tmp_path / "out"
    out.mkdir()
    victim, _ = _plant(out / "shot.matte_skin.0003.png", "file", tmp_path)
    with pytest.raises(OutputError, match=r"shot\.matte_skin\.0003\.png .*link"):
        render(RenderConfig(source=plates, output=str(out), backend="classic", padding=SMALL, format="png",
                            mattes=True))
    assert (out / "shot.matte_skin.0003.png").is_symlink() and victim.read_bytes() == b"an artist's file"
    assert not list(out.glob("shot.0*.png"))


@pytest.mark.parametrize("name", ["shot.vtoonify.json", "shot.vtoonify.style.pt"])
@pytest.mark.parametrize("kind", ["file", "nowhere"])
def test_a_link_at_the_sidecar_or_style_code_name_is_refused(plates, tmp_path, narrow_models_dir, name, kind):
    out = tmp_path / "out"
    out.mkdir()
    victim, _ = _plant(out / name, kind, tmp_path)
    with pytest.raises(EngineError) as refused:
        render(RenderConfig(source=plates, output=str(out), backend="vtoonify", models_dir=str(narrow_models_dir),
                            padding=(32, 32, 32, 32), format="png", frames="1"))
    assert name in refused.value.message and "link" in refused.value.message
    assert "remove" in refused.value.fix
    assert [p.name for p in out.iterdir()] == [name] and (out / name).is_symlink()
    assert victim.read_bytes() == b"an artist's file"


def test_the_atomic_writer_never_replaces_a_link_planted_after_the_checks(tmp_path):
    victim = tmp_path / "precious.json"
    victim.write_bytes(b"keep")
    target = tmp_path / "shot.vtoonify.json"
    target.symlink_to(victim)
    with pytest.raises(OutputError, match="is a link"), atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write("{}")
    assert target.is_symlink() and victim.read_bytes() == b"keep"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_overwrite_still_leaves_links_outside_the_job_alone(plates, tmp_path, empty_models_dir):
    out = tmp_path / "out"
    render(RenderConfig(source=plates, output=str(out), backend="classic", padding=SMALL, format="png"))
    victim = tmp_path / "precious.png"
    shutil.copy(out / "shot.0001.png", victim)
    (out / "shot.0009.png").symlink_to(victim)  # not a frame of this job: neither checked nor touched
    render(RenderConfig(source=plates, output=str(out), backend="classic", padding=(48, 48, 48, 48), format="png",
                        overwrite=True))
    assert (out / "shot.0009.png").is_symlink() and victim.read_bytes() == (tmp_path / "precious.png").read_bytes()


def test_a_fifo_at_an_output_frame_name_is_refused_not_replaced(plates, tmp_path, empty_models_dir):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "shot.0003.png")
    with pytest.raises(OutputError, match=r"shot\.0003\.png .*not a regular file"):
        render(RenderConfig(source=plates, output=str(out), backend="classic", padding=SMALL, format="png"))
    assert (out / "shot.0003.png").is_fifo() and [p.name for p in out.iterdir()] == ["shot.0003.png"]
