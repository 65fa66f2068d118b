"""The result strip shows what its source strip shows, frame for frame and pixel for pixel.

Every check compares Blender's own sequencer render of one timeline frame with only the source
strip visible against the same frame with only the result strip visible (classic backend, a real
engine). Registration is the phase correlation of their edges (``registration.py``) over the result's
opaque area and its four halves: under 0.25 source pixels everywhere and scale within 0.2 %.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")
np = pytest.importorskip("numpy")
from vse_scene import add_rate_adjusted_movie, all_strips, shown_scene, top_strips  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender, pytest.mark.slow]

HERE = Path(__file__).resolve().parent


def _load_registration():
    spec = importlib.util.spec_from_file_location("vtoonify_registration", HERE / "registration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.registration


registration = _load_registration()
ENGINE_PYTHON = Path(os.environ.get("VTOONIFY_ENGINE_PYTHON", HERE.parents[1] / ".venv" / "bin" / "python"))
LIMIT_PX = 0.25
"""Largest shift, in pixels of the source media (see ``assert_registered``)."""




@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


@pytest.fixture(scope="session")
def coded_clip(media_dir, tmp_path_factory) -> Path:
    """529_2.mp4 (15 fps, 29 frames) with each frame's index drawn as five bands across the top."""
    out = tmp_path_factory.mktemp("coded") / "coded15.mp4"
    proc = subprocess.run([str(ENGINE_PYTHON), str(HERE / "make_coded_clip.py"), str(media_dir / "529_2.mp4"),
                           str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture()
def vse(addon):
    """A fresh 1920x1080, 24 fps scene shown in the window (and as 5.0's sequencer scene)."""
    with shown_scene("vtoonify_registration", 1920, 1080, color_mode="RGBA", color_depth="16") as scene:
        yield scene


def render(scene, frame: int, show: set[str], path: Path) -> np.ndarray:
    """Blender's sequencer render of ``frame`` with only the strips named in ``show`` unmuted: [H, W, 4]."""
    strips = all_strips(scene.sequence_editor)
    saved = {s.name: s.mute for s in strips}
    for s in strips:
        s.mute = s.name not in show
    try:
        scene.frame_set(frame)
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
    finally:
        for s in all_strips(scene.sequence_editor):
            s.mute = saved.get(s.name, s.mute)
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return pixels.reshape(height, width, 4)[::-1]


def stylize(addon, scene, strip, connected, out: Path, fmt: str = "png"):
    module = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    return module.stylize_strip(scene, strip, {"backend": "classic", "format": fmt, "output": str(out)}, connected)


def assert_registered(scene, frame, source_names, result_names, tmp_path, zoom) -> dict:
    """Shift under 0.25 px of the source's own pixel grid (render px / zoom) over the whole opaque area
    (each half under 0.5), and scale within 0.2 %.

    Why source pixels: a toon stroke is no photo edge, so comparing the two resolves about a tenth of
    a source pixel, which at 3x zoom is 0.3 render px; at zoom 1 (the rate test) the whole-area
    shift measures 0.02 render px. Both strips are drawn by the same transform code with the same
    settings, so any true offset comes from the engine's plate (tests/pipeline: under 0.1 px)."""
    src = render(scene, frame, set(source_names), tmp_path / f"source_{frame}.png")
    res = render(scene, frame, set(result_names), tmp_path / f"result_{frame}.png")
    assert (res[..., 3] > 0.99).sum() > 10000, "the result strip shows (almost) nothing"
    reg = registration(src, res, zoom=zoom)
    report = {k: (round(v[0], 3), round(v[1], 3)) if isinstance(v, tuple) else round(float(v), 5)
              for k, v in reg.items()}
    print(f"registration ({bpy.app.version_string}, zoom {zoom:.2f}, render px): {report}")
    limit = LIMIT_PX * max(1.0, zoom)
    dx, dy, _peak = reg["all"]
    assert max(abs(dx), abs(dy)) < limit, f"result is ({dx:.3f}, {dy:.3f}) render px off: {report}"
    for part in ("left", "right", "top", "bottom"):  # less detail each: a looser bound, the scale is the test
        dx, dy, _peak = reg[part]
        assert max(abs(dx), abs(dy)) < 2 * limit, f"{part}: result is ({dx:.3f}, {dy:.3f}) render px off: {report}"
    assert abs(reg["scale_x"] - 1) < 0.002 and abs(reg["scale_y"] - 1) < 0.002, f"scale error: {report}"
    return reg


def test_default_fit_into_full_hd(addon, connected, vse, media_dir, tmp_path):
    """A clip added with the defaults (Fit) is scaled 3.07x into 1920x1080; the result must be too."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 27  # 2 frames: 1, 2
    assert source.transform.scale_x == pytest.approx(1080 / 352, abs=1e-3)
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    assert result.transform.scale_x == pytest.approx(source.transform.scale_x)
    assert_registered(vse, 2, {source.name}, {result.name}, tmp_path, zoom=source.transform.scale_x)


def test_offset_scale_rotation_crop_and_flip(addon, connected, vse, media_dir, tmp_path):
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 27
    t = source.transform
    t.offset_x, t.offset_y, t.scale_x, t.scale_y, t.rotation = 140.0, -60.0, 2.4, 2.1, 0.2
    t.origin = (0.4, 0.6)
    c = source.crop
    c.min_x, c.max_x, c.min_y, c.max_y = 12, 20, 8, 16
    source.use_flip_x = True
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    assert result.use_flip_x and tuple(result.transform.origin) == pytest.approx((0.4, 0.6))
    assert_registered(vse, 1, {source.name}, {result.name}, tmp_path, zoom=2.2)


def test_exr_result_lands_on_the_plate(addon, connected, vse, media_dir, tmp_path):
    """EXR frames are full frames (the sequencer ignores data windows and would centre the face box).
    Against the PNG result of the same frame (both toon pictures) the match is exact, not just close."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 28  # 1 frame
    exr = stylize(addon, vse, source, connected, tmp_path / "exr", fmt="exr")
    assert exr.elements[0].filename.endswith(".exr")
    zoom = source.transform.scale_x
    assert_registered(vse, 1, {source.name}, {exr.name}, tmp_path, zoom=zoom)
    png_source = top_strips(vse.sequence_editor).new_movie("plate_png", str(media_dir / "529_2.mp4"), 5, 1,
                                                     fit_method="FIT")
    png_source.frame_offset_end = 28
    png = stylize(addon, vse, png_source, connected, tmp_path / "png", fmt="png")
    reg = registration(render(vse, 1, {png.name}, tmp_path / "png.png"),
                       render(vse, 1, {exr.name}, tmp_path / "exr.png"), zoom=zoom)
    print(f"EXR vs PNG result ({bpy.app.version_string}): {reg['all']}")
    assert max(abs(reg["all"][0]), abs(reg["all"][1])) < LIMIT_PX, reg


def _codes(render_rgba: np.ndarray) -> int:
    """The frame index the five top bands of a 376x352 render spell (see make_coded_clip.py)."""
    return sum(1 << b for b in range(5) if render_rgba[20, b * 75 + 37, :3].mean() > 0.5)


def test_rate_adjusted_strip_matches_every_frame_blender_shows(addon, connected, vse, coded_clip, tmp_path):
    """24 fps scene, 15 fps clip added with "adjust playback rate": Blender shows media frames
    0,1,1,2,3,3,... (round half up); every timeline frame of the result must show the same frame."""
    vse.render.resolution_x, vse.render.resolution_y = 376, 352  # 1:1 with the clip: codes read in place
    source = add_rate_adjusted_movie(vse, coded_clip, 2, 1, fit_method="FIT")
    assert source.frame_final_end - source.frame_start == 46  # 29 frames stretched by 24/15
    source.frame_offset_start, source.frame_offset_end = 3, 22  # 21 visible frames: 4..24
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    frames = range(source.frame_final_start, source.frame_final_end)
    assert (result.frame_final_start, result.frame_final_end) == (frames.start, frames.stop)
    # descending: every source render seeks (5.0.1 can show the previous frame on a forward step)
    shown = {t: _codes(render(vse, t, {source.name}, tmp_path / "s.png")) for t in reversed(frames)}
    stylized = {t: _codes(render(vse, t, {result.name}, tmp_path / "r.png")) for t in frames}
    assert [stylized[t] for t in frames] == [shown[t] for t in frames]
    assert len(set(shown.values())) > 10  # the strip really moves through the clip
    assert_registered(vse, frames.start + 5, {source.name}, {result.name}, tmp_path, zoom=1.0)


def test_meta_strip_renders_its_cut_and_keeps_the_resulttop_strips(addon, connected, vse, media_dir, tmp_path):
    editor = vse.sequence_editor
    meta = top_strips(editor).new_meta("meta", 3, 101)
    inner = top_strips(meta).new_movie("plate", str(media_dir / "529_2.mp4"), 1, 101, fit_method="FIT")
    meta.frame_final_end = 108  # the meta shows 3 of the clip's 29 frames (end first: a new meta
    meta.frame_final_start = 105  # keeps its old length until a handle moves)
    meta.transform.offset_x, meta.transform.scale_x = 90.0, 0.8
    editor.active_strip = meta
    result = stylize(addon, vse, meta, connected, tmp_path / "out")
    assert result.parent_meta() == meta and result.channel > inner.channel
    assert (result.frame_final_start, result.frame_final_end) == (105, 108)
    assert [int(e.filename.split(".")[-2]) for e in result.elements] == [5, 6, 7]  # timeline 105 = media 4
    assert_registered(vse, 106, {meta.name, inner.name}, {meta.name, result.name}, tmp_path,
                      zoom=inner.transform.scale_x * 0.8)


def test_mattes_stack_on_their_result_which_still_registers(addon, connected, vse, media_dir, tmp_path):
    """EXR with mattes and Cryptomatte: the matte strips form one block right above the result, drawn
    with the result's placement, named after it; one click selects the group; the result registers."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 28  # 1 frame
    top_strips(vse.sequence_editor).new_movie("busy", str(media_dir / "529_2.mp4"), 4, 1)  # channel 4 is taken
    module = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "exr", "mattes": True, "cryptomatte": True,
                "output": str(tmp_path / "out")}
    crypto = bpy.app.version >= (4, 4, 0)  # 4.2/4.3 sequencers cannot show multilayer EXRs: refused up front
    if not crypto:
        with pytest.raises(module.StripError, match="cannot show multilayer EXRs"):
            module.stylize_strip(vse, source, settings, connected)
        settings["cryptomatte"] = False
    result = module.stylize_strip(vse, source, settings, connected)
    roles = {s.name: str(s.get("vtoonify_role", "")) for s in all_strips(vse.sequence_editor)}
    mattes = sorted((s for s in all_strips(vse.sequence_editor) if roles[s.name].startswith("matte_")),
                    key=lambda s: s.channel)
    assert len(mattes) >= 2
    assert result.channel == 5  # the lowest channel with a free block for the result and all its mattes
    assert [m.channel for m in mattes] == list(range(6, 6 + len(mattes)))
    assert all(m.name == f"{result.name}.{m['vtoonify_role']}" and m.mute for m in mattes)
    for matte in mattes:
        for group in ("transform", "crop"):
            for prop in getattr(result, group).bl_rna.properties:
                if prop.identifier != "rna_type":
                    mine, theirs = (getattr(getattr(s, group), prop.identifier) for s in (matte, result))
                    if getattr(prop, "is_array", False):
                        mine, theirs = tuple(mine), tuple(theirs)
                    assert mine == theirs, (matte.name, group, prop.identifier)
        assert (matte.frame_final_start, matte.frame_final_end) == (result.frame_final_start, result.frame_final_end)
    exr = Path(bpy.path.abspath(result.directory)) / result.elements[0].filename
    header = exr.read_bytes()[:65536]
    assert ("Cryptomatte" in result.get("vtoonify_label", "")) == crypto
    assert (b"cryptomatte/" in header and b"CryptoFace00" in header) == crypto
    vse.sequence_editor.active_strip = mattes[-1]
    assert bpy.ops.sequencer.vtoonify_select_result() == {"FINISHED"}
    assert {s.name for s in all_strips(vse.sequence_editor) if s.select} == {source.name, result.name} | {
        m.name for m in mattes}
    assert vse.sequence_editor.active_strip == result
    assert_registered(vse, 1, {source.name}, {result.name}, tmp_path, zoom=source.transform.scale_x)


def test_group_meta_holds_result_and_mattes_and_a_rerender_refills_it(addon, connected, vse, media_dir, tmp_path):
    """"Group in Meta Strip": the result and its mattes in one meta on the result's channel, cut to the
    result's frames; the group still registers on the source, and re-rendering (the group selected)
    refills the same meta with the new version instead of adding strips."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 28  # 1 frame
    module = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "png", "mattes": True, "group_meta": True,
                "output": str(tmp_path / "out")}
    result = module.stylize_strip(vse, source, settings, connected)
    metas = [s for s in top_strips(vse.sequence_editor) if s.type == "META"]
    assert len(metas) == 1 and metas[0].name == "plate.vtoonify.group"
    group = metas[0]
    inside = {s.name: s for s in top_strips(group)}
    assert result.parent_meta() == group and group.channel == 3
    assert len(inside) >= 3 and all(n == result.name or n.startswith(result.name + ".matte_") for n in inside)
    assert (group.frame_final_start, group.frame_final_end) == (result.frame_final_start, result.frame_final_end)
    assert_registered(vse, 1, {source.name}, {group.name, result.name}, tmp_path, zoom=source.transform.scale_x)
    vse.sequence_editor.active_strip = group  # the group stands for its result: Stylize re-renders it
    operators = __import__(addon.__name__ + ".operators", fromlist=["_source_of"])
    assert operators._source_of(vse, group).name == source.name
    again = module.stylize_strip(vse, source, settings, connected)
    assert again.name == result.name and again.parent_meta().name == group.name
    assert again.directory.rstrip("/").endswith("v002")
    assert [s.name for s in top_strips(vse.sequence_editor) if s.type == "META"] == [group.name]
    assert len(list(top_strips(group))) == len(inside)


def test_keyframed_placement_is_followed_on_every_frame(addon, connected, vse, media_dir, tmp_path):
    """A plate whose offset, scale and crop are keyframed (a push-in): the result takes the same
    animation, so it stays on the plate at frames other than the one it landed on."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 26  # 3 frames: 1..3
    t, c = source.transform, source.crop
    for frame, (x, scale, crop) in ((1, (0.0, 2.0, 0)), (3, (260.0, 2.6, 30))):
        t.offset_x, t.scale_x, t.scale_y, c.min_x = x, scale, scale, crop
        for prop in ("offset_x", "scale_x", "scale_y"):
            t.keyframe_insert(prop, frame=frame)
        c.keyframe_insert("min_x", frame=frame)
    vse.frame_set(1)  # it lands while the playhead shows the first key's placement
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    vse.frame_set(3)
    assert (result.transform.offset_x, result.transform.scale_x, result.crop.min_x) == pytest.approx((260.0, 2.6, 30))
    assert_registered(vse, 3, {source.name}, {result.name}, tmp_path, zoom=2.6)
    again = stylize(addon, vse, source, connected, tmp_path / "out")  # a re-render replaces the copies
    assert again == result
    module = __import__(addon.__name__ + ".compat", fromlist=["scene_fcurve_collections"])
    paths = [fc.data_path for curves in module.scene_fcurve_collections(vse) for fc in curves]
    assert sorted(p for p in paths if result.name in p) == sorted(
        p.replace(f'["{source.name}"]', f'["{result.name}"]') for p in paths if f'["{source.name}"]' in p)
    # a preview overlay takes the keys too, except its before | after split, which it sets itself
    lay = __import__(addon.__name__ + ".stylize", fromlist=["show_preview_strip"])
    frame_file = os.path.join(bpy.path.abspath(result.directory), result.elements[2].filename)
    overlay = lay.show_preview_strip(vse, source, frame_file, 3)
    vse.frame_set(3)
    assert overlay.transform.offset_x == pytest.approx(260.0) and overlay.crop.min_x == 30 + (376 - 30) // 2


def test_modifiers_and_drivers_on_the_placement_are_followed(addon, connected, vse, media_dir, tmp_path):
    """A handheld shake (Noise modifier on keyed offset X), a Generator drift on offset Y and on the
    crop, and a push-in driven by an expression on scale and saturation: the result takes them all,
    so it registers on the plate at a frame other than the one it landed on; an opacity fade on the
    plate is followed too."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 26  # 3 frames: 1..3
    t, c = source.transform, source.crop
    for frame, x in ((1, 0.0), (2, 60.0)):
        t.offset_x = x
        t.keyframe_insert("offset_x", frame=frame)
    t.keyframe_insert("offset_y", frame=1)
    c.min_x = 4
    c.keyframe_insert("min_x", frame=1)
    curves = [fc for group in addon.compat.scene_fcurve_collections(vse) for fc in group]
    by_path = {fc.data_path.rsplit(".", 2)[-2] + "." + fc.data_path.rsplit(".", 1)[-1]: fc for fc in curves}
    shake = by_path["transform.offset_x"].modifiers.new("NOISE")
    shake.scale, shake.strength, shake.phase = 1.3, 90.0, 4.0
    for path, slope in (("transform.offset_y", -35.0), ("crop.min_x", 6.0)):
        drift = by_path[path].modifiers.new("GENERATOR")
        drift.use_additive, drift.coefficients = True, (0.0, slope)
    for prop, expression in (("scale_x", "2.0 + 0.3 * frame"), ("scale_y", "2.0 + 0.3 * frame")):
        t.driver_add(prop).driver.expression = expression
    source.driver_add("color_saturation").driver.expression = "0.5 + 0.1 * frame"
    for frame, alpha in ((1, 1.0), (2, 0.4), (3, 1.0)):  # a dip: the result must fade with its plate
        source.blend_alpha = alpha
        source.keyframe_insert("blend_alpha", frame=frame)
    vse.frame_set(1)  # it lands while the playhead shows frame 1's placement
    result = stylize(addon, vse, source, connected, tmp_path / "out")

    def placement(strip):
        return (strip.transform.offset_x, strip.transform.offset_y, strip.transform.scale_x,
                strip.transform.scale_y, strip.crop.min_x, strip.color_saturation, strip.blend_alpha)

    landed = placement(source)
    vse.frame_set(2)
    assert (source.blend_alpha, result.blend_alpha) == pytest.approx((0.4, 0.4))
    vse.frame_set(3)
    assert placement(source) != pytest.approx(landed), "the animation should move the plate"
    assert placement(result) == pytest.approx(placement(source), abs=1e-4)
    assert_registered(vse, 3, {source.name}, {result.name}, tmp_path, zoom=source.transform.scale_x)
    again = stylize(addon, vse, source, connected, tmp_path / "out")  # a re-render replaces the copies
    drivers = [fc.data_path for fc in vse.animation_data.drivers if f'["{again.name}"]' in fc.data_path]
    assert sorted(drivers) == sorted(f'{again.path_from_id()}.{p}' for p in
                                     ("transform.scale_x", "transform.scale_y", "color_saturation"))
    result_curves = [fc for group in addon.compat.scene_fcurve_collections(vse) for fc in group
                     if f'["{again.name}"]' in fc.data_path]
    assert sorted(m.type for fc in result_curves for m in fc.modifiers) == ["GENERATOR", "GENERATOR", "NOISE"]


def test_placement_animated_in_nla_tracks_is_followed(addon, connected, vse, media_dir, tmp_path):
    """The plate's push-in lives in the scene's NLA, not in its active action: pushed down into one
    track, with a second track on top adding a drift on offset Y from a strip moved later in time.
    The result takes the same keys into the same NLA actions, so the NLA's timing and blending move
    it exactly as the plate, and it registers on frames other than the one it landed on."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 25  # 4 frames: 1..4
    t = source.transform
    for frame, (x, scale) in ((1, (0.0, 2.0)), (4, (240.0, 2.6))):
        t.offset_x, t.scale_x, t.scale_y = x, scale, scale
        for prop in ("offset_x", "scale_x", "scale_y"):
            t.keyframe_insert(prop, frame=frame)
    animation = vse.animation_data
    animation.nla_tracks.new().strips.new("push-in", 1, animation.action)
    animation.action = None  # Push Down: the keys now play from the NLA only
    for frame, y in ((1, 0.0), (3, -90.0)):
        t.offset_y = y
        t.keyframe_insert("offset_y", frame=frame)
    drift = animation.nla_tracks.new().strips.new("drift", 1, animation.action)
    animation.action = None
    drift.blend_type, drift.frame_start_ui = "ADD", 2  # plays over frames 2..4, added to the track below
    t.offset_x, t.offset_y, t.scale_x, t.scale_y = 999.0, 999.0, 9.0, 9.0  # static values the NLA overrides

    def placement(strip):
        return (strip.transform.offset_x, strip.transform.offset_y, strip.transform.scale_x, strip.transform.scale_y)

    vse.frame_set(1)  # it lands while the playhead shows frame 1's placement
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    seen = []
    for frame in (1, 2, 3, 4):
        vse.frame_set(frame)
        seen.append(placement(source))
        assert placement(result) == pytest.approx(placement(source), abs=1e-4), frame
    assert len(set(seen)) == 4 and seen[2][1] == pytest.approx(-45.0), seen  # the drift plays from frame 2
    assert addon.stylize.placement_drift_warning(vse, result) is None  # the panel sees it on its plate
    for frame in (2, 4):
        vse.frame_set(frame)
        assert_registered(vse, frame, {source.name}, {result.name}, tmp_path, zoom=source.transform.scale_x)
    again = stylize(addon, vse, source, connected, tmp_path / "out")  # a re-render replaces the copies
    curves = [fc.data_path for group in addon.compat.scene_fcurve_collections(vse) for fc in group]
    assert animation.action is None and len(curves) == 2 * 4
    assert sorted(p for p in curves if f'["{again.name}"]' in p) == sorted(
        p.replace(f'["{source.name}"]', f'["{again.name}"]') for p in curves if f'["{source.name}"]' in p)


def test_a_plate_repositioned_after_landing_is_told_and_matched_without_a_render(addon, connected, vse, media_dir,
                                                                                  tmp_path):
    """The artist reframes the plate after its result landed (scale, crop, a key of its push moved):
    the result no longer follows, the panel says so, and Match Placement puts it back on the plate,
    animation included, without a new render (no new version folder)."""
    source = top_strips(vse.sequence_editor).new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1, fit_method="FIT")
    source.frame_offset_end = 26  # 3 frames: 1..3
    source.transform.offset_x = 0.0
    source.transform.keyframe_insert("offset_x", frame=1)
    source.transform.offset_x = 120.0
    source.transform.keyframe_insert("offset_x", frame=3)
    vse.frame_set(1)
    result = stylize(addon, vse, source, connected, tmp_path / "out")
    module = __import__(addon.__name__ + ".stylize", fromlist=["placement_drift_warning"])
    assert module.placement_drift_warning(vse, result) is None
    source.transform.scale_x = source.transform.scale_y = 2.5
    source.crop.min_y = 24
    key = next(fc for curves in addon.compat.scene_fcurve_collections(vse) for fc in curves
               if fc.data_path == f"{source.path_from_id()}.transform.offset_x").keyframe_points[1]
    key.co.y = key.handle_left.y = key.handle_right.y = -150.0  # the push now goes left
    problem, fix = module.placement_drift_warning(vse, result)
    assert problem == ("Off its plate: the position/scale/rotation, crop, placement animation of source strip "
                       "'plate' no longer match this result's (changed after it landed), so the two no longer "
                       "line up")
    assert fix.startswith("press Match Placement in the VToonify panel")
    vse.sequence_editor.active_strip = result
    assert bpy.ops.sequencer.vtoonify_match_placement() == {"FINISHED"}
    assert module.placement_drift_warning(vse, result) is None
    assert sorted(p.name for p in (tmp_path / "out" / "plate").iterdir()) == ["v001"]
    vse.frame_set(3)
    assert result.transform.offset_x == pytest.approx(-150.0)
    assert_registered(vse, 3, {source.name}, {result.name}, tmp_path, zoom=2.5)
