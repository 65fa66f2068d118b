"""Each job renders into a fresh vNNN folder; cleanup deletes that folder and nothing else."""

from __future__ import annotations

import pytest

from vtoonify_addon.core.output_versions import existing_versions, next_version_dir, remove_version_dir


def test_versions_count_up_past_the_highest(tmp_path):
    stem = tmp_path / "plate"
    assert next_version_dir(str(stem)) == str(stem / "v001")
    for name in ("v001", "v007", "v0012", "notes", "vx"):
        (stem / name).mkdir(parents=True)
    (stem / "v099").write_text("a file, not a version folder")
    assert existing_versions(str(stem)) == [1, 7, 12]
    assert next_version_dir(str(stem)) == str(stem / "v013")


def test_remove_deletes_the_job_folder_and_keeps_older_versions(tmp_path):
    stem = tmp_path / "plate"
    old, new = stem / "v001", stem / "v002"
    for folder in (old, new / "mattes"):
        folder.mkdir(parents=True)
    (old / "plate.0004.png").write_bytes(b"previous result")
    (new / "plate.0004.png").write_bytes(b"partial")
    (new / "mattes" / "plate.skin.0004.png").write_bytes(b"partial")
    assert remove_version_dir(str(new)) is True
    assert not new.exists()
    assert (old / "plate.0004.png").read_bytes() == b"previous result"
    assert remove_version_dir(str(new)) is False  # already gone: fine


def test_remove_drops_an_emptied_stem_folder(tmp_path):
    version = tmp_path / "plate" / "v001"
    version.mkdir(parents=True)
    (version / "plate.0001.png").write_bytes(b"x")
    remove_version_dir(str(version))
    assert not (tmp_path / "plate").exists() and tmp_path.exists()


def test_remove_refuses_anything_but_a_version_folder(tmp_path):
    (tmp_path / "plate").mkdir()
    (tmp_path / "plate" / "keep.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a versioned"):
        remove_version_dir(str(tmp_path / "plate"))
    assert (tmp_path / "plate" / "keep.png").exists()


def test_switch_check_and_purge_keep_the_version_in_use(tmp_path):
    from vtoonify_addon.core.output_versions import missing_in_version, purge_versions, version_number

    stem = tmp_path / "plate"
    for n, frames in ((1, (4, 5)), (2, (4, 5)), (3, (4,))):
        folder = stem / f"v{n:03d}"
        folder.mkdir(parents=True)
        for f in frames:
            (folder / f"plate.{f:04d}.png").write_bytes(b"x")
    (stem / "notes").mkdir()  # not a version: never touched
    assert version_number(str(stem / "v002") + "/") == 2 and version_number(str(stem / "notes")) is None
    names = ["plate.0004.png", "plate.0005.png", "plate.0005.png"]
    assert missing_in_version(str(stem), 1, names) == []
    assert missing_in_version(str(stem), 3, names) == ["plate.0005.png"]
    removed = purge_versions(str(stem), keep={2})
    assert sorted(p.rsplit("/", 1)[-1] for p in removed) == ["v001", "v003"]
    assert sorted(p.name for p in stem.iterdir()) == ["notes", "v002"]


def test_a_failed_render_leaves_no_sidecar_only_folder(tmp_path):
    from vtoonify_addon.core.output_versions import remove_version_dir

    folder = tmp_path / "plate" / "v001"
    folder.mkdir(parents=True)
    (folder / "plate.vtoonify.json").write_text("{}")  # the engine got as far as its sidecar
    assert remove_version_dir(str(folder))
    assert not (tmp_path / "plate").exists()  # the emptied stem folder goes too


def test_output_root_that_is_a_file_or_read_only_names_the_fix(tmp_path):
    import os

    from vtoonify_addon.core.output_versions import output_root_problem

    assert output_root_problem(str(tmp_path / "new" / "renders")) is None  # made by the engine
    (tmp_path / "notes.txt").write_text("x")
    problem, fix = output_root_problem(str(tmp_path / "notes.txt" / "renders"))
    assert f"{tmp_path / 'notes.txt'} is a file" in problem and "Output Folder" in fix
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: nothing to refuse
            return
        assert "is not writable" in output_root_problem(str(locked / "renders"))[0]
    finally:
        locked.chmod(0o755)


def test_links_are_no_versions_and_a_linked_strip_folder_is_refused_with_the_fix(tmp_path):
    """A planted ``vNNN`` link is never listed or purged, and no new version gets its name; a strip
    folder that is a link is named as the problem (nothing is written or deleted through it)."""
    from vtoonify_addon.core.output_versions import purge_versions, stem_dir_problem

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    (elsewhere / "keep" / "precious.exr").write_text("not the engine's")
    stem = tmp_path / "out" / "plate"
    (stem / "v001").mkdir(parents=True)
    (stem / "v002").symlink_to(elsewhere / "keep")
    assert existing_versions(str(stem)) == [1]
    assert next_version_dir(str(stem)) == str(stem / "v003")
    assert purge_versions(str(stem), keep=set()) == [str(stem / "v001")]
    assert (elsewhere / "keep" / "precious.exr").is_file()
    assert stem_dir_problem(str(stem)) is None
    linked = tmp_path / "out" / "shot"
    linked.symlink_to(elsewhere)
    (elsewhere / "v001").mkdir()
    problem, fix = stem_dir_problem(str(linked))
    assert problem == f"the output folder {linked} is a link to {elsewhere}, not a folder VToonify made"
    assert fix.startswith("remove the link")
    assert existing_versions(str(linked)) == [] and purge_versions(str(linked), keep=set()) == []
    assert (elsewhere / "v001").is_dir()


def test_a_version_name_in_another_case_is_taken(tmp_path):
    """``V002`` is the folder ``v002`` on a case-insensitive disk (Windows, macOS): a new version never
    gets that number, so the add-on never renders into (or, after a cancel, deletes) that folder."""
    stem = tmp_path / "plate"
    (stem / "v001").mkdir(parents=True)
    (stem / "V002").mkdir()
    assert next_version_dir(str(stem)) == str(stem / "v003")
    assert existing_versions(str(stem)) == [1]  # still no version of ours: never listed or purged


def test_purge_keeps_versions_shown_under_another_spelling_of_the_folder(tmp_path):
    """Strips ``Take`` and ``take`` share one output folder on a case-insensitive disk. Purging ``Take``'s
    old versions must keep the version ``take`` shows. Simulated with a second name for the folder (a
    link), which is what another spelling is there."""
    from vtoonify_addon.core.output_versions import purge_versions, same_folder, versions_shown

    stem = tmp_path / "Take"
    for name in ("v001", "v002", "v003"):
        (stem / name).mkdir(parents=True)
    (tmp_path / "take").symlink_to(stem, target_is_directory=True)
    shown = [str(stem / "v001"), str(tmp_path / "take" / "v002")]
    assert same_folder(str(tmp_path / "take"), str(stem)) and not same_folder(str(stem / "v001"), str(stem))
    assert versions_shown(str(stem), shown) == {1, 2}
    assert purge_versions(str(stem), versions_shown(str(stem), shown)) == [str(stem / "v003")]
    assert sorted(p.name for p in stem.iterdir()) == ["v001", "v002"]
