"""Stylize a trimmed movie strip against a REAL engine process (classic backend)."""

from __future__ import annotations

import os
import re
import tempfile

import pytest

bpy = pytest.importorskip("bpy", reason="bpy is not installed: create .venv-blender (see tests/blender/conftest.py)")

pytestmark = [pytest.mark.timeout(300), pytest.mark.blender, pytest.mark.slow]


def _strips(scene):
    editor = scene.sequence_editor
    return list(editor.strips if hasattr(editor, "strips") else editor.sequences)


def _frame_number(filename: str) -> int:
    return int(re.search(r"(\d+)\D*$", filename).group(1))


@pytest.fixture()
def connected(client_api, engine):
    client = client_api.EngineClient.connect(client_api.read_connection_file(str(engine)), timeout_s=10)
    yield client
    client.close()


def test_result_strip_lines_up_with_trimmed_source(addon, connected, trimmed_scene, tmp_path, png_text):
    scene, source = trimmed_scene
    assert (source.frame_final_start, source.frame_final_end) == (104, 125)
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    events = []
    result = stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "output": str(tmp_path)},
                                   connected, progress=lambda t: events.append(t.done_frames))
    assert result.type == "IMAGE" and result.channel == source.channel + 1
    assert (result.frame_final_start, result.frame_final_end) == (source.frame_final_start, source.frame_final_end)
    # timeline frame 104 shows media frame 3 (0-based) = engine frame 4 (movie frames start at 1)
    names = [e.filename for e in result.elements]
    assert [_frame_number(n) for n in names] == list(range(4, 25))
    directory = bpy.path.abspath(result.directory)
    for k in (0, 10, 20):
        meta = png_text(os.path.join(directory, names[k]))
        assert int(meta["vtoonify/frame"]) == 4 + k
        assert meta["vtoonify/backend"] == "classic"
    # the strip shows the file for the current frame, and remembers its job for re-render
    assert os.path.basename(result.strip_elem_from_frame(110).filename) == names[6]
    assert '"frames": "4-24"' in result["vtoonify_job"] and result["vtoonify_source"] == source.name
    assert events and max(events) <= 21
    assert len(_strips(scene)) == 2


def test_rerender_updates_result_in_place(addon, connected, trimmed_scene, tmp_path):
    """A re-render keeps the artist's edits on the result strip: name, channel, opacity, blend mode,
    modifiers; only its frames (and its placement over the source) change."""
    scene, source = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    source.frame_offset_end = 20  # 6 frames: 104..109
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path)}
    first = stylize.stylize_strip(scene, source, settings, connected)
    first.channel, first.name, first.blend_type, first.blend_alpha = 5, "toon look", "ADD", 0.6
    with_modifier = bpy.app.version < (5, 0, 0)  # bpy 5.0.1 segfaults in modifiers.new() without a UI
    if with_modifier:
        first.modifiers.new(name="grade", type="COLOR_BALANCE")
    source.frame_offset_end = 18  # the source's cut changed: 8 frames now
    second = stylize.stylize_strip(scene, source, dict(settings, degree=0.9), connected)
    assert second.name == "toon look" and second.channel == 5
    assert (second.blend_type, round(second.blend_alpha, 3)) == ("ADD", 0.6)
    assert [m.name for m in second.modifiers] == (["grade"] if with_modifier else [])
    assert (second.frame_final_start, second.frame_final_end) == (104, 112)
    assert [int(e.filename.split(".")[-2]) for e in second.elements] == list(range(4, 12))
    assert bpy.path.abspath(second.directory).rstrip("/").endswith("v002")
    assert len(_strips(scene)) == 2
    assert '"degree": 0.9' in second["vtoonify_job"]


def test_cancel_leaves_timeline_and_folder_clean(addon, client_api, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    out = tmp_path / "out"
    calls = []

    def stop_after_first_frame(tracker):
        calls.append(tracker.done_frames)
        return not tracker.written

    before = [(s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in _strips(scene)]
    with pytest.raises(client_api.JobCancelled):
        stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "output": str(out)},
                              connected, progress=stop_after_first_frame)
    assert [(s.name, s.channel, s.frame_final_start, s.frame_final_end) for s in _strips(scene)] == before
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == []


