"""The queue after it drains, and engine errors with their fix, in the real panel on a real engine.

Once every row it sent has finished (done, cancelled or failed) the queue is idle again: Start
reads "Start queue", rows added later wait for it, Ctrl+Return starts it (not "pauses" it first),
and stopped rows show no rate or time left. Start with nothing waiting is refused (it would leave
the queue armed, sending rows the moment they are added). After a cancel the total counts only the
frames that are or will be rendered and names the cancelled ones apart. A failed job shows the
engine's fix on a line of its own in the status area, the row's tooltip and its details.
"""

from __future__ import annotations

import pytest
from panel_helpers import JOB_TIMEOUT_MS, connect, set_shot
from PySide6.QtCore import Qt

from ui.queue_controller import NOTHING_WAITING
from ui.queue_model import COLUMNS

pytestmark = pytest.mark.slow


def _cell(model, key, column: str):
    return model.data(model.index(model.row_of_key(key), COLUMNS.index(column)))


def _press(window, qtbot, key, modifier=Qt.KeyboardModifier.ControlModifier) -> None:
    """A real key press on the window (its shortcuts answer while it is the active window)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, key, modifier)


def test_a_drained_queue_is_idle_again_and_failures_say_what_to_do(make_window, running_engine, media_dir,
                                                                     tmp_path, qtbot):
    window = make_window(running_engine)
    window.show()
    connect(window, qtbot)
    model, panel = window.queue_model, window.queue_panel
    set_shot(window, media_dir / "529_2.mp4", tmp_path / "done", 1, 2)
    done_key = window.add_to_queue()
    set_shot(window, media_dir / "651.mp4", tmp_path / "long")  # all 62 frames: cancelled on the way
    long_key = window.add_to_queue()
    set_shot(window, tmp_path / "no_such_shot.mp4", tmp_path / "failed", 1, 2)
    failed_key = window.add_to_queue()
    assert panel.start_button.text() == "Start queue"
    panel.start_button.click()
    assert panel.start_button.text() == "Pause queue" and window.queue.running

    def record(key):
        return model.record(model.row_of_key(key))

    qtbot.waitUntil(lambda: record(long_key).done >= 2, timeout=JOB_TIMEOUT_MS)
    assert _cell(model, long_key, "FPS") != ""
    _press(window, qtbot, Qt.Key.Key_Period)  # Ctrl+. with no row selected: stop the running job
    qtbot.waitUntil(lambda: window.finish_notice != "", timeout=JOB_TIMEOUT_MS)
    assert [record(k).status for k in (done_key, long_key, failed_key)] == ["done", "cancelled", "failed"]
    assert window.finish_notice == "Queue finished: 1 done, 2 not done" and window.notice_label.isVisible()

    # idle: the button, the controller and the stopped rows agree
    assert panel.start_button.text() == "Start queue" and not panel.start_button.isChecked()
    assert not window.queue.running
    for key in (long_key, failed_key):
        assert (_cell(model, key, "FPS"), _cell(model, key, "ETA")) == ("", ""), record(key)
    assert panel.total_label.text() == "3/3 jobs finished"
    # the total: the cancelled job's unrendered frames (of 62) and the failed job's 2 leave it and are
    # named apart (the failed ones stayed in "to do": a finished queue's bar read part-way)
    rendered = record(long_key).done
    assert 2 <= rendered < 62 and record(long_key).total == 62
    cancelled = 62 - rendered
    assert panel.total_bar.format() == f"{2 + rendered}/{2 + rendered} frames, {cancelled} cancelled, 2 failed"
    assert (panel.total_bar.value(), panel.total_bar.maximum()) == (2 + rendered, 2 + rendered)
    panel.select_row(model.row_of_key(done_key))
    assert not panel.cancel_button.isEnabled()

    # the failure: problem, then the engine's fix on a line of its own
    failed = record(failed_key)
    assert "no such file" in failed.error and failed.fix and f"({failed.fix})" not in failed.error
    tooltip = model.data(model.index(model.row_of_key(failed_key), 0), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines()[2:4] == [failed.error, f"Fix: {failed.fix}"]  # under Source: and Output:
    assert f"{failed.error} — Fix: {failed.fix}" == _cell(model, failed_key, "Notes")
    shown = f"Source cannot be read: no_such_shot.mp4: {failed.error}\nFix: {failed.fix}"
    assert shown in window.status_log.messages()
    details = window.show_details(model.row_of_key(failed_key)).browser.toPlainText()
    assert f"Fix\n{failed.fix}" in details, details

    # a row added now waits for Start; Ctrl+Return starts the queue (one press, not a pause first)
    set_shot(window, media_dir / "908.mp4", tmp_path / "later", 1, 1)
    later_key = window.add_to_queue()
    assert window.status_log.messages()[0].endswith("(press Start queue to render)")
    qtbot.wait(500)
    assert record(later_key).status == "waiting"
    _press(window, qtbot, Qt.Key.Key_Return)
    assert panel.start_button.text() == "Pause queue" and not window.notice_label.isVisible()
    qtbot.waitUntil(lambda: record(later_key).status == "done", timeout=JOB_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.finish_notice != "", timeout=10_000)
    assert window.finish_notice == "Queue finished: 2 done, 2 not done"
    assert panel.start_button.text() == "Start queue" and not window.queue.running


def test_start_with_nothing_waiting_is_refused_and_leaves_the_queue_idle(make_window, running_engine, media_dir,
                                                                          tmp_path, qtbot):
    window = make_window(running_engine)
    window.show()
    connect(window, qtbot)
    model, panel = window.queue_model, window.queue_panel
    assert not panel.start_button.isEnabled()  # nothing to start yet
    _press(window, qtbot, Qt.Key.Key_Return)   # Ctrl+Return says why instead of arming the queue
    assert window.status_log.messages()[0] == NOTHING_WAITING
    assert not window.queue.running and panel.start_button.text() == "Start queue"
    assert not panel.start_button.isChecked()
    panel.set_running(True)  # a Start that reaches the controller anyway is refused the same way
    assert not window.queue.running and not panel.start_button.isChecked()
    assert panel.start_button.text() == "Start queue"

    set_shot(window, media_dir / "908.mp4", tmp_path / "later", 1, 1)
    key = window.add_to_queue()
    assert window.status_log.messages()[0].endswith("(press Start queue to render)")
    assert panel.start_button.isEnabled()
    qtbot.wait(500)
    record = model.record(model.row_of_key(key))
    assert record.status == "waiting" and record.sent is None  # not sent behind the artist's back
