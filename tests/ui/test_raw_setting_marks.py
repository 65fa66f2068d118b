"""An older engine replays a newer sidecar's warning as stored, with the engine's setting markers
(``engine.errors.setting``) in it: the panel names its own control and never shows the marker bytes."""

from __future__ import annotations

from engine.errors import setting
from ui.wording import error_parts, warning_text


def test_raw_setting_markers_from_an_older_engine_become_the_panels_controls():
    """An engine from before the markers replays a newer sidecar's warning as stored, marker bytes and all."""
    raw = f"faces were tracked; turn {setting('follow_faces')} off or set {setting('scale', 0.5)}"
    shown = warning_text(raw, [])
    assert "\x1e" not in shown and "\x1f" not in shown and "[" not in shown
    assert "'Crops follow the faces'" in shown and "the scale (Format row) at 0.5" in shown
    assert "the engine setting 'precision'" in warning_text(f"set {setting('precision', 'fp16')}")
    problem, fix = error_parts(
        {"code": "bad_config", "message": f"bad {setting('frames')}", "fix": f"give {setting('overwrite', True)}"}
    )
    assert problem == "bad the Frames range (first/last, or All)" and fix == "give 'Overwrite' under \"If it exists\""
    assert warning_text("broken \x1enot json\x1f mark") == "broken a setting mark"
