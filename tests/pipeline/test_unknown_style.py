"""``--backend auto`` refuses a style that exists nowhere (a typo) instead of rendering the classic look,
and keeps the documented fallback for a known style whose files are missing."""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.errors import EXIT_USER_ERROR, ConfigError
from engine.pipeline.config import RenderConfig
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.selection import make_backend


def test_a_mistyped_style_is_refused_naming_the_closest_styles(capsys, media_dir, tmp_path, empty_models_dir):
    # Before: a warning, then the classic look rendered as if 'arcane' had merely lacked its files.
    out = tmp_path / "out"
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "1", "--style", "arcnae"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    assert f"unknown style 'arcnae': not an official style and no vtoonify_d_arcnae or vtoonify_t_arcnae " \
           f"folder in {empty_models_dir}; did you mean arcane or caricature?" in err
    assert "pass --style arcane (known styles: arcane, caricature, cartoon, comic, illustration, pixar)" in err
    assert "models list" in err and "using the classic" not in err
    assert not out.exists()  # refused before the output folder was made


def test_a_known_style_without_files_still_falls_back_to_classic(tmp_path, empty_models_dir):
    (empty_models_dir / "vtoonify_d_mine").mkdir()  # a studio style whose files are not there yet
    cache = ModelCache("cpu")
    for style in ("pixar", "mine", "illustration"):
        backend, warnings = make_backend(RenderConfig(source="s.mp4", output="o", style=style), cache)
        assert backend.name == "classic"
        assert len(warnings) == 1 and warnings[0].startswith("using the classic (non-neural) backend: ")
    # the folder's own style is a known name too: a typo of it is refused with it as the suggestion
    with pytest.raises(ConfigError) as refused:
        make_backend(RenderConfig(source="s.mp4", output="o", style="mien"), cache)
    assert refused.value.code == "bad_config"
    assert "did you mean mine?" in refused.value.message and "pass --style mine" in refused.value.fix
    # nothing close at all: no guess, the list and the command that shows them
    with pytest.raises(ConfigError) as refused:
        make_backend(RenderConfig(source="s.mp4", output="o", style="zzzz"), cache)
    assert "did you mean" not in refused.value.message and "models list" in refused.value.fix


def test_an_explicit_classic_backend_is_unchanged(tmp_path, empty_models_dir):
    backend, warnings = make_backend(RenderConfig(source="s.mp4", output="o", style="arcnae", backend="classic"),
                                     ModelCache("cpu"))
    assert backend.name == "classic" and warnings == []
