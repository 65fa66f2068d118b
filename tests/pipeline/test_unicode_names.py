"""Output names keep the artist's Unicode (``Ünïcödé 日本 shot.jpg`` -> ``Ünïcödé_日本_shot.0001.exr``)
but never characters that hide what a name is: spaces, emoji/symbols, bidi overrides, zero-width
characters, controls, or the surrogate escapes of bytes that are not UTF-8."""

from __future__ import annotations

import os
import shutil
import unicodedata

import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.io import read_image
from engine.pipeline.config import RenderConfig
from engine.pipeline.outputs import source_stem


@pytest.mark.parametrize("name, stem", [
    ("Ünïcödé 日本 😀 shot.jpg", "Ünïcödé_日本_shot"),          # before: n_c_d_shot
    (unicodedata.normalize("NFD", "café.mp4"), "café"),          # macOS decomposed -> one NFC name
    ("हिन्दी.mp4", "हिन्दी"),                                      # combining vowel signs are kept
    ("x\u202egnp.exe.mp4", "x_gnp.exe"),                         # a right-to-left override is not
    ("a\u200bb.mp4", "a_b"),                                     # nor a zero-width space
    ("\udcff\udcfeclip.mp4", "clip"),                            # undecodable bytes (surrogateescape)
    ("😀.mp4", "render"), ("\u0301-x.mp4", "x"), ("shot__v2 (copy).mp4", "shot__v2_copy"),
])
def test_source_stems_keep_letters_of_any_script_and_nothing_that_hides_a_name(name, stem):
    assert source_stem("/plates/" + name) == stem


@pytest.mark.parametrize("name, ok", [("日本語ショット", True), ("हिन्दी", True), ("a b", False), ("a😀", False),
                                      ("a\u202eb", False), ("\u0301a", False), ("..", False), ("a/b", False)])
def test_given_names_follow_the_same_rule(name, ok):
    config = {"source": "/a.mp4", "output": "/out", "name": name}
    if ok:
        assert RenderConfig.from_dict(config).name == name
    else:
        with pytest.raises(ConfigError, match="is not a plain file stem"):
            RenderConfig.from_dict(config)


def test_a_unicode_source_renders_to_unicode_names_that_read_back(media_dir, tmp_path, empty_models_dir):
    source = tmp_path / "Ünïcödé 日本 😀 shot.jpg"
    shutil.copy(media_dir / "038648.jpg", source)
    out = tmp_path / "renders ☃"
    assert main(["render", str(source), "-o", str(out), "--backend", "classic", "--padding", "48"]) == 0
    assert sorted(os.listdir(out)) == ["Ünïcödé_日本_shot.0001.exr", "Ünïcödé_日本_shot.vtoonify.json"]
    assert read_image(out / "Ünïcödé_日本_shot.0001.exr").shape[2] == 4
