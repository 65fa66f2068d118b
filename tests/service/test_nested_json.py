"""JSON nested past Python's recursion limit (``[[[[...`` 100k deep, a few hundred KB) raises
RecursionError, not ValueError. Every JSON file the engine, the panel or the add-on reads from a place
someone else can write (the output folder's sidecar, a shared .blend's strip settings) or that may be
damaged (journal, connection file, presets) is read as unreadable, never as an internal error."""

from __future__ import annotations

import json
import os

import pytest

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_planted_deep_sidecar_is_analysed_again_not_an_internal_error(tmp_path):
    # Before: `render` into a folder holding such a sidecar ended in "internal error: RecursionError".
    from engine.pipeline.shot import read_sidecar

    path = tmp_path / "shot.vtoonify.json"
    path.write_text('{"job_key": ' + DEEP + "}")
    assert read_sidecar(path) is None  # unreadable: the job analyses the shot again and replaces it


def test_the_panels_resume_check_reads_a_deep_or_foreign_sidecar_as_unknown(tmp_path):
    from ui import output_policy

    settings = {"source": str(tmp_path / "plate.mp4"), "output": str(tmp_path / "out"), "backend": "classic"}
    (tmp_path / "out").mkdir()
    sidecar = tmp_path / "out" / "plate.vtoonify.json"
    for text in ('{"job_key": ' + DEEP + "}", "[1, 2]"):  # before: RecursionError / AttributeError in the panel
        sidecar.write_text(text)
        assert output_policy.resume_conflict(settings) is None


def test_a_deep_journal_line_is_skipped_and_the_others_load(tmp_path):
    from engine.service.journal import read_journal

    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"id": "a1", "state": "done"}) + "\n" + DEEP + "\n"
                    + json.dumps({"id": "b2", "state": "failed"}) + "\n")
    assert [r["id"] for r in read_journal(path)] == ["a1", "b2"]


def test_a_deep_connection_file_reads_as_no_engine(tmp_path):
    from engine.service.connection import load_connection_file

    path = tmp_path / "engine.json"
    path.write_text('{"host": ' + DEEP + "}")
    os.chmod(path, 0o600)
    assert load_connection_file(path) is None


def test_deep_strip_settings_and_presets_are_damaged_not_a_crash(tmp_path):
    from engine.errors import ConfigError
    from ui.presets import PresetStore
    from vtoonify_addon.core.job_settings import settings_from_json

    assert settings_from_json(DEEP) == {}
    store = PresetStore(tmp_path)
    (tmp_path / "deep.json").write_text('{"values": ' + DEEP + "}")
    with pytest.raises(ConfigError, match="preset 'deep' cannot be read"):
        store.load("deep")
