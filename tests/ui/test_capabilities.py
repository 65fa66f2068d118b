"""Item 12: the style choices come from exactly what engine/pipeline/capabilities.py sends.

Every reply here is built by the engine's own ``capabilities()`` over a models folder laid out as
the official one (file contents do not matter to the inventory; exstyle codes are real .npy files).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.pipeline.capabilities import capabilities
from engine.service import catalog
from ui.capabilities import DEFAULT_FAMILY, parse_capabilities


def make_models(root):
    """encoder + parser, cartoon-D (any exemplar + s026), caricature-D (only s039), arcane-T."""
    (root / "encoder.pt").write_bytes(b"x")
    (root / "faceparsing.pth").write_bytes(b"x")
    for family, files, count in (("cartoon", ("vtoonify_s_d.pt", "vtoonify_s026_d0.5.pt"), 3),
                                 ("caricature", ("vtoonify_s039_d0.5.pt",), 50)):
        folder = root / f"vtoonify_d_{family}"
        folder.mkdir()
        for name in files:
            (folder / name).write_bytes(b"x")
        codes = {f"{family}_{i:05d}.jpg": np.zeros((1, 18, 512), np.float32) for i in range(count)}
        np.save(folder / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    (root / "vtoonify_t_arcane").mkdir()
    (root / "vtoonify_t_arcane" / "vtoonify.pt").write_bytes(b"x")
    return root


def test_installed_models_become_the_offered_styles(tmp_path):
    reply = capabilities(str(make_models(tmp_path)))
    caps = parse_capabilities(dict(reply, protocol=1, model_cache={}))
    assert caps.backends == ("auto", "vtoonify", "classic")
    assert caps.devices[0] == "auto" and "cpu" in caps.devices
    assert caps.family_names == ("cartoon", "caricature", "arcane")
    cartoon = caps.family("cartoon")
    assert cartoon.backbones == ("dualstylegan",)
    assert cartoon.style_ids == (0, 1, 2)                       # the any-exemplar checkpoint allows all
    assert cartoon.style_names[2] == "cartoon_00002.jpg"
    assert caps.family("caricature").style_ids == (39,)        # only the fixed checkpoint's exemplar
    assert caps.family("arcane").backbones == ("toonify",) and caps.family("arcane").style_ids == ()
    assert caps.formats == tuple(reply["formats"]) and caps.models_dir == str(tmp_path)
    assert set(caps.family_names) <= set(catalog.STYLE_FAMILIES)
    assert caps.planned_backend("auto", "cartoon")[0] == "vtoonify"
    assert caps.planned_backend("auto", "arcane", "dualstylegan")[0] == "classic"
    assert caps.planned_backend("classic", "cartoon")[0] == "classic"


def test_no_models_offers_classic_and_the_default_family(tmp_path):
    caps = parse_capabilities(capabilities(str(tmp_path)))
    assert caps.backends == ("auto", "classic")
    assert caps.family_names == (DEFAULT_FAMILY,) and caps.families == ()
    backend, why = caps.planned_backend("auto", "cartoon")
    assert backend == "classic" and "falls back to the classic look" in why
    backend, why = caps.planned_backend("vtoonify", "cartoon")
    assert "will refuse" in why


def test_a_pipeline_that_cannot_load_is_said_not_hidden():
    # the service's reply when the pipeline does not import (engine/service/server.py)
    caps = parse_capabilities({"backends": [], "devices": [], "models": {}, "pipeline_error": "No module torch",
                               "protocol": 1, "engine_version": "0.1.0", "model_cache": {}})
    assert caps.pipeline_error == "No module torch"
    assert caps.backends == ("auto", "classic") and caps.family_names == (DEFAULT_FAMILY,)
    assert parse_capabilities(None).family_names == (DEFAULT_FAMILY,)


def test_a_reply_cut_to_fit_the_line_limit_carries_its_note_to_the_panel():
    from engine.service.reply_budget import fit_capabilities

    reply = {"styles": [{"style": "cartoon", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"],
                         "style_ids": [f"Cartoons_{i:05d}.jpg" for i in range(300)]}],
             "backends": ["auto", "classic", "vtoonify"], "models": {}}
    caps = parse_capabilities(fit_capabilities(reply, 2_000))
    assert "1 MiB line limit" in caps.truncated and "cartoon (dualstylegan): the first" in caps.truncated
    assert 0 < len(caps.family("cartoon").style_names) < 300
    assert parse_capabilities(reply).truncated == ""


@pytest.mark.parametrize("backend", ["classic", "auto"])
def test_style_panel_follows_the_engine_reply(qtbot, tmp_path, backend):
    from ui.control_tips import why_not
    from ui.style_panel import CLASSIC_IGNORES, StylePanel

    panel = StylePanel()
    qtbot.addWidget(panel)
    panel.set_capabilities(parse_capabilities(capabilities(str(make_models(tmp_path)))))
    assert [panel.family_combo.itemText(i) for i in range(panel.family_combo.count())] == \
        ["cartoon", "caricature", "arcane"]
    panel.family_combo.setCurrentText("caricature")
    assert (panel.style_id_spin.minimum(), panel.style_id_spin.maximum()) == (39, 39)
    panel.backend_combo.setCurrentText(backend)
    if backend == "classic":
        assert not panel.degree_slider.isEnabled() and why_not(panel.degree_slider) == CLASSIC_IGNORES
    else:
        assert panel.planned[0] == "vtoonify" and panel.degree_slider.isEnabled()
