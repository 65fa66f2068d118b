"""Purge sets versions aside per session, undo brings one back, closing the file deletes them; nothing
outside the session's own bin folder is ever deleted, and no link is written through."""

from __future__ import annotations

import os

import pytest

from vtoonify_addon.core.output_versions import BIN_NAME, existing_versions, next_version_dir
from vtoonify_addon.core.version_bin import VersionBin


def _versions(stem, *names):
    for name in names:
        (stem / name).mkdir(parents=True)
        (stem / name / "plate.0004.png").write_bytes(name.encode())


def test_set_aside_then_bring_back_then_empty(tmp_path):
    stem = tmp_path / "plate"
    _versions(stem, "v001", "v002", "v003")
    kept = VersionBin("s1")
    assert kept.set_aside(str(stem), [1, 2]) == [str(stem / "v001"), str(stem / "v002")]
    assert existing_versions(str(stem)) == [3]
    assert next_version_dir(str(stem)) == str(stem / "v004")  # never a set-aside number
    assert kept.held() == [str(stem / BIN_NAME / "s1" / "v001"), str(stem / BIN_NAME / "s1" / "v002")]

    assert kept.bring_back(str(stem / "v001") + os.sep) is True  # an undo shows v001 again
    assert (stem / "v001" / "plate.0004.png").read_bytes() == b"v001"
    assert kept.bring_back(str(stem / "v001")) is False  # already there
    assert kept.bring_back(str(stem / "v009")) is False  # never set aside
    assert kept.bring_back(str(tmp_path / "other" / "v002")) is False  # another stem

    assert kept.empty() == [str(stem / BIN_NAME / "s1" / "v002")]
    assert sorted(p.name for p in stem.iterdir()) == ["v001", "v003"]  # the bin folder went too
    assert kept.held() == [] and kept.bring_back(str(stem / "v002")) is False


def test_one_session_never_empties_another(tmp_path):
    stem = tmp_path / "plate"
    _versions(stem, "v001", "v002", "v003")
    mine, theirs = VersionBin("mine"), VersionBin("theirs")
    mine.set_aside(str(stem), [1])
    theirs.set_aside(str(stem), [2])
    assert theirs.bring_back(str(stem / "v001")) is False  # not its purge
    mine.empty()
    assert (stem / BIN_NAME / "theirs" / "v002" / "plate.0004.png").read_bytes() == b"v002"
    assert next_version_dir(str(stem)) == str(stem / "v004")


def test_a_planted_bin_link_is_refused_and_not_written_through(tmp_path):
    stem, elsewhere = tmp_path / "plate", tmp_path / "elsewhere"
    _versions(stem, "v001", "v002")
    elsewhere.mkdir()
    (stem / BIN_NAME).symlink_to(elsewhere)
    with pytest.raises(ValueError, match="not a folder VToonify made"):
        VersionBin("s").set_aside(str(stem), [1])
    assert existing_versions(str(stem)) == [1, 2] and list(elsewhere.iterdir()) == []
    assert next_version_dir(str(stem)) == str(stem / "v003")


def test_a_linked_version_is_not_moved(tmp_path):
    stem, real = tmp_path / "plate", tmp_path / "real"
    _versions(stem, "v002")
    real.mkdir()
    (stem / "v001").symlink_to(real)
    session = VersionBin("s")
    assert session.set_aside(str(stem), [1, 2]) == [str(stem / "v002")]
    assert (stem / "v001").is_symlink() and real.is_dir()


def test_a_version_named_in_another_case_is_kept_and_brought_back(tmp_path):
    """A strip naming ``Plate/V002`` shows ``plate/v002`` on a case-insensitive disk (Windows, macOS).
    Purge must keep it, and an undo that shows it again must bring it back under the folder's own name
    (``v002``: a ``V002`` would be no version the add-on lists). Simulated as the output-version tests
    do: a second name (a link) for the stem folder; ``V002`` is read as version 2."""
    from vtoonify_addon.core.output_versions import versions_shown

    stem = tmp_path / "plate"
    _versions(stem, "v001", "v002", "v003")
    (tmp_path / "Plate").symlink_to(stem, target_is_directory=True)
    shown = str(tmp_path / "Plate" / "V002")
    assert versions_shown(str(stem), [shown]) == {2}  # purge keeps the version the strip shows

    session = VersionBin("s")
    session.set_aside(str(stem), [1, 2])
    assert session.bring_back(shown) is True  # the undo's strip names it Plate/V002
    assert (stem / "v002" / "plate.0004.png").read_bytes() == b"v002" and not (stem / "V002").exists()
    assert existing_versions(str(stem)) == [2, 3]
    assert session.bring_back(str(tmp_path / "Plate" / "V001")) is True and existing_versions(str(stem)) == [1, 2, 3]
    assert session.bring_back(str(tmp_path / "Plate" / "Vx01")) is False  # no version name
    session.set_aside(str(tmp_path / "Plate"), [3])  # strip "Plate" purges the same folder: one bin, one list
    assert session.held() == [str(stem / BIN_NAME / "s" / "v003")]


