"""A VToonify-T render warns about style id / degree / colour transfer only when the job asks for them.

Real ``engine render`` runs (the CLI's own code, in this process) of the narrow VToonify-T of
``narrow_models_dir`` on one frame of media/529_2.mp4: the README's plain command, the farm templates'
command (they always pass ``--style-id 26 --degree 0.5``), and one that really asks for D controls.
"""

from __future__ import annotations

import json

import pytest

from engine.cli import main


def _render_warnings(capsys, media_dir, models, out, *flags) -> list[str]:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "2", "--models", str(models),
                 "--style", "narrow48", "--backend", "vtoonify", "--device", "cpu", "--format", "png",
                 "--output-space", "crop", "--padding", "32", "--json-progress", *flags])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    done = [e for e in events if e["event"] == "job_done"][-1]["result"]
    assert done["backend"] == "vtoonify" and (out / "529_2.0002.png").is_file()
    return [e["message"] for e in events if e["event"] == "warning"]


@pytest.mark.parametrize("flags", [(), ("--style-id", "26", "--degree", "0.5")], ids=["plain", "farm-defaults"])
def test_toonify_render_with_default_settings_warns_nothing(capsys, media_dir, narrow_models_dir, tmp_path, flags):
    warnings = _render_warnings(capsys, media_dir, narrow_models_dir, tmp_path / "out", *flags)
    assert not [w for w in warnings if "VToonify-T" in w or "do not apply" in w], warnings


def test_toonify_render_names_the_d_controls_it_ignores(capsys, media_dir, narrow_models_dir, tmp_path):
    warnings = _render_warnings(capsys, media_dir, narrow_models_dir, tmp_path / "out",
                                "--style-id", "3", "--degree", "0.8", "--color-transfer")
    ignored = [w for w in warnings if "VToonify-T" in w]
    assert ignored == ["the narrow48 VToonify-T model ignores --style-id 3, --degree 0.8, --color-transfer: "
                       "only VToonify-D models take an exemplar, a degree or colour transfer"]
