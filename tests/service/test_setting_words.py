"""An error names the job settings it is about in its reader's words: flags for the CLI, the protocol's
fields for a job sent over the socket, the panel's and the add-on's controls for their artists.

Over a real ``python -m engine serve`` (the real pipeline, classic backend on a real clip) and a real
``python -m engine render``; nobody who sent a job over the socket typed ``--frames`` or ``--overwrite``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from service_helpers import REPO, classic_job, engine_env, wait_terminal

from engine.errors import ConfigError, error_from_dict, setting
from ui.wording import error_text, exception_text
from vtoonify_addon.core.error_report import report_text

pytestmark = pytest.mark.timeout(240)

FLAG = re.compile(r"(?<![\w-])--[a-z]")


def test_one_error_reads_in_each_readers_words():
    error = ConfigError("the folder holds frames of another job",
                        f"use {setting('overwrite', True)}, set {setting('scale', 0.5)} or leave "
                        f"{setting('frames')} out")
    assert error.fix == "use --overwrite, set --scale 0.5 or leave --frames out"  # the CLI's line
    sent = error.to_dict()
    assert sent["fix"] == "use 'overwrite': true, set 'scale': 0.5 or leave 'frames' out"
    assert sent["message"] == f"the folder holds frames of another job ({sent['fix']})"
    assert sent["settings"] == [{"field": "overwrite", "value": True}, {"field": "scale", "value": 0.5},
                                {"field": "frames"}]
    rebuilt = error_from_dict(sent)
    assert rebuilt.settings == sent["settings"] and rebuilt.fix == sent["fix"]
    assert "Fix: use 'Overwrite' under \"If it exists\", set the scale (Format row) at 0.5 or leave the Frames " \
           "range" in exception_text(rebuilt) == exception_text(error)
    assert ConfigError("x", "y").to_dict() == {"code": "bad_config", "message": "x (y)", "fix": "y"}


def test_the_fix_for_a_folder_of_another_job_points_only_the_cli_at_docs_farm():
    """The fix for a job whose settings differ from the folder's named docs/FARM.md to every reader, and the
    differing setting by its bare field name, which no reader's words replaced: a panel artist read
    'give every task the same scale as prepare (1.0) (see docs/FARM.md)'."""
    from engine.pipeline.shot import settings_difference
    from vtoonify_addon.core.error_report import in_controls

    shown, fix = settings_difference({"scale": 1.0, "mattes": False, "matte_classes": None},
                                     {"scale": 0.5, "mattes": True, "matte_classes": "skin"})
    error = ConfigError(f"the folder holds frames of another job: {shown}", fix)
    assert error.fix == ("leave --matte-classes out, as the folder's job did; render without --mattes, as the "
                         "folder's job did; render with --scale 1, as the folder's job did (see docs/FARM.md)")
    sent = error.to_dict()
    assert sent["fix"] == ("leave 'matte_classes' out, as the folder's job did; render without 'mattes': true, as "
                           "the folder's job did; render with 'scale': 1.0, as the folder's job did")
    assert sent["settings"] == [{"field": "matte_classes"}, {"field": "mattes"}, {"field": "scale"},  # the problem's
                                {"field": "mattes", "value": True}, {"field": "scale", "value": 1.0}]
    panel = exception_text(error_from_dict(sent))
    assert "render with the scale (Format row) at 1, as the folder's job did" in panel, panel
    assert "render without Mattes" in panel and "leave the matte classes (Mattes row) out" in panel, panel
    addon = in_controls(sent["fix"], sent["settings"])
    assert "docs/FARM.md" not in panel + addon and "'scale'" not in panel, (panel, addon)
    assert "render without Mattes, as the folder's job did" in addon, addon  # its own control; others by field
    # a setting with a farm fix of its own: the farm's words for the CLI, the same plain fix for everyone else
    shown, fix = settings_difference({"precision": "fp32", "device": "cpu"}, {"precision": "bf16", "device": "cuda"})
    error = ConfigError(f"the folder holds frames of another job: {shown}", fix)
    assert error.fix == "run every task on cpu workers (--device cpu); pass --precision fp32 to every task " \
                        "(see docs/FARM.md)", error.fix
    sent = error.to_dict()
    assert sent["fix"] == "render with 'device': \"cpu\", as the folder's job did; render with 'precision': " \
                          "\"fp32\", as the folder's job did", sent
    assert sent["settings"] == [{"field": "device"}, {"field": "precision"}, {"field": "device", "value": "cpu"},
                                {"field": "precision", "value": "fp32"}]
    # a farm setting the folder's job left unset: no task can be passed 'None' (it read 'pass --max-faces None')
    shown, fix = settings_difference({"max_faces": None}, {"max_faces": 4})
    error = ConfigError(f"the folder holds frames of another job: {shown}", fix)
    assert error.fix == "leave --max-faces out of every task (see docs/FARM.md)", error.fix
    assert error.to_dict()["fix"] == "leave 'max_faces' out, as the folder's job did", error.to_dict()
    assert "render with the Device 'cpu', as the folder's job did" in exception_text(error_from_dict(sent))


def test_the_settings_that_differ_read_in_each_readers_words():
    """The problem of a refusal over other settings named each setting by its bare field with the farm's
    words ('scale: prepare/sidecar has 1.0, this task resolves 0.5') to every reader: the panel rewrote it
    with regexes, the add-on showed it raw. The CLI keeps the farm's words; every other reader gets the
    settings named (listed in ``settings``) and the values as in the render there and in this shot."""
    from engine.pipeline.shot import settings_difference
    from vtoonify_addon.core.error_report import in_controls

    shown, fix = settings_difference({"scale": 1.0, "faces": "one", "mattes": False, "max_faces": None},
                                     {"scale": 0.5, "faces": "all", "mattes": True, "max_faces": 8})
    error = ConfigError(f"the folder holds frames of another job: {shown}", fix)
    assert error.message == ("the folder holds frames of another job: faces: prepare/sidecar has one, this task "
                             "resolves all; mattes: prepare/sidecar has false, this task resolves true; max_faces: "
                             "prepare/sidecar has (not set), this task resolves 8; scale: prepare/sidecar has 1.0, "
                             "this task resolves 0.5"), error.message
    sent = error.to_dict()
    assert sent["message"].startswith("the folder holds frames of another job: 'faces': 'one' in the render "
                                      "there, 'all' in this shot; 'mattes': false in the render there, true in "
                                      "this shot; 'max_faces': the default in the render there, 8 in this shot; "
                                      "'scale': 1.0 in the render there, 0.5 in this shot ("), sent
    assert {"field": "scale"} in sent["settings"] and {"field": "faces"} in sent["settings"], sent
    for panel in (exception_text(error), exception_text(error_from_dict(sent))):
        assert "the scale (Format row): 1.0 in the render there, 0.5 in this shot" in panel, panel
        assert "Faces: 'one' in the render there, 'all' in this shot" in panel, panel
        assert "'at most' in the Faces row: the default in the render there, 8 in this shot" in panel, panel
        assert "Mattes: false in the render there, true in this shot" in panel, panel
    for addon in (report_text(error_from_dict(sent)), in_controls(sent["message"], sent["settings"])):
        assert "Faces: 'one' in the render there, 'all' in this shot" in addon, addon
        assert "At Most (Faces): the default in the render there, 8 in this shot" in addon, addon
        assert "Mattes: false in the render there, true in this shot" in addon, addon
        assert "the engine setting 'scale': 1.0 in the render there, 0.5 in this shot" in addon, addon
        assert "prepare/sidecar" not in addon and "this task" not in addon, addon
    # the value the fix gives is the one the render there has: it still reads as that render's value
    shown, fix = settings_difference({"max_faces": 4, "mattes": True}, {"max_faces": 8, "mattes": False})
    sent = ConfigError(f"the folder holds frames of another job: {shown}", fix).to_dict()
    panel, addon = exception_text(error_from_dict(sent)), report_text(error_from_dict(sent))
    assert "Mattes: true in the render there, false in this shot; 'at most' in the Faces row: 4 in the render " \
           "there, 8 in this shot\nFix: render with Mattes, as the folder's job did; render with 'at most'" in panel
    assert "Mattes: true in the render there, false in this shot; At Most (Faces): 4 in the render there, 8 in " \
           "this shot\nFix: render with Mattes, as the folder's job did; render with At Most (Faces) 4" in addon


def test_socket_errors_name_fields_and_the_panel_and_add_on_name_their_controls(classic_engine, media_dir, tmp_path):
    out = tmp_path / "out"
    with classic_engine.connect() as client:
        # refused at submit: a setting check of RenderConfig
        with pytest.raises(ConfigError) as refused:
            client.submit(classic_job(media_dir / "529_2.mp4", out, cryptomatte=True, mattes=True))
        assert refused.value.fix == "use 'format': \"exr\", or drop 'cryptomatte': true"
        assert not FLAG.search(refused.value.user_message)
        assert "the Format 'exr', or drop Cryptomatte" in exception_text(refused.value)
        assert "Format (add-on preferences) 'exr', or drop Cryptomatte" in report_text(refused.value)

        # failed in the pipeline: frames outside the clip
        job = client.submit(classic_job(media_dir / "529_2.mp4", out, frames="1-99999"))
        end, _ = wait_terminal(client, job, timeout_s=120)
        error = end["error"]
        assert end["event"] == "job_failed" and error["code"] == "frame_range", end
        assert "or set 'start_number' to renumber a video" in error["fix"] and not FLAG.search(error["message"])
        assert {"field": "start_number"} in error["settings"]
        assert "'start #' in the Frames row" in error_text(error)
        assert "the strip's frame range (trim the strip)" in report_text(error_from_dict(error))

        # a second look into the same folder: the fix offers overwrite, as the field the client sends
        first = client.submit(classic_job(media_dir / "529_2.mp4", out))
        assert wait_terminal(client, first, timeout_s=120)[0]["event"] == "job_done"
        again = client.submit(classic_job(media_dir / "529_2.mp4", out, scale=0.5))
        end, _ = wait_terminal(client, again, timeout_s=120)
        error = end["error"]
        assert end["event"] == "job_failed" and error["code"] == "bad_config", end
        assert "or use 'overwrite': true to delete them first" in error["fix"], error
        assert not FLAG.search(error["message"]) and {"field": "overwrite", "value": True} in error["settings"]
        shown = error_text(error)
        assert "or use 'Overwrite' under \"If it exists\" to delete them first" in shown and "'overwrite'" not in shown
        assert error["fix"].startswith("render with 'scale': 1.0, as the folder's job did; or "), error
        assert "docs/FARM.md" not in error["message"] and {"field": "scale", "value": 1.0} in error["settings"]
        assert "render with the scale (Format row) at 1, as the folder's job did" in shown, shown
        # resume over the other job's sidecar: the fix names the resume field, never --resume
        resumed = client.submit(classic_job(media_dir / "529_2.mp4", out, scale=0.5, resume=True))
        error = wait_terminal(client, resumed, timeout_s=120)[0]["error"]
        assert "without 'resume': true" in error["fix"] and not FLAG.search(error["message"]), error
        assert "without 'Resume' under \"If it exists\"" in error_text(error)


def test_the_cli_keeps_naming_its_flags(media_dir, tmp_path):
    done = subprocess.run([sys.executable, "-m", "engine", "render", str(media_dir / "529_2.mp4"), "-o",
                           str(tmp_path / "out"), "--frames", "1-99999", "--backend", "classic", "--device", "cpu",
                           "--json-progress"], cwd=str(REPO), env=engine_env(tmp_path / "state"),
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 2, done.stderr
    assert "or set --start-number to renumber a video" in done.stderr
    assert '"fix": "ask for frames within' in done.stdout and "--start-number" in done.stdout  # JSON lines too
