"""What a pipeline script parses from `engine render --json-progress` / `--openjd-progress`: every failure,
a bug's too, ends in a `job_failed` event (`openjd_fail:` line) on stdout, so a wrapper reading only
stdout never sees a job end with no word of why (docs/FARM.md: "Every failure ... also a job_failed event")."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.errors import EXIT_INTERNAL_ERROR


def _a_bug(*args, **kwargs):
    raise ZeroDivisionError("division by zero")


@pytest.fixture()
def buggy_render(monkeypatch):
    import engine.pipeline.render as render_module

    monkeypatch.delenv("VTOONIFY_DEBUG", raising=False)
    monkeypatch.setattr(render_module, "render", _a_bug)


def test_a_bug_ends_json_progress_with_an_internal_job_failed_event(buggy_render, tmp_path, capsys):
    code = main(
        ["render", str(tmp_path / "plate.mp4"), "-o", str(tmp_path / "out"), "--backend", "classic", "--json-progress"]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_INTERNAL_ERROR
    events = [json.loads(line) for line in out.splitlines()]  # stdout holds JSON lines only
    assert events[-1]["event"] == "job_failed"
    error = events[-1]["error"]
    assert error["code"] == "internal" and "ZeroDivisionError: division by zero" in error["message"]
    assert "report" in error["fix"]
    assert err.splitlines()[-1].startswith("internal error: ZeroDivisionError: division by zero")


def test_a_bug_ends_openjd_progress_with_an_openjd_fail_line(buggy_render, tmp_path, capsys):
    code = main(
        [
            "render",
            str(tmp_path / "plate.mp4"),
            "-o",
            str(tmp_path / "out"),
            "--backend",
            "classic",
            "--openjd-progress",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == EXIT_INTERNAL_ERROR
    assert out.splitlines()[-1].startswith("openjd_fail: internal error: ZeroDivisionError: division by zero")


def test_a_finished_render_with_a_unicode_name_exits_0_on_a_stdout_that_cannot_show_it(media_dir, tmp_path):
    """stdout in an encoding without the name's letters (PYTHONIOENCODING=ascii, a Latin-1 locale, a pipe on
    Windows: cp1252): before, the summary line raised UnicodeEncodeError after every frame was written, so
    a finished render exited 1 ('internal error'). Now the letters it cannot show are escaped."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    source = tmp_path / "日本 take.mp4"
    source.symlink_to(media_dir / "529_2.mp4")
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo), PYTHONIOENCODING="ascii", VTOONIFY_MODELS=str(tmp_path / "none"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "render",
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--backend",
            "classic",
            "--frames",
            "1",
            "--padding",
            "48",
        ],
        capture_output=True,
        env=env,
        cwd=repo,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")
    assert b"\\u65e5\\u672c_take.####.exr" in done.stdout
    assert (tmp_path / "out" / "日本_take.0001.exr").is_file()


@pytest.mark.parametrize("closed", ["stdout", "stderr", "both"])
def test_a_render_started_with_closed_standard_streams_renders(media_dir, tmp_path, closed):
    """A daemon or a `>&-` wrapper starts the engine with stdout/stderr closed: before, a --json-progress
    render crashed on its first event ('NoneType' object has no attribute 'write') and any render with
    stderr closed exited 1 with no frame written; and the first file the engine opened took the free
    fd 1/2, where a C library's print would land in the frame. Now they read as /dev/null."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    redirect = {"stdout": ">&-", "stderr": "2>&-", "both": ">&- 2>&-"}[closed]
    command = (
        f'"{sys.executable}" -m engine render "{media_dir / "529_2.mp4"}" -o "{out}" --backend classic '
        f'--frames 1-2 --padding 48 --json-progress {redirect}; echo $? > "{tmp_path / "rc"}"'
    )
    env = dict(os.environ, PYTHONPATH=str(repo), VTOONIFY_MODELS=str(tmp_path / "none"))
    subprocess.run(["bash", "-c", command], env=env, cwd=repo, timeout=300, capture_output=True)
    assert (tmp_path / "rc").read_text().strip() == "0"
    assert sorted(p.name for p in out.iterdir()) == ["529_2.0001.exr", "529_2.0002.exr", "529_2.vtoonify.json"]
    json.loads((out / "529_2.vtoonify.json").read_text())
