"""The ``jobs`` reply shows the engine's whole queue to any client, and the same after a restart."""

from __future__ import annotations

from service_helpers import start_test_engine, wait_terminal

SUMMARY_KEYS = {"job", "state", "source", "output", "backend_asked", "backend_used", "device", "progress",
                "settings", "warnings", "error", "created_s"}


def test_any_client_sees_every_job_summary_live_and_from_the_journal(tmp_path, source_file):
    settings = {"source": str(source_file), "output": str(tmp_path / "out"), "frames": "1-2",
                "backend": "classic", "warning": "two faces: using the larger one"}
    engine = start_test_engine(tmp_path / "e")
    try:
        with engine.connect() as blender, engine.connect() as panel:
            job = blender.submit(settings)
            terminal, _ = wait_terminal(blender, job)
            assert terminal["event"] == "job_done"
            listed = {j["job"]: j for j in panel.jobs()}  # a client that did not submit it
        summary = listed[job]
        assert set(summary) >= SUMMARY_KEYS
        assert summary["state"] == "done" and summary["source"] == str(source_file)
        assert summary["output"] == str(tmp_path / "out")
        assert summary["backend_asked"] == "classic" and summary["backend_used"] == "test-writer"
        assert summary["progress"]["done"] == 2 and summary["progress"]["total"] == 2
        assert summary["warnings"] == ["two faces: using the larger one"]
        assert summary["settings"]["frames"] == "1-2" and summary["created_s"] > 0
    finally:
        engine.stop()
    engine = start_test_engine(tmp_path / "e")  # same state dir: the journal
    try:
        with engine.connect() as client:
            again = {j["job"]: j for j in client.jobs()}[job]
        assert {k: again[k] for k in SUMMARY_KEYS} == {k: summary[k] for k in SUMMARY_KEYS}
    finally:
        engine.stop()