def test_preview_renders_the_source_frame_under_the_playhead(prefs, engine, trimmed_scene, tmp_path):
    scene, _source = trimmed_scene
    prefs.connection_file = str(engine)
    prefs.auto_start = False
    prefs.output_dir = str(tmp_path / "out")
    prefs.output_format = "png"
    scene.vtoonify.backend = "classic"
    scene.frame_current = 110  # timeline 110 = media index 9 = engine frame 10
    assert bpy.ops.sequencer.vtoonify_preview() == {"FINISHED"}
    status = bpy.context.window_manager.vtoonify_status
    assert "source frame 10" in status
    image = next(img for img in bpy.data.images if img.name in status)
    assert tuple(image.size) == (376, 352)  # plate-sized composite of the 376x352 clip
    overlay = [s for s in _strips(scene) if s.get("vtoonify_role") == "preview"]
    assert len(overlay) == 1 and (overlay[0].frame_final_start, overlay[0].frame_final_end) == (110, 111)
    assert overlay[0].crop.min_x == 376 // 2 and overlay[0].channel > _source.channel  # before | after
    assert bpy.ops.sequencer.vtoonify_preview() == {"FINISHED"}  # again: the overlay is replaced
    assert len([s for s in _strips(scene) if s.get("vtoonify_role") == "preview"]) == 1
    scene.frame_current = 130  # past the trimmed end
    with pytest.raises(RuntimeError, match=r"The playhead \(frame 130\) is not on strip 'plate' \(frames 104-124\)"):
        bpy.ops.sequencer.vtoonify_preview()


def _preview_request(addon, reports: list):
    """The preview operator's ``_request`` on a stand-in ``self``: (api, request, engine call)."""
    import functools
    from types import SimpleNamespace

    op = addon.operators.VTOON_OT_preview
    fake = SimpleNamespace(_preview=op._preview, report=lambda kind, message: reports.append((set(kind), message)))
    for name in ("_request", "_prepare", "_connector", "_fail"):
        setattr(fake, name, functools.partial(getattr(op, name), fake))
    request = fake._request(bpy.context)
    assert not isinstance(request, set), reports
    return request


def test_a_preview_lands_over_its_source_frame_after_the_strip_moved_or_went(addon, prefs, engine,
                                                                            trimmed_scene, tmp_path):
    """The artist drags the strip (or deletes it) while the engine renders the preview."""
    scene, source = trimmed_scene
    prefs.connection_file, prefs.auto_start = str(engine), False
    prefs.output_dir, prefs.output_format = str(tmp_path / "out"), "png"
    scene.vtoonify.backend = "classic"
    scene.frame_current = 110  # engine frame 10
    _api, request, call = _preview_request(addon, [])
    reply = call()
    source.frame_start += 37  # moved meanwhile: engine frame 10 now shows at timeline 147
    message = addon.operators._show_preview(reply, request)
    overlay, = [s for s in _strips(scene) if s.get("vtoonify_role") == "preview"]
    assert (overlay.frame_final_start, overlay.frame_final_end) == (147, 148), message
    assert overlay.channel > source.channel and "the preview follows it (timeline frame 147)" in message
    source.frame_offset_start += 4  # 4 more head frames trimmed: frame 10 still shows, still at 147
    assert "(timeline frame 147)" in addon.operators._show_preview(reply, request)
    source.frame_offset_start += 5  # trimmed past it: no overlay, the status says so
    assert "no longer shows source frame 10" in addon.operators._show_preview(reply, request)
    scene.frame_current = 150
    _api, request, call = _preview_request(addon, [])
    reply = call()
    _strips_of = scene.sequence_editor.strips if hasattr(scene.sequence_editor, "strips") else \
        scene.sequence_editor.sequences
    _strips_of.remove(source)  # deleted meanwhile: no overlay, and the status says why and what to do
    message = addon.operators._show_preview(reply, request)
    assert [s for s in _strips(scene) if s.get("vtoonify_role") == "preview"] == [] or \
        all(s.frame_final_start != 150 for s in _strips(scene) if s.get("vtoonify_role") == "preview")
    problem, fix = message.split("\n")
    assert "strip 'plate' was deleted while its preview rendered" in problem and fix.startswith("Fix: undo")


