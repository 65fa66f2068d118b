"""A job's warnings name the settings they are about in their reader's words, as its errors do: flags on the
CLI, the protocol's fields over the socket (with the ``settings`` they name), and the panel's and add-on's
controls there. An error built from another error's text keeps the settings the inner one names.

Over a real ``python -m engine serve`` and a real ``python -m engine render`` (classic backend, a phone clip
made from 529_2.mp4 with a 90-degree display rotation, read as coded: every job on it warns how it was read).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rotated_clip import rotated_copy
from service_helpers import REPO, classic_job, engine_env, wait_terminal

from engine.errors import InputError, ModelFileError, error_from_dict, marked, setting
from ui import job_records as jr
from ui.wording import warning_text
from vtoonify_addon.core.job_tracker import JobTracker, outcome_notes

pytestmark = pytest.mark.timeout(120)

FLAG = re.compile(r"(?<![\w-])--[a-z]")
PAD = [32, 32, 32, 32]


@pytest.fixture(scope="module")
def phone_clip(media_dir, tmp_path_factory) -> Path:
    return rotated_copy(media_dir / "529_2.mp4", tmp_path_factory.mktemp("phone") / "phone.mp4", 90)


def test_socket_warnings_name_fields_and_clients_name_their_controls(classic_engine, phone_clip, tmp_path):
    with classic_engine.connect() as client:
        job = client.submit(classic_job(phone_clip, tmp_path / "out", padding=PAD, orientation="stored"))
        end, events = wait_terminal(client, job, timeout_s=90)
        assert end["event"] == "job_done", end
        [warning] = [e for e in events if e["event"] == "warning" and "display rotation" in e["message"]]
        assert "ignored ('orientation': \"stored\")" in warning["message"], warning
        assert "render with 'orientation': \"display\" for them" in warning["message"]
        assert not FLAG.search(warning["message"]) and "\x1e" not in warning["message"]
        assert warning["settings"] == [{"field": "orientation", "value": "stored"},
                                       {"field": "orientation", "value": "display"}]
        # the result lists the same text, and the settings its warnings name
        assert warning["message"] in end["result"]["warnings"]
        assert {"field": "orientation", "value": "stored"} in end["result"]["warning_settings"]
        # so does the `jobs` listing a panel restarted later reads
        [summary] = [s for s in client.jobs() if s["job"] == job]
        assert warning["message"] in summary["warnings"] and summary["warning_settings"]

    # the panel's row and status line, and the add-on's notes, name no protocol field and no flag
    record = jr.JobRecord(key=1, settings={}, job_id=job)
    for event in events:
        record = jr.apply_event(record, event)
    shown = [w for w in record.warnings if "display rotation" in w]
    assert len(shown) == 1 and "'orientation'" not in shown[0].replace("the engine setting 'orientation'", "")
    assert "render with the engine setting 'orientation' = \"display\" for them" in shown[0]
    assert warning_text(warning["message"], warning["settings"]) == shown[0]
    assert jr.from_summary(2, summary).warnings == tuple(record.warnings)  # the listing reads the same
    tracker = JobTracker(job=job)
    for event in events:
        tracker.feed(event)
    notes = [n for n in outcome_notes(tracker, "classic") if "display rotation" in n]
    assert len(notes) == 1 and "render with the clip's orientation (the add-on reads clips as" in notes[0], notes
    assert not FLAG.search(notes[0]) and "'orientation'" not in notes[0]


def test_a_fallback_warning_keeps_the_setting_its_model_error_names(classic_engine, media_dir, tmp_path):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("not a models folder\n")
    with classic_engine.connect() as client:
        job = client.submit(classic_job(media_dir / "529_2.mp4", tmp_path / "out", padding=PAD, backend="auto",
                                        models_dir=str(not_a_folder)))
        end, events = wait_terminal(client, job, timeout_s=90)
    assert end["event"] == "job_done" and end["result"]["backend"] == "classic", end
    [warning] = [e for e in events if e["event"] == "warning" and "classic (non-neural)" in e["message"]]
    assert "For VToonify: pass 'models_dir' (or $VTOONIFY_MODELS)" in warning["message"], warning
    assert warning["settings"] == [{"field": "models_dir"}] and not FLAG.search(warning["message"])


def test_the_cli_prints_its_warnings_with_flags(phone_clip, tmp_path):
    done = subprocess.run([sys.executable, "-m", "engine", "render", str(phone_clip), "-o", str(tmp_path / "out"),
                           "--frames", "1", "--backend", "classic", "--device", "cpu", "--format", "png",
                           "--padding", "32,32,32,32", "--orientation", "stored", "--json-progress"], cwd=str(REPO),
                          env=engine_env(tmp_path / "state"), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    [warning] = [e for e in lines if e["event"] == "warning" and "display rotation" in e["message"]]
    assert "ignored (--orientation stored)" in warning["message"] and "settings" not in warning
    assert "render with --orientation display for them" in warning["message"]
    [finished] = [e for e in lines if e["event"] == "job_done"]
    assert warning["message"] in finished["result"]["warnings"] and "\x1e" not in done.stdout


def test_an_error_built_from_another_keeps_the_settings_the_inner_one_names():
    inner = ModelFileError("the models folder m is a file", f"pass {setting('models_dir')} with a folder")
    outer = InputError(f"cannot render: {marked(inner)[0]}", f"For VToonify: {marked(inner)[1]}")
    assert outer.fix == "For VToonify: pass --models with a folder"  # the CLI's words
    sent = outer.to_dict()
    assert sent["fix"] == "For VToonify: pass 'models_dir' with a folder" and sent["settings"] == [
        {"field": "models_dir"}]
    assert marked(error_from_dict(sent)) == ("cannot render: the models folder m is a file", sent["fix"])
    assert marked(ValueError("plain")) == ("plain", "")
