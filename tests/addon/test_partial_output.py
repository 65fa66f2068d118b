"""A render that lost its engine: the report names the folder with the frames written so far, how many,
and what a new Stylize does with them (a new version folder; those frames are not continued)."""

from __future__ import annotations

import os

from vtoonify_addon.core.job_runner import LOST_FIX
from vtoonify_addon.core.partial_output import kept_after_loss, written_frames

LOST = {"code": "unreachable", "message": "lost the connection to the engine (it stopped or crashed)",
        "fix": LOST_FIX}


def _partial(tmp_path):
    folder = tmp_path / "out" / "plate" / "v001"
    folder.mkdir(parents=True)
    for n in (4, 5, 6):
        (folder / f"plate.{n:04d}.exr").write_bytes(b"frame")
    (folder / "plate.matte_skin.0004.exr").write_bytes(b"matte")  # a matte, not a frame of its own
    (folder / ".plate.0007.exr.host-123.tmp").write_bytes(b"half")  # the frame being written when it died
    (folder / "plate.vtoonify.json").write_text("{}")  # the sidecar
    (folder / "plate.0099.exr.bak").write_bytes(b"not ours")
    os.symlink(folder / "plate.0004.exr", folder / "plate.0008.exr")  # a link is never a frame
    (folder / "plate.0009.exr").mkdir()
    return folder


def test_only_the_jobs_complete_frame_files_are_counted(tmp_path):
    folder = _partial(tmp_path)
    assert written_frames(str(folder), "plate") == 3
    assert written_frames(str(folder), "other") == 0
    assert written_frames(str(tmp_path / "missing"), "plate") == 0


def test_a_lost_engine_names_the_folder_the_count_and_what_stylize_does(tmp_path):
    folder = _partial(tmp_path)
    error = kept_after_loss(LOST, str(folder) + "/", "plate")
    assert error["code"] == "unreachable"
    assert error["message"] == f"{LOST['message']}; the 3 frames written so far are kept in {folder}"
    assert error["fix"].startswith(LOST_FIX.rstrip(".") + ". Stylize renders every frame again into a new "
                                   "version folder (v002); it does not continue v001")
    assert "Purge Old VToonify Versions" in error["fix"]
    assert sorted(p.name for p in folder.iterdir())[:4] == [".plate.0007.exr.host-123.tmp", "plate.0004.exr",
                                                            "plate.0005.exr", "plate.0006.exr"]  # nothing deleted


def test_one_frame_none_and_no_folder(tmp_path):
    folder = tmp_path / "plate" / "v003"
    folder.mkdir(parents=True)
    assert kept_after_loss(LOST, str(folder), "plate")["message"].endswith(
        f"; no frame was written yet; its output folder is kept: {folder}")
    (folder / "plate.0001.png").write_bytes(b"x")
    error = kept_after_loss(LOST, str(folder), "plate")
    assert error["message"].endswith(f"; the 1 frame written so far is kept in {folder}")
    assert "(v004); it does not continue v003" in error["fix"]
    gone = tmp_path / "plate" / "v009"
    assert kept_after_loss(LOST, str(gone), "plate") == LOST  # nothing on disk: nothing to point at
