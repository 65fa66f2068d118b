"""The Style menu's entries come from the REAL engine's capabilities reply over a models folder that
holds a style the studio trained (laid out by engine.train.checkpoint, as ``engine train`` writes it)."""

from __future__ import annotations

import numpy as np
import torch

from engine.pipeline.capabilities import capabilities
from engine.service import catalog
from engine.train.checkpoint import install_companions, output_layout, save_checkpoint
from vtoonify_addon.core.availability import stylize_blocker
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


def make_half_trained(root):
    """Official cartoon-D installed; ``studio`` stopped after ``engine train pretrain`` (D) and ``inked``
    mid ``engine train full`` (T): the file names are what the inventory reads, not their contents."""
    (root / "encoder.pt").write_bytes(b"x")
    (root / "faceparsing.pth").write_bytes(b"x")
    cartoon = root / "vtoonify_d_cartoon"
    cartoon.mkdir()
    (cartoon / "vtoonify_s_d.pt").write_bytes(b"x")
    codes = {f"Cartoons_{i:05d}.jpg": np.zeros((1, 18, 8), np.float32) for i in range(3)}
    np.save(cartoon / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    (root / "vtoonify_d_studio").mkdir()
    (root / "vtoonify_d_studio" / "pretrain.pt").write_bytes(b"x")
    (root / "vtoonify_d_studio" / "exstyle_code.npy").write_bytes(b"x")
    (root / "vtoonify_t_inked").mkdir()
    (root / "vtoonify_t_inked" / "vtoonify_00300.pt").write_bytes(b"x")
    return root


def test_half_trained_styles_are_listed_not_ready_with_the_engines_problem_and_fix(tmp_path):
    reply = capabilities(str(make_half_trained(tmp_path)))
    sent = {f["style"]: (f["problem"], f["fix"]) for f in reply["models"]["families"] if f["training_files"]}
    assert set(sent) == {"studio", "inked"}
    status = status_from_capabilities(reply)
    assert {s.name: (s.problem, s.fix) for s in status.not_ready} == sent  # the engine's words, unchanged
    items = style_items(status.installed, catalog.STYLE_FAMILIES, "cartoon", status.not_ready)
    assert [i[:2] for i in items] == [("cartoon", "Cartoon"), ("studio", "Studio (not ready)"),
                                      ("inked", "Inked (not ready)")]
    studio = items[1][2]  # a tooltip an artist reads: no shell command, flag or docs path
    assert studio.startswith("Not ready: ") and "training" in studio and "VToonify panel" in studio
    assert not any(word in studio for word in ("`", "--", "docs/", ".md", ".pt")), studio
    assert status.style_problem("studio") == f"{sent['studio'][0]}; fix: {sent['studio'][1]}"  # the panel's note
    assert status.style_problem("cartoon") == "" and status.style_problem("arcane") == ""  # official, unfetched
    # chosen while half trained: listed once, still not ready (not "not installed")
    items = style_items(status.installed, catalog.STYLE_FAMILIES, "studio", status.not_ready)
    assert [i[0] for i in items].count("studio") == 1 and items[1][1] == "Studio (not ready)"
    # Stylize refuses it with the problem and the fix
    reason = stylize_blocker(has_editor=True, strip_type="MOVIE", source_type="MOVIE", style="studio",
                             style_problem=status.style_blocker("studio"))
    assert reason.startswith("Style 'studio' is not ready: ") and "Backend Classic" in reason
    assert not any(word in reason for word in ("`", "--", "docs/", ".md", ".pt", "engine train")), reason
    assert stylize_blocker(has_editor=True, strip_type="MOVIE", source_type="MOVIE", style="cartoon",
                           style_problem=status.style_blocker("cartoon")) == ""


def test_an_older_engine_without_problem_and_fix_still_marks_half_trained_styles(tmp_path):
    reply = capabilities(str(make_half_trained(tmp_path)))
    for family in reply["models"]["families"]:
        family.pop("problem", None), family.pop("fix", None)
    status = status_from_capabilities(reply)
    assert [s.name for s in status.not_ready] == ["studio", "inked"]
    assert "engine train" in status.style_problem("inked")
    # a family that renders with one backbone is installed, not "not ready", whatever else it misses
    reply["styles"].append({"style": "inked", "backbone": "dualstylegan", "checkpoints": ["vtoonify_s_d.pt"]})
    assert [s.name for s in status_from_capabilities(reply).not_ready] == ["studio"]
