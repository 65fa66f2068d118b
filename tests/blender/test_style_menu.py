"""The Style menu in real Blender: a style the studio trained (``vtoonify_d_mystyle`` /
``vtoonify_t_mystyle`` in the engine's models folder) is listed once the real engine's capabilities
are known, a render request sends it, and a chosen style the engine lacks stays chosen, marked."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
from checking_layout import CheckingLayout  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender]
N_EXEMPLARS = 4
ADDON_MODULE = "bl_ext.user_default.vtoonify"  # as in conftest.py
REPO = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", REPO / ".venv" / "bin" / "python"))


def _write_trained_style(root) -> None:
    """What ``engine train --name mystyle`` leaves (D and T), plus the shared encoder and parser;
    file contents do not matter to the engine's inventory, the exemplar codes are a real .npy."""
    for name in ("encoder.pt", "faceparsing.pth"):
        (root / name).write_bytes(b"x")
    d_folder, t_folder = root / "vtoonify_d_mystyle", root / "vtoonify_t_mystyle"
    d_folder.mkdir()
    t_folder.mkdir()
    (d_folder / "vtoonify_s_d.pt").write_bytes(b"x")
    codes = {f"mine_{i:03d}.png": np.zeros((1, 18, 8), np.float32) for i in range(N_EXEMPLARS)}
    np.save(d_folder / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    (t_folder / "vtoonify.pt").write_bytes(b"x")


@pytest.fixture(scope="module")
def trained_engine(client_api, tmp_path_factory):
    """A real engine whose models folder holds only the trained style: yields its connection file."""
    root = tmp_path_factory.mktemp("models")
    _write_trained_style(root)
    state = tmp_path_factory.mktemp("trained-engine")
    conn = state / "engine.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_STATE_DIR=str(state / "state"))
    env.pop("BLENDER_USER_RESOURCES", None)
    proc, _info = client_api.start_engine(str(ENGINE_PYTHON), args=("--device", "cpu", "--models", str(root)),
                                          connection_file=str(conn), env=env, timeout_s=120)
    yield conn
    importlib.import_module(ADDON_MODULE + ".engine_client.client").stop_engine(proc)


def _menu(settings) -> dict[str, tuple[str, str]]:
    """identifier -> (label, description) of the Style menu as Blender draws it."""
    props = importlib.import_module(ADDON_MODULE + ".props")
    names = [item[0] for item in props._style_items_callback(settings, bpy.context)]
    return {n: (bpy.types.UILayout.enum_item_name(settings, "style", n),
                bpy.types.UILayout.enum_item_description(settings, "style", n)) for n in names}


def test_trained_style_is_listed_and_rendered(prefs, trained_engine, trimmed_scene, tmp_path, client_api):
    engines = importlib.import_module(ADDON_MODULE + ".engines")
    scene, _source = trimmed_scene
    settings = scene.vtoonify
    engines.remember_status(None)
    try:
        assert "mystyle" not in _menu(settings)                       # no engine asked: the catalog
        with pytest.raises(TypeError):
            settings.style = "mystyle"
        prefs.connection_file, prefs.auto_start = str(trained_engine), False
        prefs.output_dir, prefs.output_format, prefs.mattes = str(tmp_path / "renders"), "png", False
        assert bpy.ops.sequencer.vtoonify_engine_refresh() == {"FINISHED"}
        assert engines.last_status().running, bpy.context.window_manager.vtoonify_status
        menu = _menu(settings)
        assert list(menu).count("mystyle") == 1
        label, description = menu["mystyle"]
        assert label == "Mystyle"
        assert f"VToonify-D ({N_EXEMPLARS} exemplar style ids)" in description and "VToonify-T" in description
        settings.style, settings.backend = "mystyle", "classic"
        assert settings.style == "mystyle"
        settings.faces, settings.max_faces, settings.follow_faces = "all", 2, True
        assert bpy.ops.sequencer.vtoonify_stylize("EXEC_DEFAULT") == {"FINISHED"}, \
            bpy.context.window_manager.vtoonify_status
        editor = scene.sequence_editor
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        result = next(s for s in strips if s.get("vtoonify_role") == "result")
        assert json.loads(result["vtoonify_job"])["style"] == "mystyle"
        # what the engine itself received
        client = client_api.EngineClient.connect(client_api.read_connection_file(str(trained_engine)), timeout_s=10)
        try:
            jobs = client.jobs()
        finally:
            client.close()
        sent = [j["settings"] for j in jobs if str(j["settings"].get("output", "")).startswith(str(tmp_path))]
        assert sent and all(s["style"] == "mystyle" for s in sent), jobs
        # the Faces options as the engine took them (its job's RenderConfig, read back)
        assert all((s["faces"], s["max_faces"], s["follow_faces"]) == ("all", 2, True) for s in sent), sent

        # an engine without it: the choice stays, shown as not installed, and is still what is sent
        status_mod = importlib.import_module(ADDON_MODULE + ".core.engine_status")
        engines.remember_status(status_mod.status_from_capabilities(
            {"engine_version": "0", "backends": ["auto", "classic", "vtoonify"],
             "styles": [{"style": "cartoon", "backbone": "dualstylegan", "style_ids": ["a.jpg"]}]}))
        assert settings.style == "mystyle"
        menu = _menu(settings)
        assert list(menu) == ["cartoon", "mystyle"] and menu["mystyle"][0] == "mystyle (not installed)"
        operators = importlib.import_module(ADDON_MODULE + ".operators")
        assert operators.job_options(bpy.context, scene, _source).style == "mystyle"
    finally:
        engines.remember_status(None)
        settings.style_name, settings.faces, settings.follow_faces = "cartoon", "one", False


def test_half_trained_style_is_marked_not_ready_and_refused(prefs, trimmed_scene):
    """A family ``engine train`` left half done (the engine's ``models`` inventory with problem and fix):
    listed "(not ready)", its tooltip and Stylize's greyed-out reason in an artist's words (no shell
    command), the engine's problem and fix said under Style for whoever trains the styles."""
    engines = importlib.import_module(ADDON_MODULE + ".engines")
    status_mod = importlib.import_module(ADDON_MODULE + ".core.engine_status")
    scene, _source = trimmed_scene
    settings = scene.vtoonify
    problem = "style 'studio' (dualstylegan) cannot render: `engine train` wrote only pretrain.pt"
    fix = "run `/opt/vt/bin/python -m engine train full --name studio`"
    engines.remember_status(status_mod.status_from_capabilities(
        {"engine_version": "0", "backends": ["auto", "classic", "vtoonify"],
         "styles": [{"style": "cartoon", "backbone": "dualstylegan", "style_ids": ["a.jpg"]}],
         "models": {"families": [{"style": "studio", "backbone": "dualstylegan", "usable": False,
                                  "training_files": ["pretrain.pt"], "problem": problem, "fix": fix}]}}))
    prefs.auto_start, prefs.connection_file = True, ""
    try:
        menu = _menu(settings)
        assert list(menu) == ["cartoon", "studio"]
        label, description = menu["studio"]
        assert label == "Studio (not ready)" and "training" in description and "`" not in description
        assert bpy.ops.sequencer.vtoonify_stylize.poll()  # cartoon renders
        settings.style = "studio"
        assert settings.style_name == "studio"
        log: list = []
        layout = CheckingLayout(log)
        bpy.types.VTOON_PT_stylize.draw(SimpleNamespace(layout=layout), bpy.context)
        said = " ".join(text for kind, text in log if kind == "label")
        assert "for whoever trains your styles): " + problem.split(":")[0] in said and "train full" in said
        assert not bpy.ops.sequencer.vtoonify_stylize.poll()
        with pytest.raises(RuntimeError, match="not ready") as refused:
            bpy.ops.sequencer.vtoonify_stylize()
        assert "Backend Classic" in str(refused.value) and "`" not in str(refused.value), str(refused.value)
        settings.backend = "classic"  # the classic look needs no model: allowed
        assert bpy.ops.sequencer.vtoonify_stylize.poll()
    finally:
        engines.remember_status(None)
        settings.style_name, settings.backend = "cartoon", "auto"
