"""Output paths a hostile or careless client sends to a real ``python -m engine serve`` (classic backend on a
real clip): each is rendered or refused with a clear error, never an ``internal`` one."""

from __future__ import annotations

import pytest
from service_helpers import start_test_engine, wait_terminal


@pytest.fixture(scope="module")
def classic_engine(tmp_path_factory):
    engine = start_test_engine(tmp_path_factory.mktemp("paths-engine"), runner=None)
    yield engine
    engine.stop()


def _job(media_dir, out, **more) -> dict:
    return {"source": str(media_dir / "529_2.mp4"), "output": str(out), "frames": "1", "backend": "classic",
            "device": "cpu", "format": "png", **more}


def test_an_output_folder_1500_levels_deep_is_made(classic_engine, media_dir, tmp_path):
    """pathlib's mkdir(parents=True) recursed once per missing level: 1500 of them (3,000 characters, within
    PATH_MAX) failed the job as 'internal error: RecursionError'."""
    out = tmp_path.joinpath(*["d"] * 1500)
    with classic_engine.connect() as client:
        job = client.submit(_job(media_dir, out))
        end, _ = wait_terminal(client, job, timeout_s=120)
    assert end["event"] == "job_done", end
    assert (out / "529_2.0001.png").is_file()