def test_mattes_become_muted_strips_above_the_result(addon, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    source.frame_offset_end = 23  # 3 frames: 104..106
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    result = stylize.stylize_strip(scene, source, {"backend": "classic", "format": "png", "mattes": True,
                                                   "output": str(tmp_path)}, connected)
    mattes = [s for s in _strips(scene) if str(s.get("vtoonify_role", "")).startswith("matte_")]
    assert mattes, "the classic backend gives at least one matte"
    assert all(m.mute and m.type == "IMAGE" and not m.select for m in mattes)  # muted, not selected
    assert sorted(m.channel for m in mattes) == list(range(result.channel + 1, result.channel + 1 + len(mattes)))
    for m in mattes:
        assert (m.frame_final_start, m.frame_final_end) == (104, 107)
        assert [_frame_number(e.filename) for e in m.elements] == [4, 5, 6]
        assert os.path.isfile(os.path.join(bpy.path.abspath(m.directory), m.elements[0].filename))


def test_modal_ticks_never_block_and_finish_the_job(addon, client_api, connected, trimmed_scene, tmp_path):
    """What the modal operator does on each timer event, driven by hand (no event loop in bpy)."""
    import time

    scene, source = trimmed_scene
    source.frame_offset_end = 24  # 2 frames: 104, 105
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["PolledJob"])
    options = __import__(addon.__name__ + ".core.job_settings", fromlist=["x"]).StylizeOptions(
        backend="classic", format="exr")
    prepared = stylize.prepare_job(scene, source, options, str(tmp_path))
    job = stylize.PolledJob(connected, client_api, prepared.settings)
    slowest, deadline = 0.0, time.monotonic() + 120
    while not job.tracker.finished and time.monotonic() < deadline:
        t0 = time.monotonic()
        job.tick()
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.05)
    assert job.tracker.state == "done", job.tracker.error
    assert slowest < 0.25, f"a timer tick blocked for {slowest:.2f}s"
    result = stylize.finish_job(scene, source, prepared, job.tracker, client_api)
    assert (result.frame_final_start, result.frame_final_end) == (104, 106)
    assert [e.filename for e in result.elements] == ["plate.0004.exr", "plate.0005.exr"]
    image = bpy.data.images.load(os.path.join(bpy.path.abspath(result.directory), "plate.0004.exr"))
    assert tuple(image.size) == (376, 352) and image.is_float  # Blender reads the engine's EXR


def test_cancelled_rerender_keeps_the_previous_result_and_its_files(addon, client_api, connected, trimmed_scene,
                                                                   tmp_path):
    scene, source = trimmed_scene
    source.frame_offset_end = 22  # 4 frames: 104..107
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path)}
    first = stylize.stylize_strip(scene, source, settings, connected)
    first_channel = first.channel
    v1 = tmp_path / "plate" / "v001"
    assert os.path.normpath(bpy.path.abspath(first.directory)) == str(v1)
    files_v1 = {p.name: p.read_bytes() for p in v1.iterdir()}
    assert sorted(n for n in files_v1 if n.endswith(".png")) == [f"plate.{n:04d}.png" for n in range(4, 8)]

    def stop_after_first_frame(tracker):
        return not tracker.written

    source.frame_offset_end = 5  # 21 frames: long enough to still be running when cancelled
    with pytest.raises(client_api.JobCancelled):
        stylize.stylize_strip(scene, source, dict(settings, degree=0.9), connected, progress=stop_after_first_frame)
    source.frame_offset_end = 22
    result = next(s for s in _strips(scene) if s.get("vtoonify_role") == "result")
    assert os.path.normpath(bpy.path.abspath(result.directory)) == str(v1)
    assert '"degree": 0.5' in result["vtoonify_job"]
    assert {p.name: p.read_bytes() for p in v1.iterdir()} == files_v1  # untouched
    assert not (tmp_path / "plate" / "v002").exists()  # the cancelled job's folder is gone

    second = stylize.stylize_strip(scene, source, dict(settings, degree=0.9), connected)
    assert second.get("vtoonify_role") == "result" and second.channel == first_channel
    assert os.path.normpath(bpy.path.abspath(second.directory)) == str(tmp_path / "plate" / "v002")
    assert len(_strips(scene)) == 2
    assert {p.name: p.read_bytes() for p in v1.iterdir()} == files_v1  # older versions stay on disk


