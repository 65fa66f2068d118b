"""Hours of Qt calls do not kill the panel: with PySide6 6.12.0 on Python 3.11 each void Qt call took a
reference from None (6.11.2: each signal emit, from True/False) and the process aborted with
"deallocating None" after a few thousand (a 200-row queue). ``import ui`` guards against it; a
queue of 200 long unicode-named shots then takes 2000 progress events and stays responsive."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ui.job_records import JobRecord  # noqa: F401  (the guard runs on the package's import)

SESSION = """
import sys
import ui
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QPushButton
app = QApplication([])
button = QPushButton()
class Source(QObject):
    fired = Signal(int)
source = Source()
source.fired.connect(lambda value: None)
for i in range(100_000):  # more than a long session's worth of each
    button.setToolTip("tip")
    button.setEnabled(i % 2 == 0)
    source.fired.emit(i)
print("alive", sys.getrefcount(None) > 10_000, sys.getrefcount(True) > 10_000)
"""


def test_void_calls_and_emits_do_not_use_up_none_or_true(repo_root):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(repo_root))
    run = subprocess.run([sys.executable, "-c", SESSION], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "alive True True" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]


def test_two_hundred_long_named_jobs_take_progress_and_stay_responsive(make_window, tmp_path, qtbot):
    window = make_window(tmp_path / "none.json")
    window.show()
    window.source_panel.output_edit.setText(str(tmp_path / "renders"))
    sources = [str(tmp_path / f"plates ü 日本/sh{i:04d}_{'long name ' * 12}.mp4") for i in range(200)]
    started = time.perf_counter()
    assert len(window.add_shots(sources)) == 200
    model = window.queue_model
    for row in range(model.rowCount()):
        model.mark_sent(row, model.record(row).settings)
        model.assign_job_id(model.record(row).key, f"job{row:04d}")
    for i in range(2000):
        model.apply_event({"event": "progress", "job": f"job{i % 200:04d}", "done": i // 200 + 1, "total": 10,
                           "frame": 1, "fps": 2.0, "eta_s": 5.0})
    qtbot.wait(10)
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"200 rows and 2000 events took {elapsed:.1f} s"
    assert [model.record(r).done for r in (0, 199)] == [10, 10]
    assert model.record(7).settings["source"] == sources[7]        # the whole unicode path, not cut
    assert window.windowTitle().startswith("2000/2000 frames")
