"""`models list|verify|fetch --json` when they fail: a pipeline parsing stdout gets a JSON error object
(the stderr line and the exit code stay as they were); `models verify` on a folder with no model files
fails, naming the folder, instead of passing with `[]`."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.failures import EXIT_USER_ERROR

pytestmark = pytest.mark.timeout(60)


def _error_on_stdout(out: str) -> dict:
    data = json.loads(out)  # one JSON document, nothing else
    assert set(data) == {"error"}, data
    return data["error"]


@pytest.mark.parametrize("action", ["list", "verify", "fetch"])
def test_a_failing_json_command_prints_its_error_as_json_on_stdout(tmp_path, capsys, action):
    # Before: stdout was empty, the error only on stderr, so `json.loads(stdout)` failed in the pipeline.
    a_file = tmp_path / "encoder.pt"  # --models naming a file, not a folder: refused by all three
    a_file.write_bytes(b"x")
    extra = ["--style", "no-such-style"] if action == "fetch" else []
    code = main(["models", action, "--json", "--models", str(a_file), *extra])
    out, err = capsys.readouterr()
    if action == "list":  # list reports a file for a folder in its listing, and succeeds
        assert code == 0 and "error" not in json.loads(out)
        return
    assert code == EXIT_USER_ERROR
    error = _error_on_stdout(out)
    assert error["code"] == "model_file" and error["message"] and error["fix"]
    assert f"error: {error['message']}" in err  # the stderr line is kept, and says the same


def test_list_json_error_on_stdout_when_the_folder_cannot_be_read(tmp_path, capsys, monkeypatch):
    from engine.errors import ModelFileError
    from engine.models import inventory

    def unreadable(models_dir):
        raise ModelFileError(f"{models_dir} cannot be read (permission denied)", "let the engine's user read it")

    monkeypatch.setattr(inventory, "scan_models", unreadable)
    assert main(["models", "list", "--json", "--models", str(tmp_path)]) == EXIT_USER_ERROR
    out, err = capsys.readouterr()
    assert "permission denied" in _error_on_stdout(out)["message"] and "permission denied" in err


def test_verify_json_with_bad_files_keeps_one_document_the_results(tmp_path, capsys):
    # the results already say what is wrong: stdout stays one JSON list, not a list and an error object
    (tmp_path / "encoder.pt").write_bytes(b"junk")
    assert main(["models", "verify", "--json", "--models", str(tmp_path)]) == EXIT_USER_ERROR
    results = json.loads(capsys.readouterr().out)
    assert [r["relpath"] for r in results] == ["encoder.pt"] and results[0]["status"].startswith("corrupt")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_verify_on_a_folder_with_no_model_files_fails_naming_it(tmp_path, capsys, json_flag):
    # Before: exit 0 and `[]`, so a TD checking a shared folder (or a --models with a typo that exists)
    # was told all was well with nothing in it.
    (tmp_path / "notes.txt").write_text("not a model")
    assert main(["models", "verify", "--models", str(tmp_path), *json_flag]) == EXIT_USER_ERROR
    out, err = capsys.readouterr()
    assert f"no model files in {tmp_path}" in err and "models fetch" in err
    if json_flag:
        assert f"no model files in {tmp_path}" in _error_on_stdout(out)["message"]