def test_dropped_modal_handler_cancels_the_job_and_cleans_up(addon, client_api, engine, trimmed_scene, tmp_path):
    """What Blender does when it drops a running modal operator (window closed, file loaded): it
    calls ``cancel(context)``. Driven on a stand-in ``self`` (operators cannot be built from Python)."""
    import functools
    import time
    from types import SimpleNamespace

    scene, source = trimmed_scene
    operators = __import__(addon.__name__ + ".operators", fromlist=["VTOON_OT_stylize"])
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["prepare_job"])
    js = __import__(addon.__name__ + ".core.job_settings", fromlist=["StylizeOptions"])
    session_mod = __import__(addon.__name__ + ".core.job_session", fromlist=["JobSession"])
    prepared = stylize.prepare_job(scene, source, js.StylizeOptions(backend="classic", format="png"), str(tmp_path))
    info = client_api.read_connection_file(str(engine))
    session = session_mod.JobSession(lambda: client_api.EngineClient.connect(info, timeout_s=10), client_api,
                                     prepared.settings)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (session.job and session.job.tracker.written):
        session.tick()
        time.sleep(0.05)
    assert session.job.tracker.written and not session.job.tracker.finished, "the job should still be running"
    job_id = session.job.tracker.job
    wm = bpy.context.window_manager
    wm.vtoonify_running = True
    op = operators.VTOON_OT_stylize
    fake_self = SimpleNamespace(_timer=None, _session=session, _prepared=prepared)
    fake_self._release = functools.partial(op._release, fake_self)
    t0 = time.monotonic()
    op.cancel(fake_self, bpy.context)
    assert time.monotonic() - t0 < 0.5, "cancel() blocked Blender's main thread"
    assert not wm.vtoonify_running and fake_self._session is None
    assert wm.vtoonify_status == "VToonify: cancelled"
    folder = prepared.output_dir
    while time.monotonic() < deadline and os.path.exists(folder):
        time.sleep(0.1)
    assert not os.path.exists(folder), "partial output left behind"
    with client_api.EngineClient.connect(info, timeout_s=10) as other:
        assert other.status(job_id)["state"] == "cancelled"
    assert len(_strips(scene)) == 1


def test_versions_switch_and_purge(addon, connected, trimmed_scene, tmp_path):
    scene, source = trimmed_scene
    source.frame_offset_end = 22  # 4 frames: 104..107
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path)}
    stylize.stylize_strip(scene, source, settings, connected)
    result = stylize.stylize_strip(scene, source, dict(settings, degree=0.9), connected)
    stem = tmp_path / "plate"
    assert stylize.result_versions(result) == (str(stem), [1, 2], 2)
    scene.sequence_editor.active_strip = result
    assert bpy.ops.sequencer.vtoonify_version_step(step=-1) == {"FINISHED"}
    assert os.path.normpath(bpy.path.abspath(result.directory)) == str(stem / "v001")
    assert os.path.isfile(os.path.join(bpy.path.abspath(result.directory), result.elements[0].filename))
    assert bpy.ops.sequencer.vtoonify_version_step(step=-1) == {"CANCELLED"}  # v001 is the oldest
    assert bpy.ops.sequencer.vtoonify_versions_purge() == {"FINISHED"}  # exec: no confirmation popup
    assert stylize.result_versions(result)[1] == [1]  # the shown version stays (v002 waits in the bin)
    source.frame_offset_end = 21  # a longer cut: v003 holds a frame v001 lacks
    stylize.stylize_strip(scene, source, settings, connected)
    with pytest.raises(stylize.StripError, match="v001 has no"):
        stylize.switch_version(scene, result, 1)


def test_a_result_moved_into_another_meta_is_refilled_there(addon, connected, trimmed_scene, tmp_path):
    """The artist moves the result (not its mattes) into a grading meta: a re-render refills that strip
    where it now is, with its mattes beside it, and lays no second result beside the source."""
    scene, source = trimmed_scene
    source.frame_offset_end = 23  # 3 frames: 104..106
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "png", "mattes": True, "output": str(tmp_path)}
    first = stylize.stylize_strip(scene, source, settings, connected)
    editor = scene.sequence_editor
    top, every = (editor.strips, editor.strips_all) if hasattr(editor, "strips") else \
        (editor.sequences, editor.sequences_all)
    grade = top.new_meta("grade", 9, 104)
    first.move_to_meta(grade)
    second = stylize.stylize_strip(scene, source, settings, connected)
    results = [s for s in every if s.get("vtoonify_role") == "result"]
    assert [s.name for s in results] == [second.name] == ["plate.vtoonify"]
    assert second.parent_meta().name == "grade"
    assert bpy.path.abspath(second.directory).rstrip("/").endswith("v002")
    mattes = [s for s in every if str(s.get("vtoonify_role", "")).startswith("matte_")]
    assert mattes and all(m.parent_meta() is not None and m.parent_meta().name == "grade" for m in mattes)
    assert all(bpy.path.abspath(m.directory).rstrip("/").endswith("v002") for m in mattes)
    assert stylize.source_result(scene, source).name == second.name  # the panel's stale check finds it


