"""The Style menu's entries come from the REAL engine's capabilities reply over a models folder that
holds a style the studio trained (laid out by engine.train.checkpoint, as ``engine train`` writes it)."""

from __future__ import annotations

import numpy as np
import torch

from engine.pipeline.capabilities import capabilities
from engine.service import catalog
from engine.train.checkpoint import install_companions, output_layout, save_checkpoint
from vtoonify_addon.core.engine_status import status_from_capabilities
from vtoonify_addon.core.style_choices import installed_styles, style_items

N_EXEMPLARS = 5


def make_models(tmp_path):
    """Official cartoon-D (any exemplar, 3 codes) plus ``mystyle`` trained as D (5 codes) and as T."""
    root = tmp_path / "models"
    teachers = tmp_path / "teachers"
    teachers.mkdir()
    (teachers / "enc.pt").write_bytes(b"x")
    (teachers / "parse.pth").write_bytes(b"x")
    codes = {f"mine_{i:03d}.png": np.zeros((1, 18, 8), np.float32) for i in range(N_EXEMPLARS)}
    np.save(teachers / "codes.npy", np.array(codes, dtype=object), allow_pickle=True)
    for backbone in ("dualstylegan", "toonify"):
        layout = output_layout(root, "mystyle", backbone)
        layout.create()
        save_checkpoint(layout.model_path, {"g_ema": {"w": torch.zeros(2)}})
        install_companions(layout, style_encoder=teachers / "enc.pt", face_parser=teachers / "parse.pth",
                           exstyles=teachers / "codes.npy" if backbone == "dualstylegan" else None)
    cartoon = root / "vtoonify_d_cartoon"
    cartoon.mkdir()
    (cartoon / "vtoonify_s_d.pt").write_bytes(b"x")
    official = {f"cartoon_{i:05d}.jpg": np.zeros((1, 18, 8), np.float32) for i in range(3)}
    np.save(cartoon / "exstyle_code.npy", np.array(official, dtype=object), allow_pickle=True)
    return root


def test_trained_style_is_offered_with_its_backbones_and_exemplar_count(tmp_path):
    reply = capabilities(str(make_models(tmp_path)))
    assert {p.name for p in (tmp_path / "models").iterdir() if p.is_dir()} == {
        "vtoonify_d_mystyle", "vtoonify_t_mystyle", "vtoonify_d_cartoon"}
    styles = {s.name: s for s in installed_styles(reply)}
    assert set(styles) == {"cartoon", "mystyle"}
    assert set(styles["mystyle"].backbones) == {"dualstylegan", "toonify"}
    assert styles["mystyle"].style_ids == N_EXEMPLARS and styles["cartoon"].style_ids == 3
    items = style_items(status_from_capabilities(reply).installed, catalog.STYLE_FAMILIES, "cartoon")
    assert sorted(i[0] for i in items) == ["cartoon", "mystyle"]          # nothing kept here adds to it
    mine = next(i for i in items if i[0] == "mystyle")
    assert mine[1] == "Mystyle"
    assert "VToonify-D (5 exemplar style ids)" in mine[2] and "VToonify-T" in mine[2]
    assert all(len(set(i)) == 3 and all(isinstance(x, str) for x in i) for i in items)


def test_no_engine_offers_the_official_families(tmp_path):
    items = style_items(None, catalog.STYLE_FAMILIES, "cartoon")
    assert [i[0] for i in items] == list(catalog.STYLE_FAMILIES)
    assert not any("not installed" in i[1] for i in items)


def test_a_chosen_style_missing_from_the_engine_stays_visible_as_not_installed(tmp_path):
    root = make_models(tmp_path)
    reply = capabilities(str(root))
    items = style_items(status_from_capabilities(reply).installed, catalog.STYLE_FAMILIES, "pixar")
    assert items[-1][:2] == ("pixar", "pixar (not installed)")
    assert [i[0] for i in items].count("pixar") == 1
    # the trained style removed from the models folder: still the value, shown as not installed
    for folder in ("vtoonify_d_mystyle", "vtoonify_t_mystyle"):
        for path in (root / folder).iterdir():
            path.unlink()
        (root / folder).rmdir()
    items = style_items(status_from_capabilities(capabilities(str(root))).installed, catalog.STYLE_FAMILIES,
                        "mystyle")
    assert [i[:2] for i in items] == [("cartoon", "Cartoon"), ("mystyle", "mystyle (not installed)")]


def test_engine_with_no_models_lists_the_official_families_as_not_installed(tmp_path):
    items = style_items(status_from_capabilities(capabilities(str(tmp_path))).installed, catalog.STYLE_FAMILIES,
                        "cartoon")
    assert [i[0] for i in items] == list(catalog.STYLE_FAMILIES)
    assert all(i[1].endswith("(not installed)") for i in items)
