"""The shared catalog: one definition of choices, defaults and sequence names, stdlib only."""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

import pytest

from engine.io.sequence import parse_pattern, pattern_from_member
from engine.pipeline.config import RenderConfig
from engine.service import catalog

CATALOG = Path(catalog.__file__)


def test_catalog_imports_only_the_standard_library():
    tree = ast.parse(CATALOG.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    assert "engine" not in imported


def test_render_config_defaults_are_the_catalog_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(RenderConfig)}
    for key, value in catalog.DEFAULTS.items():
        assert fields[key] == value, key
    config = RenderConfig(source="a.mp4", output="out")
    assert (config.style, config.style_id, config.format, config.png_bits) == ("cartoon", 26, "exr", 8)


@pytest.mark.parametrize("field, bad", [("backend", "neural"), ("format", "tiff"), ("exr_compression", "b44"),
                                        ("png_bits", 12), ("backbone", "stylegan3")])
def test_render_config_refuses_what_the_catalog_does_not_list(field, bad):
    from engine.errors import ConfigError

    with pytest.raises(ConfigError):
        RenderConfig(source="a.mp4", output="out", **{field: bad})


@pytest.mark.parametrize("pattern, frame, expected", [
    ("/a/shot.####.exr", 7, "/a/shot.0007.exr"),
    ("/a/shot.%04d.png", 1001, "/a/shot.1001.png"),
    ("/a/shot.@@@.png", 12, "/a/shot.012.png"),
    ("/a/shot.%d.png", 5, "/a/shot.5.png"),
    ("/a/v01_shot.##.png", 12345, "/a/v01_shot.12345.png"),
])
def test_pattern_to_frame_and_engine_agree(pattern, frame, expected):
    assert catalog.frame_path(pattern, frame) == expected
    assert str(parse_pattern(pattern).path_for(frame)) == expected


@pytest.mark.parametrize("picked, expected", [
    ("/a/shot.1001.png", ("/a/shot.####.png", 1001)),
    ("/a/sh010_v002.0042.exr", ("/a/sh010_v002.####.exr", 42)),
    ("/a/908.mp4", None),                   # a video is never a sequence member
    ("/a/sh010_plate_v001.mov", None),
    ("/a/077436.jpg", None),                # a photo named by number is a single image
    ("/a/portrait.jpg", None),
])
def test_picked_frame_maps_to_its_pattern_and_back(picked, expected):
    assert catalog.pattern_of_member(picked) == expected
    engine_pattern = pattern_from_member(Path(picked))
    if expected is None:
        assert engine_pattern is None
    else:
        assert engine_pattern.hash_pattern == expected[0]
        assert catalog.frame_path(expected[0], expected[1]) == picked


def test_members_on_disk_and_several_picked_frames(tmp_path):
    for n in (1, 2, 3, 10000):
        (tmp_path / f"shot.{n:04d}.png").write_bytes(b"x")
    (tmp_path / "shot.01.png").write_bytes(b"x")      # other padding: not a member
    (tmp_path / "other.0001.png").write_bytes(b"x")
    pattern = str(tmp_path / "shot.####.png")
    assert list(catalog.sequence_members(pattern)) == [1, 2, 3, 10000]
    picked = [str(tmp_path / "shot.0001.png"), str(tmp_path / "shot.0003.png")]
    assert catalog.sequence_for_frames(picked) == pattern
    assert catalog.sequence_for_frames(picked[:1]) is None
    assert catalog.sequence_for_frames([picked[0], str(tmp_path / "other.0001.png")]) is None
