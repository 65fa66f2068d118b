"""The panel sends no VToonify-D controls for a VToonify-T family: the greyed-out style id a VToonify-D
family left in the box (caricature allows only exemplar 39) must not reach the engine as a request, or
the engine warns that the VToonify-T model ignores it. The engine's own capabilities reply and model
choice are used (file contents do not matter to either)."""

from __future__ import annotations

import numpy as np

from engine.pipeline.capabilities import capabilities
from engine.pipeline.config import RenderConfig
from engine.pipeline.selection import choose_files
from ui.capabilities import parse_capabilities
from ui.job_form import build_job_settings


def _models(root):
    (root / "encoder.pt").write_bytes(b"x")
    (root / "faceparsing.pth").write_bytes(b"x")
    (root / "vtoonify_d_caricature").mkdir()
    (root / "vtoonify_d_caricature" / "vtoonify_s039_d0.5.pt").write_bytes(b"x")
    codes = {f"caricature_{i:05d}.jpg": np.zeros((1, 18, 512), np.float32) for i in range(50)}
    np.save(root / "vtoonify_d_caricature" / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    (root / "vtoonify_t_arcane").mkdir()
    (root / "vtoonify_t_arcane" / "vtoonify.pt").write_bytes(b"x")
    return root


def test_toonify_family_sends_default_d_controls(qtbot, tmp_path):
    from ui.style_panel import StylePanel

    (tmp_path / "models").mkdir()
    models = _models(tmp_path / "models")
    panel = StylePanel()
    qtbot.addWidget(panel)
    panel.set_capabilities(parse_capabilities(capabilities(str(models))))
    panel.backend_combo.setCurrentText("vtoonify")
    panel.family_combo.setCurrentText("caricature")
    panel.degree_slider.setValue(80)
    panel.color_transfer_check.setChecked(True)
    assert panel.values()["style_id"] == 39  # the only exemplar caricature's model has
    panel.family_combo.setCurrentText("arcane")  # VToonify-T: the D controls grey out, keeping their values
    assert not panel.style_id_spin.isEnabled() and panel.style_id_spin.value() == 39

    style = panel.values()
    assert (style["style_id"], style["degree"], style["color_transfer"]) == (26, 0.5, False)
    assert panel.values(check=False)["style_id"] == 39  # the saved form keeps what the artist set
    settings = build_job_settings({"source": str(tmp_path / "shot.mp4"), "output": str(tmp_path / "out")},
                                  {**style, "models_dir": str(models)})
    _, files, note = choose_files(RenderConfig.from_dict(settings))
    assert files["vtoonify"].endswith("vtoonify_t_arcane/vtoonify.pt") and note == ""
