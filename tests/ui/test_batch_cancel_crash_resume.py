"""A batch in the real panel with the engine it started itself: three shots, one cancelled mid-way and
resumed, then the engine killed (SIGKILL) mid-job. The artist reads what happened in plain words, is
offered one action that starts the engine again and resumes what the crash stopped, and every result folder
ends with every frame exactly once, output frame N the stylized input frame N (compared pixel for pixel
with the same frames rendered on their own).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from panel_helpers import JOB_TIMEOUT_MS, pngs, set_shot, start_queue

from engine.io import read_image
from engine.pipeline.config import RenderConfig
from engine.pipeline.render import render

pytestmark = pytest.mark.timeout(240)

SHOTS = (("529_2.mp4", 1, 6), ("908.mp4", 3, 9), ("651.mp4", 2, 5))


def _reference(media_dir: Path, name: str, first: int, last: int, out: Path) -> dict[int, np.ndarray]:
    """The shot's frames rendered on their own, in one go (what each frame must be)."""
    result = render(RenderConfig(source=str(media_dir / name), output=str(out), frames=f"{first}-{last}",
                                 backend="classic", format="png"))
    return {f: read_image(p) for f, p in zip(result.frames, result.outputs)}


def _check_folder(folder: Path, stem: str, reference: dict[int, np.ndarray]) -> None:
    files = pngs(folder)
    assert [p.name for p in files] == [f"{stem}.{n:04d}.png" for n in sorted(reference)], files
    for path, number in zip(files, sorted(reference)):
        np.testing.assert_array_equal(read_image(path), reference[number], err_msg=str(path))
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")], "no temp file left"


def test_cancel_resume_and_a_killed_engine_in_one_batch(make_window, media_dir, tmp_path, qtbot, monkeypatch):
    monkeypatch.setenv("VTOONIFY_STATE_DIR", str(tmp_path / "state"))
    window = make_window(tmp_path / "own-engine.json", engine_grace_s=30)
    window.start_button.click()
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=120_000)
    keys = []
    for name, first, last in SHOTS:
        set_shot(window, media_dir / name, tmp_path / Path(name).stem, first, last)
        keys.append(window.add_to_queue())
    model = window.queue_model

    def record(key):
        return model.record(model.row_of_key(key))

    start_queue(window)
    # one shot cancelled mid-way, then resumed: the same engine job, its frames on disk kept
    qtbot.waitUntil(lambda: record(keys[0]).done >= 2, timeout=JOB_TIMEOUT_MS)
    window.queue.cancel_rows([model.row_of_key(keys[0])])
    qtbot.waitUntil(lambda: record(keys[0]).finished, timeout=60_000)
    assert record(keys[0]).status == "cancelled"
    kept = len(pngs(tmp_path / "529_2"))
    assert 1 <= kept <= 6
    window.queue_panel.select_row(model.row_of_key(keys[0]))
    window.queue_panel.retry_button.click()

    # the engine is killed under a running job
    qtbot.waitUntil(lambda: record(keys[1]).done >= 2, timeout=JOB_TIMEOUT_MS)
    os.kill(window.bridge.started_process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: record(keys[1]).status == "interrupted", timeout=10_000)
    said = [m for m in window.status_log.messages() if "stopped unexpectedly" in m]
    assert said and "it was killed" in said[0] and "'Restart engine and resume'" in said[0], \
        window.status_log.messages()
    assert "connection" not in said[0] and "[" not in said[0]
    assert "Restart engine and resume" in record(keys[1]).error
    assert not window.restart_button.isHidden() and window.restart_button.isEnabled()
    interrupted = [k for k in keys if record(k).status == "interrupted"]
    assert keys[1] in interrupted
    assert window.restart_button.text() == f"Restart engine and resume ({len(interrupted)} job" \
        f"{'s' if len(interrupted) > 1 else ''})"

    # one press: a new engine, the stopped jobs resumed, the shot never sent rendered too
    window.restart_button.click()
    qtbot.waitUntil(lambda: all(record(k).status == "done" for k in keys), timeout=JOB_TIMEOUT_MS)
    assert window.restart_button.isHidden()
    assert window.bridge.started_process.poll() is None
    assert record(keys[1]).skipped >= 2, "frames rendered before the kill were kept"
    assert record(keys[0]).skipped >= kept, "frames rendered before the cancel were kept"
    for name, first, last in SHOTS:
        stem = Path(name).stem
        _check_folder(tmp_path / stem, stem, _reference(media_dir, name, first, last, tmp_path / "ref" / stem))


def test_the_offer_leaves_with_the_rows_it_would_resume(make_window, tmp_path, qtbot):
    """Rows resumed with Retry, or removed, leave the offer; it goes once none is left (no engine needed)."""
    from ui import job_records as jr

    window = make_window(tmp_path / "none.json")
    model, queue = window.queue_model, window.queue
    keys = [model.add_engine_job({"job": f"job{n}", "state": "running", "source": f"/shots/{n}.mp4",
                                  "output": f"/out/{n}"}) for n in ("a", "b")]
    assert all(model.record(model.row_of_key(k)).status == jr.RUNNING for k in keys)
    queue.on_lost("connection lost: the engine closed the connection")
    assert not window.restart_button.isHidden() and window.restart_button.text().endswith("(2 jobs)")
    assert any("the engine stopped unexpectedly (it crashed, was killed or was shut down)" in m
               for m in window.status_log.messages())
    queue.remove_rows([model.row_of_key(keys[0])])
    assert window.restart_button.text().endswith("(1 job)")
    queue.remove_rows([model.row_of_key(keys[1])])
    assert window.restart_button.isHidden()