# -- a crashed session's bin: the next session deletes it, and only it -------------------------------

_CRASHING_SESSION = """
import os, sys
from vtoonify_addon.core.version_bin import VersionBin
VersionBin("crashed", records_dir=sys.argv[2], alive=lambda pid: True).set_aside(sys.argv[1], [1, 2])
os._exit(9)  # Blender crashed: no load_pre, no unregister, the bin is never emptied
"""


def _crash_after_purge(stem, records):
    """A real process purges v001 and v002 of ``stem`` into its bin, then dies without cleaning up."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _CRASHING_SESSION, str(stem), str(records)],
                          env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    assert existing_versions(str(stem / BIN_NAME / "crashed")) == [1, 2]


def test_the_next_session_deletes_the_bin_of_one_that_crashed(tmp_path):
    from engine.service.connection import pid_alive

    stem, records = tmp_path / "plate", tmp_path / "records"
    _versions(stem, "v001", "v002", "v003")
    _crash_after_purge(stem, records)
    assert [p.name for p in records.iterdir()] == ["crashed.json"]

    nxt = VersionBin("next", records_dir=str(records), alive=pid_alive)
    assert nxt.sweep_ended_sessions() == [str(stem / BIN_NAME / "crashed" / "v001"),
                                          str(stem / BIN_NAME / "crashed" / "v002")]
    assert sorted(p.name for p in stem.iterdir()) == ["v003"]  # .purged went with its last bin
    assert list(records.iterdir()) == []
    assert nxt.sweep_ended_sessions() == []


def test_a_purge_deletes_crashed_bins_beside_its_own_without_a_record(tmp_path):
    from engine.service.connection import pid_alive

    stem = tmp_path / "plate"
    _versions(stem, "v001", "v002", "v003", "v004")
    _crash_after_purge(stem, tmp_path / "lost-records")
    VersionBin("next", alive=pid_alive).set_aside(str(stem), [3])
    assert sorted(p.name for p in (stem / BIN_NAME).iterdir()) == ["next"]
    assert existing_versions(str(stem)) == [4]


def test_only_bins_of_ended_sessions_of_this_machine_with_the_add_ons_marker_go(tmp_path):
    """Kept: a running session's bin, another machine's, one with no marker, a marker that is a link,
    a bin holding anything but version folders, a ``.purged`` link (and what it points at)."""
    import json

    from vtoonify_addon.core.orphan_bins import MARKER_NAME, sweep_stem

    def bin_of(stem, session, marker=None):
        (stem / BIN_NAME / session / "v001").mkdir(parents=True)
        (stem / BIN_NAME / session / "v001" / "plate.0001.png").write_bytes(b"x")
        if marker is not None:
            (stem / BIN_NAME / session / MARKER_NAME).write_text(json.dumps(marker))
        return stem / BIN_NAME / session

    import socket

    here = socket.gethostname()
    dead, running = 2**22 + 7, 2**22 + 8
    alive = {running}.__contains__
    stem = tmp_path / "plate"
    gone = bin_of(stem, "gone", {"vtoonify_bin": 1, "session": "gone", "pid": dead, "host": here})
    kept = [
        bin_of(stem, "running", {"vtoonify_bin": 1, "session": "running", "pid": running, "host": here}),
        bin_of(stem, "farm", {"vtoonify_bin": 1, "session": "farm", "pid": dead, "host": here + "-other"}),
        bin_of(stem, "unmarked"),
        bin_of(stem, "renamed", {"vtoonify_bin": 1, "session": "someone", "pid": dead, "host": here}),
        bin_of(stem, "mixed", {"vtoonify_bin": 1, "session": "mixed", "pid": dead, "host": here}),
    ]
    (kept[-1] / "notes.txt").write_text("the artist's")
    linked_marker = bin_of(stem, "linked", None)
    (tmp_path / "marker.json").write_text(json.dumps({"vtoonify_bin": 1, "session": "linked", "pid": dead,
                                                      "host": here}))
    (linked_marker / MARKER_NAME).symlink_to(tmp_path / "marker.json")
    kept.append(linked_marker)

    assert sweep_stem(str(stem), "mine", alive) == [str(gone / "v001")]
    assert not gone.exists()
    for folder in kept:
        assert (folder / "v001" / "plate.0001.png").read_bytes() == b"x", folder

    other, target = tmp_path / "other", tmp_path / "target"
    bin_of(target, "gone", {"vtoonify_bin": 1, "session": "gone", "pid": dead, "host": here})
    other.mkdir()
    (other / BIN_NAME).symlink_to(target / BIN_NAME)
    assert sweep_stem(str(other), "mine", alive) == []
    assert (target / BIN_NAME / "gone" / "v001" / "plate.0001.png").is_file()