def test_purge_keeps_the_versions_another_scene_shows(addon, connected, trimmed_scene, tmp_path, media_dir):
    """A second scene (e.g. a scene copy) with a strip of the same name renders into the same folder:
    purging one scene's old versions must not delete the version the other scene shows."""
    scene, source = trimmed_scene
    source.frame_offset_end = 23
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    settings = {"backend": "classic", "format": "png", "output": str(tmp_path)}
    first = stylize.stylize_strip(scene, source, settings, connected)
    other = bpy.data.scenes.new("vtoonify_other_cut")
    try:
        editor = other.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        plate = strips.new_movie("plate", str(media_dir / "529_2.mp4"), 2, 1)
        plate.frame_final_end = 4
        second = stylize.stylize_strip(other, plate, settings, connected)
        assert stylize.purge_old_versions(scene, first, addon.version_undo.current()) == []
        assert sorted(p.name for p in (tmp_path / "plate").iterdir()) == ["v001", "v002"]
        assert os.path.isfile(os.path.join(bpy.path.abspath(second.directory), second.elements[0].filename))
    finally:
        bpy.data.scenes.remove(other)


def test_a_still_photo_strip_is_stylized_and_held_over_its_length(addon, connected, trimmed_scene, media_dir,
                                                                  tmp_path):
    """Add > Image with one portrait photo (its name has no frame number): the engine renders it once
    and the result shows that frame on every frame the photo strip shows."""
    scene, _movie = trimmed_scene
    strips = scene.sequence_editor.strips if hasattr(scene.sequence_editor, "strips") else \
        scene.sequence_editor.sequences
    photo = strips.new_image("portrait", str(media_dir / "038648.jpg"), 4, 201)
    photo.frame_final_end = 205  # held for 4 frames
    stylize = __import__(addon.__name__ + ".stylize", fromlist=["stylize_strip"])
    result = stylize.stylize_strip(scene, photo, {"backend": "classic", "format": "png", "output": str(tmp_path)},
                                   connected)
    assert (result.frame_final_start, result.frame_final_end) == (201, 205) and result.channel == 5
    assert [e.filename for e in result.elements] == ["portrait.0001.png"] * 4
    assert sorted(p.name for p in (tmp_path / "portrait" / "v001").glob("*.png")) == ["portrait.0001.png"]
    assert result.transform.scale_x == pytest.approx(photo.transform.scale_x)


def test_a_preview_needs_no_saved_blend_file(addon, prefs, engine, trimmed_scene):
    """A fresh, unsaved file with the default output folder (//vtoonify/, beside the .blend): Preview
    works (the engine writes previews to its own folder, never to the output), Stylize still asks for
    the file to be saved first."""
    scene, source = trimmed_scene
    assert not bpy.data.filepath, "this test needs an unsaved file"
    prefs.connection_file, prefs.auto_start = str(engine), False
    prefs.output_dir, prefs.output_format = "//vtoonify/", "png"
    scene.vtoonify.backend = "classic"
    scene.frame_current = 110
    reports: list = []
    _api, request, call = _preview_request(addon, reports)
    assert reports == []
    reply = call()
    assert os.path.isfile(reply["path"])
    addon.operators._show_preview(reply, request)
    assert [s.frame_final_start for s in _strips(scene) if s.get("vtoonify_role") == "preview"] == [110]
    nominal = os.path.join(tempfile.gettempdir(), "vtoonify-preview-output")
    assert not os.path.exists(nominal) or not any(files for _d, _s, files in os.walk(nominal))
    options = __import__(addon.__name__ + ".core.job_settings", fromlist=["x"]).StylizeOptions()
    with pytest.raises(addon.stylize.StripError, match=r"the \.blend file is not saved"):
        addon.stylize.prepare_job(scene, source, options, "//vtoonify/")
