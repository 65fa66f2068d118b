"""Styles ``engine train`` has not finished are shown, greyed, with the missing file and the command that
writes it: an artist who trained a style sees why it is not offered instead of it being invisible.

A real engine serves a models folder laid out as ``engine train`` leaves it (file contents do not
matter to the inventory): ``studio`` stopped after ``engine train pretrain``, ``inked`` (VToonify-T)
stopped mid ``engine train full`` with a numbered save.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
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


def engine_venv(root, python=sys.executable):
    """Another interpreter path for the engine than the panel's: a venv (with a space in its path) whose
    python and lib are links to this one's, as a separate engine install would be."""
    venv = Path(sys.prefix)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(python)
    (root / "lib").symlink_to(venv / "lib")
    shutil.copy(venv / "pyvenv.cfg", root / "pyvenv.cfg")
    return str(root / "bin" / "python")


def test_the_reply_carries_the_half_trained_families_with_problem_and_fix(tmp_path):
    reply = capabilities(str(make_models(tmp_path)))
    families = reply["models"]["families"]
    assert all(("problem" in f) == (not f["usable"]) for f in families)  # e.g. official arcane: fetch it
    sent = {f["style"]: (f["problem"], f["fix"]) for f in families if f["training_files"]}
    assert set(sent) == {"studio", "inked"}
    caps = parse_capabilities(reply)
    assert {f.name: (f.problem, f.fix) for f in caps.not_ready} == sent  # the panel shows what the engine said
    for family in reply["models"]["families"]:  # an older engine sends no problem/fix: made here instead
        family.pop("problem", None), family.pop("fix", None)
    assert {f.name: (f.problem, f.fix) for f in parse_capabilities(reply).not_ready} == sent
    assert caps.family_names == ("cartoon",)
    studio, inked = caps.not_ready
    assert (studio.name, studio.backbone, inked.name, inked.backbone) == \
        ("studio", "dualstylegan", "inked", "toonify")
    assert "wrote only pretrain.pt" in studio.problem and studio.problem.endswith("not vtoonify_s_d.pt")
    assert studio.fix.startswith("run `") and "train full` with the flags" in studio.fix
    assert "vtoonify.pt" in inked.problem and "--resume auto" in inked.fix and "engine train full" in inked.fix


@pytest.mark.skipif(os.name == "nt" or sys.prefix == sys.base_prefix, reason="links a POSIX venv")
def test_half_trained_styles_are_greyed_with_the_fix(make_window, engines, tmp_path, qtbot):
    """The engine runs from another interpreter path than the panel: the fix names the engine's."""
    (tmp_path / "models").mkdir()
    models = make_models(tmp_path / "models")
    python = engine_venv(tmp_path / "engine venv")
    engines.start("--models", str(models), python_exe=python)
    window = make_window(engines.connection_file)
    window.connect_button.click()
    style = window.style_panel
    qtbot.waitUntil(lambda: style.family_combo.count() == 3, timeout=60_000)
    assert combo_items(style.family_combo) == [("cartoon", True), ("studio" + NOT_READY, False),
                                               ("inked" + NOT_READY, False)]
    tip = style.family_combo.itemData(1, Qt.ItemDataRole.ToolTipRole)
    assert "not vtoonify_s_d.pt" in tip and "\nFix: run `" in tip and "train full` with the flags" in tip
    assert f"run `{shlex.quote(python)} -m engine train full` with the flags" in tip, tip  # not the panel's
    note = style.not_ready_label
    assert not note.isHidden() and "inked" in note.text() and "--resume auto" in note.text()
    assert "the Resume policy" not in note.text()  # a shell command, not reworded for the panel

    style.backend_combo.setCurrentText("vtoonify")
    style.family_combo.setFocus()
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_End):  # greyed entries cannot be picked
        QTest.keyClick(style.family_combo, key)
    assert style.family_combo.currentText() == "cartoon" and style.values()["style"] == "cartoon"
