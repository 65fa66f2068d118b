"""Output folders a pipeline TD points a render at that are not system folders: /dev/shm, Linux's RAM disk
(a world-writable tmpfs like /tmp, another filesystem than the plate's and the temp dir), used as a fast
scratch area before frames are copied to the show's storage."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import OutputError
from engine.io import read_image
from engine.pipeline import outputs

SHM = Path("/dev/shm")


def test_dev_shm_is_no_system_folder_but_the_rest_of_dev_is():
    assert outputs.system_folder(Path("/dev/shm")) is None
    assert outputs.system_folder(Path("/dev/shm/vtoonify/sh010")) is None
    for path in ("/dev", "/dev/shmx", "/dev/pts/x", "/dev/null/x"):
        assert outputs.system_folder(Path(path)) == "/dev", path


@pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm on this machine")
def test_a_render_into_dev_shm_writes_its_frames_there(media_dir, empty_models_dir):
    """Before: 'output folder /dev/shm/... is inside the system folder /dev; the engine never writes there'."""
    out = SHM / f"vtoonify-test-{uuid.uuid4().hex[:8]}" / "sh010"
    try:
        code = main(
            [
                "render",
                str(media_dir / "529_2.mp4"),
                "-o",
                str(out),
                "--backend",
                "classic",
                "--frames",
                "1-2",
                "--padding",
                "48",
            ]
        )
        assert code == 0
        frames = sorted(p.name for p in out.iterdir() if p.suffix == ".exr")
        assert frames == ["529_2.0001.exr", "529_2.0002.exr"]
        assert read_image(out / frames[1]).shape[2] == 4
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp left behind
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def test_a_link_into_dev_is_still_refused(tmp_path):
    (tmp_path / "innocent").symlink_to("/dev")
    with (
        pytest.raises(OutputError, match="system folder /dev"),
        outputs.output_folder(str(tmp_path / "innocent" / "x")),
    ):
        pass


def test_a_relative_output_from_a_deleted_working_folder_says_so(tmp_path, monkeypatch):
    """A shell left in a folder another process removed (a cleaned-up temp, a re-synced show tree): before,
    'output folder relout cannot be reached: [Errno 2] ... (fix or remove the symlink loop, ...)'."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(OutputError) as info, outputs.output_folder("renders/sh010"):
        pass
    message = info.value.user_message
    assert "working folder no longer exists" in message and "absolute path" in message
    assert "symlink" not in message
