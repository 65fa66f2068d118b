"""Output paths a hostile or careless client sends to a real ``python -m engine serve`` (classic backend on a
real clip): each is rendered or refused with a clear error, never an ``internal`` one."""

from __future__ import annotations

import os

from service_helpers import classic_job, wait_terminal


def test_an_output_folder_1500_levels_deep_is_made(classic_engine, media_dir, tmp_path):
    """pathlib's mkdir(parents=True) recursed once per missing level: 1500 of them (3,000 characters, within
    PATH_MAX) failed the job as 'internal error: RecursionError'."""
    out = tmp_path.joinpath(*["d"] * 1500)
    try:
        with classic_engine.connect() as client:
            job = client.submit(classic_job(media_dir / "529_2.mp4", out))
            end, _ = wait_terminal(client, job, timeout_s=120)
        assert end["event"] == "job_done", end
        assert (out / "529_2.0001.png").is_file()
    finally:
        _remove_chain(tmp_path, out)


def _remove_chain(top, deepest) -> None:
    """Remove the one-folder-per-level chain bottom-up: Python 3.11's shutil.rmtree (pytest's clean-up of old
    temp folders) recurses once per level and failed on this tree in a later session."""
    folder = deepest
    while folder != top and os.path.isdir(folder) and not os.path.islink(folder):
        for entry in os.scandir(folder):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        if any(os.scandir(folder)):
            break
        os.rmdir(folder)
        folder = folder.parent
