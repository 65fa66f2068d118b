"""A sidecar's warnings are replayed by every job that reuses it (farm chunks, --resume). Engines before
warnings named settings with markers stored them in CLI words; engines since store them marked. Either
way the Blender add-on and the panel must name their own controls, never a CLI flag or a raw marker."""

from __future__ import annotations

from engine.errors import cli_words, event_in_words, setting
from engine.face.cuts import cut_warning
from engine.pipeline.shot import ShotAnalysis
from vtoonify_addon.core.error_report import in_controls
from vtoonify_addon.core.job_tracker import JobTracker, outcome_notes

OLD_CUT = (  # engine/face/cuts.py before 8239e20, frames 1-29 cut at 13: as such a sidecar holds it
    "the clip changes shot (a cut) at frame 13: the analysis treats it as one shot, so after the cut each face "
    "keeps the crop and style code of its first sighting (with several faces, ids go by screen position and may "
    "now be another person). Render each shot (frames 1-12, 13-29) as its own source into its own output folder; "
    "--frames alone is not enough, the analysis always covers the whole source. Split the clip at the cut, e.g. "
    "ffmpeg -i IN -vf trim=end_frame=12 shot1.mov and ffmpeg -i IN -vf trim=start_frame=12,setpts=PTS-STARTPTS "
    "shot2.mov, rendered with --start-number 13 so its frames keep their numbers"
)
OLD_TRACKS = "the shot shows 3 faces; the 2 seen most often are stylized (raise --max-faces to include more)"


def _sidecar(warnings: list[str]) -> dict:
    return {
        "source": "clip.mp4",
        "source_size": [64, 48],
        "face_frame": 1,
        "landmarks": [[1, 2]] * 68,
        "crop": {"h": 48, "w": 64},
        "preblurs": 0,
        "backend": "classic",
        "style": {},
        "job_key": "k",
        "warnings": warnings,
        "engine_version": "0.9.0",
        "version": 1,
    }


def _in_the_add_on(message: str) -> str:
    event = event_in_words({"event": "warning", "message": message})  # the service's way out
    return in_controls(event["message"], event.get("settings"))


def test_an_older_engines_sidecar_warnings_name_the_add_ons_controls():
    analysis = ShotAnalysis.from_dict(_sidecar([OLD_CUT, OLD_TRACKS]))
    cut, tracks = (_in_the_add_on(w) for w in analysis.warnings)
    assert "--" not in cut and "--" not in tracks, (cut, tracks)
    assert "rendered with the strip's frame range (trim the strip) so" in cut
    assert "folder; the strip's frame range (trim the strip) alone is not enough" in cut
    assert tracks.endswith("(raise At Most (Faces) to include more)")
    # the CLI still reads them as the older engine wrote them
    for old, upgraded in zip([OLD_CUT, OLD_TRACKS], analysis.warnings, strict=True):
        assert event_in_words({"event": "warning", "message": upgraded}, cli_words, listed=False)["message"] == old


def test_todays_sidecar_warning_is_read_back_unchanged():
    new = cut_warning([13], list(range(1, 30)))
    assert ShotAnalysis.from_dict(_sidecar([new])).warnings == (new,)
    assert ShotAnalysis.from_dict(_sidecar(["a face was found only from frame 4"])).warnings == (
        "a face was found only from frame 4",
    )


def test_raw_markers_from_an_older_engine_reading_a_newer_sidecar_read_cleanly_in_blender():
    """An engine from before markers replays a newer sidecar's warning as stored: marker bytes and JSON.
    The add-on names the controls instead of showing the control characters."""
    raw = (
        f"render each shot on its own; {setting('frames')} alone is not enough, rendered with "
        f"{setting('start_number', 13)} so its frames keep their numbers"
    )
    shown = in_controls(raw, None)
    assert "\x1e" not in shown and "\x1f" not in shown and '["' not in shown, shown
    assert shown == (
        "render each shot on its own; the strip's frame range (trim the strip) alone is not enough, "
        "rendered with the strip's frame range (trim the strip) so its frames keep their numbers"
    )
    tracker = JobTracker(job="j1")
    tracker.feed({"event": "warning", "job": "j1", "message": raw})  # as that engine sends it
    tracker.feed({"event": "job_done", "job": "j1", "result": {"warnings": [raw], "backend": "classic"}})
    assert tracker.result is not None and outcome_notes(tracker, "classic") == [shown]
