"""A VFR source's grid in the result strip's label (no bpy)."""

from __future__ import annotations

from fractions import Fraction

from engine.io.frame_grid import FrameGrid
from vtoonify_addon.core.job_settings import frame_grid_text, result_label


def test_label_names_the_grid_the_engine_reports():
    grid = FrameGrid(Fraction(60), pictures=32, frames=74, repeats=42, unshown=0).to_dict()
    assert frame_grid_text(grid) == "variable frame rate: 32 pictures on a 60 fps grid (42 frames repeat one)"
    assert result_label({"frame_grid": grid, "timecode": None}, {"cryptomatte": True}) == (
        "variable frame rate: 32 pictures on a 60 fps grid (42 frames repeat one); Cryptomatte CryptoFace in the EXR")
    assert result_label({"frame_grid": None}, {}) == "" and frame_grid_text({"fps": None}) == ""
