"""Styles ``engine train`` has not finished are shown, greyed, with the missing file and the command that
writes it: an artist who trained a style sees why it is not offered instead of it being invisible.

A real engine serves a models folder laid out as ``engine train`` leaves it (file contents do not
matter to the inventory): ``studio`` stopped after ``engine train pretrain``, ``inked`` (VToonify-T)
stopped mid ``engine train full`` with a numbered save.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.pipeline.capabilities import capabilities
from ui.capabilities import parse_capabilities
from ui.style_panel import NOT_READY


def make_models(root):
    (root / "encoder.pt").write_bytes(b"x")
    (root / "faceparsing.pth").write_bytes(b"x")
    cartoon = root / "vtoonify_d_cartoon"
    cartoon.mkdir()
    (cartoon / "vtoonify_s_d.pt").write_bytes(b"x")
    codes = {f"Cartoons_{i:05d}.jpg": np.zeros((1, 18, 512), np.float32) for i in range(3)}
    np.save(cartoon / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    studio = root / "vtoonify_d_studio"
    studio.mkdir()
    (studio / "pretrain.pt").write_bytes(b"not a torch file: the default model name is assumed")
    (studio / "exstyle_code.npy").write_bytes(b"x")
    inked = root / "vtoonify_t_inked"
    inked.mkdir()
    (inked / "vtoonify_00300.pt").write_bytes(b"x")
    return root


def combo_items(combo) -> list[tuple[str, bool]]:
    model = combo.model()
    return [(combo.itemText(i), bool(model.flags(model.index(i, 0)) & Qt.ItemFlag.ItemIsEnabled))
            for i in range(combo.count())]


def test_the_reply_carries_the_half_trained_families_with_problem_and_fix(tmp_path):
    caps = parse_capabilities(capabilities(str(make_models(tmp_path))))
    assert caps.family_names == ("cartoon",)
    studio, inked = caps.not_ready
    assert (studio.name, studio.backbone, inked.name, inked.backbone) == \
        ("studio", "dualstylegan", "inked", "toonify")
    assert "wrote only pretrain.pt" in studio.problem and studio.problem.endswith("not vtoonify_s_d.pt")
    assert studio.fix.startswith("run `") and "train full` with the flags" in studio.fix
    assert "vtoonify.pt" in inked.problem and "--resume auto" in inked.fix and "engine train full" in inked.fix


def test_half_trained_styles_are_greyed_with_the_fix(make_window, engines, tmp_path, qtbot):
    (tmp_path / "models").mkdir()
    models = make_models(tmp_path / "models")
    engines.start("--models", str(models))
    window = make_window(engines.connection_file)
    window.connect_button.click()
    style = window.style_panel
    qtbot.waitUntil(lambda: style.family_combo.count() == 3, timeout=60_000)
    assert combo_items(style.family_combo) == [("cartoon", True), ("studio" + NOT_READY, False),
                                               ("inked" + NOT_READY, False)]
    tip = style.family_combo.itemData(1, Qt.ItemDataRole.ToolTipRole)
    assert "not vtoonify_s_d.pt" in tip and "\nFix: run `" in tip and "train full` with the flags" in tip
    note = style.not_ready_label
    assert not note.isHidden() and "inked" in note.text() and "--resume auto" in note.text()
    assert "the Resume policy" not in note.text()  # a shell command, not reworded for the panel

    style.backend_combo.setCurrentText("vtoonify")
    style.family_combo.setFocus()
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_End):  # greyed entries cannot be picked
        QTest.keyClick(style.family_combo, key)
    assert style.family_combo.currentText() == "cartoon" and style.values()["style"] == "cartoon"
