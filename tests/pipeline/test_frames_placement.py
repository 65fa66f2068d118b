"""Frame-range parsing and placement geometry (no models, no media decoding)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine.errors import ConfigError, FrameRangeError
from engine.face import CropParams, scale_and_crop
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import format_frame_ranges, gaps_in, parse_frame_ranges, select_frames
from engine.pipeline.placement import (
    composite_over,
    feather_alpha,
    place_rgba,
    plan_crop_placement,
    plan_plate_placement,
)


def test_parse_ranges_and_lists():
    assert parse_frame_ranges("1001-1003") == [1001, 1002, 1003]
    assert parse_frame_ranges("1-3,7, 9-10") == [1, 2, 3, 7, 9, 10]
    assert parse_frame_ranges("1-9x4") == [1, 5, 9]
    assert parse_frame_ranges("3,1-2,2") == [1, 2, 3]
    assert format_frame_ranges([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"


@pytest.mark.parametrize("text", ["", "a-b", "5-1", "1-", "1--3", "1-3x0"])
def test_bad_ranges_name_the_problem(text):
    with pytest.raises(FrameRangeError) as info:
        parse_frame_ranges(text)
    assert info.value.fix


def test_select_frames_outside_source():
    assert select_frames(None, [1, 2, 3]) == [1, 2, 3]
    with pytest.raises(FrameRangeError, match=r"frames 4-5 are outside the source \(it has frames 1-3"):
        select_frames("2-5", [1, 2, 3])
    with pytest.raises(FrameRangeError, match=r"frame 3 is missing from the source \(a gap in its frames 1-5"):
        select_frames("1-4", [1, 2, 4, 5])
    assert gaps_in([1, 2, 5, 7]) == [range(3, 5), range(6, 7)]


def test_config_checks_and_json_round_trip():
    config = RenderConfig(source="a.mp4", output="out", frames="1-3", padding=(1, 2, 3, 4), mattes=True)
    assert RenderConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="degree"):
        RenderConfig(source="a", output="b", degree=1.5)
    with pytest.raises(ConfigError, match="not a plain file stem"):
        RenderConfig(source="a", output="b", name="../escape")
    with pytest.raises(ConfigError, match="must be an integer, not a JSON string"):
        RenderConfig.from_dict({"source": "a", "output": "b", "batch": "4"})


def _crop(h=360, w=400, top=40, bottom=320, left=80, right=360, scale=0.5):
    return CropParams(h=h, w=w, top=top, bottom=bottom, left=left, right=right, scale=scale)


def test_plate_placement_maps_crop_box_to_source_pixels():
    crop = _crop()                                       # resized frame is half the 800x720 source
    p = plan_plate_placement(crop, (800, 720), 1.0, (4 * 280, 4 * 280))
    assert p.out_size == (800, 720)
    assert p.window == (159, 79, 720, 640)               # crop box x2, half a px up-left (pre-blur)
    assert p.feather_edges == (True, True, True, True)
    ax, _, bx = p.matrix[0]
    assert ax == pytest.approx(0.5)                      # 4x crop px -> 2 source px per crop px
    # the centre of stylized pixel 0 lands a quarter source pixel in from the crop box's edge, less the
    # half pixel the one pre-blur pass at scale 0.5 moved the crop's picture (placement.preblur_shift)
    assert bx == pytest.approx(-0.25 - 0.5 + (160 - p.window[0]))


def test_identity_stylization_reproduces_the_plate():
    """A 'stylizer' that only upsamples the crop 4x must put the plate back where it was."""
    import cv2

    rng = np.random.default_rng(0)
    plate = cv2.GaussianBlur(rng.random((720, 800, 3)).astype(np.float32), (0, 0), 6)
    crop = _crop()
    crop_img = scale_and_crop(plate, crop)  # the engine's own crop: pre-blur (scale 0.5) and resize
    up = cv2.resize(crop_img, (crop_img.shape[1] * 4, crop_img.shape[0] * 4), interpolation=cv2.INTER_LINEAR)
    p = plan_plate_placement(crop, (800, 720), 1.0, (up.shape[1], up.shape[0]))
    element = place_rgba(up, p)
    assert element.shape == (561, 561, 4)
    out = composite_over(element, np.zeros_like(plate), p)
    x0, y0, x1, y1 = p.window
    inner = (slice(y0 + 60, y1 - 60), slice(x0 + 60, x1 - 60))
    assert np.abs(out[inner] - plate[inner]).mean() < 0.01
    assert np.all(out[:y0] == 0) and np.all(out[:, :x0] == 0)


def test_feather_only_on_interior_edges():
    alpha = feather_alpha((100, 50), (True, False, False, False), fraction=0.2)
    assert alpha.shape == (50, 100)
    assert alpha[:, 0].max() < 0.2 and alpha[:, -1].min() == 1.0 and alpha[0].max() == 1.0
    crop = _crop(left=0, right=400, top=0, bottom=360)
    p = plan_plate_placement(crop, (800, 720), 1.0, (1600, 1440))
    assert p.feather_edges == (False, False, False, False)


def test_a_crop_stopping_short_of_the_frame_edges_is_mirrored_out_to_them():
    """529.mp4's crop: the resized frame is 395x363 and the crop snaps to 392x360, so the stylized picture
    ends 3 plate pixels before the right and bottom edges. Those pixels mirror the picture (they showed
    the unstylized plate, alpha 0, a hard-edged strip in every comp); every other pixel is unchanged."""
    import dataclasses

    crop = CropParams(h=363, w=395, top=0, bottom=360, left=0, right=392, scale=0.9871465295629819)
    size = (4 * 392, 4 * 360)
    p = plan_plate_placement(crop, (400, 368), 1.0, size)
    assert p.window == (0, 0, 400, 368) and p.reach_edges == (True, True, True, True)
    rgb = np.random.default_rng(1).random((size[1], size[0], 3)).astype(np.float32)
    element = place_rgba(rgb, p)
    assert element.shape == (368, 400, 4) and element[..., 3].min() == pytest.approx(1.0)
    before = place_rgba(rgb, dataclasses.replace(p, reach_edges=(False, False, False, False)))
    whole_x = np.nonzero(before[180, :, 3] > 1 - 1e-6)[0].max()   # the last column the warp took whole
    whole_y = np.nonzero(before[:, 200, 3] > 1 - 1e-6)[0].max()
    assert (400 - 1 - whole_x, 368 - 1 - whole_y) == (4, 4)  # 3 plate px short, and one only partly covered
    np.testing.assert_array_equal(element[:whole_y + 1, :whole_x + 1], before[:whole_y + 1, :whole_x + 1])
    for k in range(1, 5):
        np.testing.assert_array_equal(element[:whole_y + 1, whole_x + k], before[:whole_y + 1, whole_x - k])
        np.testing.assert_array_equal(element[whole_y + k, :whole_x + 1], before[whole_y - k, :whole_x + 1])


def test_crop_space_keeps_native_resolution():
    p = plan_crop_placement((1120, 960), 0.5)
    assert p.out_size == (560, 480) and p.window == (0, 0, 560, 480)


def test_stale_temps_of_this_host_only_are_removed(tmp_path):
    """A farm node reaps temps of its own dead processes, never another node's in-flight ones."""
    import subprocess
    import sys

    from engine.io.atomic import host_tag
    from engine.pipeline.outputs import clean_stale_temps

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    mine_dead = tmp_path / f".shot.0001.exr.{host_tag()}-{dead}.tmp"
    mine_alive = tmp_path / f".shot.0002.exr.{host_tag()}-{os.getpid()}.tmp"
    other_host = tmp_path / f".shot.0003.exr.{host_tag()}x-other-{dead}.tmp"
    other_job = tmp_path / f".plate.0001.exr.{host_tag()}-{dead}.tmp"
    for path in (mine_dead, mine_alive, other_host, other_job):
        path.write_bytes(b"partial")
    assert clean_stale_temps(tmp_path, "shot") == [mine_dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine_alive, other_host, other_job))
