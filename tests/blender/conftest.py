"""Fixtures for tests that run inside Blender's Python module (bpy), in the bpy venv.

Run: ``.venv-blender/bin/python -m pytest tests/blender``. Blender's user folders point at a temp
dir before bpy is imported, so installing the extension never touches ~/.config.
"""

from __future__ import annotations

import importlib
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_USER_RESOURCES = tempfile.mkdtemp(prefix="vtoonify-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES  # read once, when bpy is first imported
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", REPO / ".venv" / "bin" / "python"))
ADDON_MODULE = "bl_ext.user_default.vtoonify"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared helper modules beside the tests (vse_scene)
SKIP_REASON = "bpy is not installed: create .venv-blender (pip install bpy==5.0.1 pytest pytest-timeout)"


@pytest.fixture(scope="session")
def bpy_module():
    bpy = pytest.importorskip("bpy", reason=SKIP_REASON)
    # Add > Movie (sequencer.movie_strip_add) with proxy setup "Automatic", Blender's default, queues a
    # proxy-build job. bpy as a module runs no event loop, so that job waits until exit, where Blender
    # ends it on a scene a test has since removed: a use after free that segfaulted the process after
    # the last test (gdb: WM_jobs_kill_all -> proxy_endjob -> relations_free_imbuf, 4.2.23 and 5.0.1).
    bpy.context.preferences.system.sequencer_proxy_setup = "MANUAL"
    return bpy


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory, bpy_module) -> Path:
    """The extension zip built by scripts/build_addon.py with this (bpy) interpreter."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = sorted(out.glob("vtoonify-*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


@pytest.fixture(scope="session")
def addon(bpy_module, addon_zip):
    """Install + enable the built zip into the temp user repo; yields the add-on's module."""
    bpy = bpy_module
    result = bpy.ops.extensions.package_install_files(filepath=str(addon_zip), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    assert ADDON_MODULE in bpy.context.preferences.addons
    return importlib.import_module(ADDON_MODULE)


@pytest.fixture(scope="session")
def client_api(addon):
    """The engine client API as the add-on sees it (the copies inside the installed zip)."""
    return importlib.import_module(ADDON_MODULE + ".engine_client").load()


@pytest.fixture(scope="session")
def engine(client_api, tmp_path_factory):
    """A real engine process (main venv's Python): yields its connection file path."""
    if not ENGINE_PYTHON.is_file():
        pytest.fail(f"engine Python {ENGINE_PYTHON} missing: create the main .venv or set VTOONIFY_ENGINE_PYTHON")
    state = tmp_path_factory.mktemp("engine")
    conn = state / "engine.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), VTOONIFY_STATE_DIR=str(state / "state"))
    env.pop("BLENDER_USER_RESOURCES", None)
    proc, _info = client_api.start_engine(str(ENGINE_PYTHON), args=("--device", "cpu"), connection_file=str(conn),
                                          env=env, timeout_s=120)
    yield conn
    client_module = importlib.import_module(ADDON_MODULE + ".engine_client.client")
    client_module.stop_engine(proc)


@pytest.fixture()
def prefs(bpy_module, addon):
    p = bpy_module.context.preferences.addons[ADDON_MODULE].preferences
    saved = {k: getattr(p, k) for k in ("engine_python", "engine_root", "connection_file", "auto_start",
                                        "output_dir", "output_format", "mattes", "engine_args")}
    yield p
    # fetched again: a test that disables and re-enables the add-on frees the old preferences struct
    p = bpy_module.context.preferences.addons[ADDON_MODULE].preferences
    for k, v in saved.items():
        setattr(p, k, v)


@pytest.fixture()
def engine_prefs(prefs, engine, tmp_path):
    """Preferences joined to the session's running engine: no auto-start, PNG into tmp, no mattes."""
    prefs.connection_file = str(engine)
    prefs.auto_start = False
    prefs.output_dir = str(tmp_path / "renders")
    prefs.output_format = "png"
    prefs.mattes = False
    return prefs


@pytest.fixture()
def unsaved_after(bpy_module):
    """Back to an unsaved startup file afterwards: later tests expect no .blend path (preferences stay)."""
    yield
    bpy_module.ops.wm.read_homefile()


@pytest.fixture()
def trimmed_scene(bpy_module, addon, media_dir):
    """Fresh scene: 529_2.mp4 (29 frames) at frame 101 on channel 2, 3 head + 5 tail frames trimmed."""
    bpy = bpy_module
    scene = bpy.data.scenes.new("vtoonify_test")
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strip = strips.new_movie("plate", str(media_dir / "529_2.mp4"), 2, 101)
    strip.frame_offset_start = 3
    strip.frame_offset_end = 5
    editor.active_strip = strip
    window = bpy.context.window_manager.windows[0]
    previous_name, scene_name = window.scene.name, scene.name
    window.scene = scene  # operators read context.scene
    yield scene, strip
    # by name: an undo in the test reloads the scenes, so the Python references above may be stale
    window = bpy.context.window_manager.windows[0]
    previous = bpy.data.scenes.get(previous_name)
    if previous is not None:
        window.scene = previous
    if bpy.data.scenes.get(scene_name) is not None:
        bpy.data.scenes.remove(bpy.data.scenes[scene_name])



def read_png_text(path) -> dict[str, str]:
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, out = 8, {}
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            out[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _tkey, _, text = rest.partition(b"\0")
            out[key.decode("utf-8")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        pos += 12 + length
    return out


@pytest.fixture(scope="session")
def png_text():
    """Reader of PNG text chunks (the engine stores ``vtoonify/frame`` there)."""
    return read_png_text


@pytest.fixture()
def esc_events(bpy_module):
    """(Esc over a Sequencer area, Esc over the 3D viewport) of the real window: its bottom area is
    turned into a Sequencer for the test (restored after). The events carry window coordinates, as
    Blender's do."""
    from types import SimpleNamespace

    screen = bpy_module.context.window.screen
    bottom = min(screen.areas, key=lambda a: a.y)
    kind = bottom.type
    bottom.type = "SEQUENCE_EDITOR"
    seq = bottom
    view = next(a for a in screen.areas if a.type == "VIEW_3D")

    def esc(area):
        return SimpleNamespace(type="ESC", value="PRESS", mouse_x=area.x + area.width // 2,
                               mouse_y=area.y + area.height // 2)

    try:
        yield esc(seq), esc(view)
    finally:
        bottom.type = kind
