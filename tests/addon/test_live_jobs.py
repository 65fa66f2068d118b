"""Renders ended from outside (file opened, add-on disabled, quit) are cancelled and cleaned up,
and the add-on can wait, bounded, for that cleanup (no bpy)."""

from __future__ import annotations

import threading
import time

from vtoonify_addon.core.live_jobs import LiveJobs


class _Session:
    """A JobSession's ``abandon``: a worker that takes ``clean_s`` to see the job end, then cleans."""

    def __init__(self, clean_s: float) -> None:
        self.clean_s, self.abandoned, self.cleaned = clean_s, 0, []

    def abandon(self, on_stopped):
        self.abandoned += 1

        def work():
            time.sleep(self.clean_s)
            on_stopped(True)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        return thread


def test_abandon_all_cancels_each_live_render_once_and_wait_sees_the_cleanup():
    jobs = LiveJobs()
    first, second, finished = _Session(0.2), _Session(0.3), _Session(0.0)
    for session, label in ((first, "plate"), (second, "hero"), (finished, "done")):
        jobs.add(session, session.cleaned.append, label)
    jobs.done(finished)  # ended through its operator: nothing to abandon
    assert sorted(jobs.abandon_all()) == ["hero", "plate"]
    assert jobs.abandon_all() == [] and jobs.abandon(first) is None  # never twice
    t0 = time.monotonic()
    assert jobs.wait(5.0) and time.monotonic() - t0 < 2.0
    assert (first.cleaned, second.cleaned, finished.cleaned) == ([True], [True], [])
    assert (first.abandoned, second.abandoned, finished.abandoned) == (1, 1, 0)
    assert sorted(jobs.take_ended()) == ["hero", "plate"] and jobs.take_ended() == []  # told once


def test_wait_is_bounded_when_the_engine_never_answers():
    jobs = LiveJobs()
    stuck = _Session(3.0)
    jobs.add(stuck, stuck.cleaned.append, "plate")
    jobs.abandon(stuck)
    t0 = time.monotonic()
    assert not jobs.wait(0.2)
    assert time.monotonic() - t0 < 1.0 and stuck.cleaned == []
