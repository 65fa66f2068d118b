"""Errors on the wire carry ``fix`` beside ``code`` and ``message`` (additive: ``message`` keeps the
whole line older clients show), over a real engine process and real sockets."""

from __future__ import annotations

import pytest
from service_helpers import wait_terminal

from engine.errors import (
    ERROR_TYPES,
    EngineError,
    InputError,
    InternalError,
    JobInterrupted,
    UnknownJobError,
    error_from_dict,
    problem_and_fix,
)
from engine.service.client import EngineClient
from engine.service.jobs import JobQueue


def test_every_typed_error_sends_its_fix_apart_and_comes_back_whole():
    for code, cls in ERROR_TYPES.items():
        sent = cls("the problem", "the action").to_dict()
        assert sent == {"code": code, "message": "the problem (the action)", "fix": "the action"}
        rebuilt = error_from_dict(sent)
        assert type(rebuilt) is cls
        assert (rebuilt.message, rebuilt.fix, rebuilt.user_message) == ("the problem", "the action",
                                                                         "the problem (the action)")
    assert InternalError.of(ZeroDivisionError("oops")).to_dict()["fix"].startswith("retry")


def test_an_older_engines_error_without_fix_still_reads():
    old = {"code": "input_error", "message": "cannot read frame 57 of plate.mp4 (check the file still exists)"}
    assert problem_and_fix(old) == (old["message"], "")
    rebuilt = error_from_dict(old)
    assert type(rebuilt) is InputError and rebuilt.user_message == old["message"] and rebuilt.fix == ""
    # a fix that the message does not end with is shown as sent, never cut out of the message
    assert problem_and_fix({"message": "a (b)", "fix": "c"}) == ("a (b)", "c")


def test_job_failures_and_request_errors_carry_the_fix(fake_engine, tmp_path):
    client = EngineClient.connect(fake_engine.info)
    try:
        job = client.submit({"source": str(tmp_path / "gone.bin"), "output": str(tmp_path / "out")})
        failed, _ = wait_terminal(client, job)
        error = failed["error"]
        assert failed["event"] == "job_failed" and error["code"] == "input_error"
        assert error["fix"] == "check the file still exists"
        assert error["message"] == f"cannot read source {tmp_path / 'gone.bin'} (check the file still exists)"
        assert client.status(job)["error"]["fix"] == error["fix"]
        assert next(j for j in client.jobs() if j["job"] == job)["error"]["fix"] == error["fix"]
        with pytest.raises(UnknownJobError) as raised:  # a request error: the reply's fix, typed
            client.status("f00")
        assert raised.value.fix and raised.value.user_message.endswith(f"({raised.value.fix})")
    finally:
        client.close()


def test_a_job_interrupted_by_a_restart_says_how_to_continue_it(tmp_path):
    def slow(config, on_event, cancel, models):
        cancel.wait(5)
        return {"outputs": [], "count": 0}

    queue = JobQueue(lambda *_: None, runner=slow, model_cache_factory=None, state_dir=tmp_path / "state",
                     default_device="cpu")
    job = queue.submit({"source": "s", "output": "o"})
    queue.close()
    reopened = JobQueue(lambda *_: None, runner=slow, model_cache_factory=None, state_dir=tmp_path / "state",
                        default_device="cpu")
    try:
        error = reopened.get(job.id).last_event["error"]
        rebuilt = error_from_dict(error)
        assert type(rebuilt) is JobInterrupted and isinstance(rebuilt, EngineError)
        assert rebuilt.message == "the engine stopped before this job finished"
        assert f"EngineClient.resume('{job.id}')" in error["fix"]
    finally:
        reopened.close()
