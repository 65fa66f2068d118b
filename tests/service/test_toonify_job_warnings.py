"""A VToonify-T job submitted over the socket, with the settings the Blender add-on sends by default (it
always sends style_id, degree and colour transfer), renders without a warning about VToonify-D controls;
the same job with a degree the artist changed gets one warning naming it.

The real pipeline behind ``python -m engine serve --models <narrow models>`` (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses

import pytest
from service_helpers import start_test_engine, wait_terminal

from vtoonify_addon.core.job_settings import StylizeOptions, build_job_settings

pytestmark = pytest.mark.slow


def _job_warnings(client, settings: dict) -> list[str]:
    job = client.submit(settings)
    end, events = wait_terminal(client, job, timeout_s=240)
    assert end["event"] == "job_done", end
    assert end["result"]["backend"] == "vtoonify"
    return [e["message"] for e in events if e["event"] == "warning"]


def test_addon_default_toonify_job_warns_only_about_what_the_artist_changed(tmp_path, media_dir,
                                                                           narrow_models_dir):
    options = StylizeOptions(backend="vtoonify", style="narrow48", format="png")
    engine = start_test_engine(tmp_path / "engine", runner=None, extra_args=("--models", str(narrow_models_dir)))
    try:
        with engine.connect() as client:
            plain = build_job_settings(str(media_dir / "529_2.mp4"), str(tmp_path / "a"), "2", options, "shot")
            assert plain["style_id"] == 26 and plain["degree"] == 0.5  # the add-on sends the defaults
            warnings = _job_warnings(client, {**plain, "padding": [32, 32, 32, 32]})
            assert not [w for w in warnings if "VToonify-T" in w or "do not apply" in w], warnings

            changed = build_job_settings(str(media_dir / "529_2.mp4"), str(tmp_path / "b"), "2",
                                         dataclasses.replace(options, degree=0.25), "shot")
            warnings = _job_warnings(client, {**changed, "padding": [32, 32, 32, 32]})
            assert [w for w in warnings if "VToonify-T" in w] == [
                "the narrow48 VToonify-T model ignores 'degree': 0.25: only VToonify-D models take an exemplar, "
                "a degree or colour transfer"]
    finally:
        engine.stop()
