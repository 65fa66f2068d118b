"""The frame loop: one job from source frames to EXR/PNG files, with progress and cancel.

``render()`` is the single implementation behind the CLI, the farm chunks and the service workers;
``prepare()`` runs the same job setup up to the shot analysis and stops (a farm's once-per-job step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import EngineError, JobCancelled, setting
from engine.io.timecode import source_timecode
from engine.models.heap import reused_heap
from engine.pipeline import outputs as out
from engine.pipeline.colour_notes import alpha_note, hdr_note, later_alpha_note
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import check_decodable, format_runs, gaps_in, select_frames
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.overlap import DONE, POLL_S, Failed, Stages, Stopped
from engine.pipeline.plate_prints import check_unchanged_plates
from engine.pipeline.selection import check_exemplar_image, make_backend
from engine.pipeline.shot import (
    claim_job,
    legacy_job_keys,
    resolved_job_key,
    resolved_job_settings,
    sidecar_path,
    srgb_placed_keys,
)
from engine.pipeline.writer import FrameWriter

EventSink = Callable[[dict], None]


@dataclass
class RenderResult:
    outputs: list[str]
    pattern: str
    matte_patterns: dict[str, str]
    frames: list[int]
    rendered: int
    skipped: int
    backend: str
    sidecar: str
    warnings: list[str] = field(default_factory=list)
    analysed: bool = False
    """True when this run computed the shot analysis (False: reused the sidecar a prepare step wrote)."""
    timecode: dict | None = None
    """The source's start timecode (``SourceTimecode.to_dict()``); None when the source has none."""
    frame_grid: dict | None = None
    """Variable-frame-rate source: ``FrameGrid.to_dict()`` (how pictures map onto frame numbers)."""
    style: dict = field(default_factory=dict)
    """The style the network ran (the sidecar's ``style``: checkpoint, and for VToonify-D the style id,
    degree and effective colour transfer, which a ``_c``-only family forces on)."""

    def to_dict(self) -> dict:
        return {
            "outputs": self.outputs,
            "pattern": self.pattern,
            "matte_patterns": self.matte_patterns,
            "frames": [self.frames[0], self.frames[-1]] if self.frames else [],
            "count": len(self.frames),
            "rendered": self.rendered,
            "skipped": self.skipped,
            "backend": self.backend,
            "sidecar": self.sidecar,
            "warnings": self.warnings,
            "analysed": self.analysed,
            "timecode": self.timecode,
            "frame_grid": self.frame_grid,
            "style": self.style,
        }


@dataclass
class PrepareResult:
    sidecar: str
    job_key: str
    analysed: bool
    face_frame: int
    frames: list[int]
    backend: str
    style_code: str | None
    warnings: list[str] = field(default_factory=list)
    faces: list[dict] = field(default_factory=list)
    """``--faces all``: ``{"name", "frame", "style_code"}`` per face in id order; empty for one face."""

    def to_dict(self) -> dict:
        data = {
            "sidecar": self.sidecar,
            "job_key": self.job_key,
            "analysed": self.analysed,
            "face_frame": self.face_frame,
            "frames": [self.frames[0], self.frames[-1]] if self.frames else [],
            "count": len(self.frames),
            "backend": self.backend,
            "style_code": self.style_code,
            "warnings": self.warnings,
        }
        if self.faces:  # one-face results keep their old shape
            data["faces"] = self.faces
        return data


def _emit(on_event: EventSink | None, event: dict) -> None:
    if on_event is not None:
        on_event(event)


def with_backend(on_event: EventSink | None, name: str) -> EventSink | None:
    """``on_event`` whose ``progress`` events also say the backend the job resolved to, so a host can
    show it while the job runs and after a cancel (``job_done``'s result says it only at the end)."""
    if on_event is None:
        return None
    return lambda event: on_event({**event, "backend": name} if event.get("event") == "progress" else event)


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise JobCancelled("job cancelled", "")


CLASSIC_BATCH_PLATE_PIXELS = 1920 * 1088
"""Plates up to 1080p render the classic look 4 frames a batch (about 5% less CPU than 1 a batch on a
400x368 clip); larger ones 1 a batch, since about six batches are in flight between decoding and
writing: a 3840x2160 plate with mattes peaked at 3.1 GB at batch 4 and 1.6 GB at batch 1."""


def auto_batch(backend_name: str, device_type: str, crop_pixels: int, plate_pixels: int = 0) -> int:
    """Frames per forward pass before any measurement: 4 for classic on plates up to 1080p, else 1;
    1 for VToonify (on CPU a larger batch was never faster per frame and peaks higher; on CUDA the first
    batch is measured and the size then grows, see ``BatchPlan``)."""
    if backend_name == "vtoonify":
        return 1
    return 4 if plate_pixels <= CLASSIC_BATCH_PLATE_PIXELS else 1


class BatchPlan:
    """The batch size, fixed by ``--batch`` or chosen from a measurement on CUDA: after the first
    one-frame batch, as many frames as fit in 70% of the free memory at the measured peak per frame."""

    MAX_BATCH = 16

    def __init__(self, config: RenderConfig, backend_name: str, cache: ModelCache, crop_pixels: int,
                 plate_pixels: int = 0) -> None:
        self.size = config.batch or auto_batch(backend_name, cache.device_type, crop_pixels, plate_pixels)
        self.measure = not config.batch and backend_name == "vtoonify" and cache.device_type == "cuda"
        if self.measure:  # a VToonify job on CUDA: torch is loaded already
            import torch

            self.device = cache.device
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)

    def measured(self, frames: int) -> None:
        """Called after a network batch of ``frames``: sets the size once, from the peak it took."""
        if not self.measure:
            return
        import torch

        self.measure = False
        per_frame = max(1, (torch.cuda.max_memory_allocated(self.device) - self._base) // max(frames, 1))
        free, _ = torch.cuda.mem_get_info(self.device)
        self.size = int(max(1, min(self.MAX_BATCH, (free * 0.7) // per_frame)))


@dataclass
class JobSetup:
    """A job opened up to its first frame: what ``render`` and ``prepare`` both need."""

    source: object
    frames: list[int]
    backend: object
    naming: out.OutputNaming
    analysis: object
    wplus: object
    analysed: bool
    """True when this run computed the shot analysis, False when it reused the sidecar."""
    sidecar: str
    warnings: list[str]
    on_event: EventSink | None
    """The caller's sink, its progress events tagged with the resolved backend (:func:`with_backend`)."""


def rotation_note(source) -> str | None:
    """How a phone clip's display rotation was handled, said on every job (hosts differ: players and
    Blender 5.0's sequencer turn the clip, Blender 4.2's shows it as coded), so a result that does not
    line up over the plate in the artist's host is explained before it is looked at."""
    degrees = getattr(source, "display_rotation", 0) if getattr(source, "kind", "") == "video" else 0
    if not degrees:
        return None
    if getattr(source, "rotation_applied", True):
        return (f"{source.path_pattern} carries a {degrees}-degree display rotation: frames are read and written "
                "turned by it, as players and Blender 5.0's sequencer show the clip (for a host that shows it "
                f"as coded, such as Blender 4.2's sequencer, render with {setting('orientation', 'stored')})")
    return (f"{source.path_pattern} carries a {degrees}-degree display rotation, ignored "
            f"({setting('orientation', 'stored')}): frames are read and written as coded, as Blender 4.2's "
            "sequencer shows the clip (players and Blender 5.0 show it turned; render with "
            f"{setting('orientation', 'display')} for them)")


def parts_note(source) -> str | None:
    """A multi-part EXR (or multi-page TIFF) plate is read from its first part only: said on the job, so a
    file whose first part is a matte or a utility pass is not mistaken for a plate without a face."""
    parts = tuple(getattr(source, "parts", ()) or ())
    if len(parts) < 2:
        return None
    import shlex

    from engine.service.catalog import file_stem

    shown = ", ".join(repr(p) for p in parts[:8]) + (", ..." if len(parts) > 8 else "")
    first = os.path.basename(source.path_pattern)
    other = parts[1] if not parts[1].startswith("#") else "1"  # an unnamed part by its index
    return (f"{first} holds {len(parts) if len(parts) <= 16 else 'more than 16'} parts ({shown}): only the first, "
            f"{parts[0]!r}, is read as the plate (to render another, write it as its own file, e.g. "
            f"oiiotool {shlex.quote(first)} --subimage {shlex.quote(other)} -o {file_stem(other)}.exr)")


def channels_note(source) -> str | None:
    """An image whose channels are not R, G, B (an EXR of X/Y/Z, P.x/P.y/P.z, a depth or utility pass) is
    read as a picture from its first channels: said on the job, naming them, so a faceless result or a
    strange look is not a mystery."""
    from engine.io.image import colour_names

    channels = tuple(getattr(source, "channels_read", ()) or ())
    if not channels or colour_names(channels):
        return None
    import shlex

    name = os.path.basename(source.path_pattern)
    stem = os.path.splitext(name)[0]
    shown = ", ".join(repr(c) for c in channels)
    if len(channels) == 1:
        read = f"its channel {shown} is read as a grey picture"
        mapping = ",".join(f"{c}={channels[0]}" for c in "RGB")
    else:
        read, mapping = (f"its channels {shown} are read as red, green and blue",
                         ",".join(f"{c}={n}" for c, n in zip("RGB", channels)))
    return (f"{name} holds no R, G, B{' or grey (Y)' if len(channels) == 1 else ''} channels: {read} (give the "
            "file with the plate's colour if they are not; if they are, name them R, G, B to silence this: "
            f"oiiotool {shlex.quote(name)} --ch {shlex.quote(mapping)} -o {shlex.quote(stem + '_rgb.exr')})")


def animation_note(source) -> str | None:
    """An animated PNG is read as one still, its first frame (as OIIO and Blender's image strips show it):
    said on the job with the conversion that renders every frame."""
    frames = int(getattr(source, "animated_frames", 0) or 0)
    if frames < 2:
        return None
    import shlex

    from engine.service.catalog import file_stem

    name = os.path.basename(source.path_pattern)
    return (f"{name} is an animated PNG of {frames} frames: only its first is read as the plate (to render them "
            f"all, convert it to a sequence, e.g. ffmpeg -i {shlex.quote(name)} "
            f"{file_stem(os.path.splitext(name)[0])}.%04d.png)")


def start_number_note(source, config) -> str | None:
    """``--start-number`` renumbers a video or a single image; a sequence keeps its files' numbers, so a
    start number given for one does nothing: said, as for any option that does nothing (README)."""
    from engine.service.catalog import DEFAULTS

    if getattr(source, "kind", "") != "sequence" or config.start_number == DEFAULTS["start_number"]:
        return None
    numbers = source.frame_numbers
    return (f"{setting('start_number', config.start_number)} renumbers a video; the image sequence "
            f"{source.path_pattern} keeps its files' numbers ({numbers[0]}-{numbers[-1]}), so it is ignored "
            "(rename the files to renumber a sequence)")


def streams_note(source) -> str | None:
    """A file holding several video streams is read from its first, as Blender's sequencer reads it: said on
    the job, with the command that copies another into its own file, so a shot whose face is in the second
    stream is not taken for a faceless one."""
    others = tuple(getattr(source, "other_video_streams", ()) or ())
    if getattr(source, "kind", "") != "video" or not others:
        return None
    import shlex

    from engine.service.catalog import file_stem

    name = os.path.basename(source.path_pattern)
    stem, ext = os.path.splitext(name)
    w, h = source.stream_size
    position = others[0][0]
    shown = ", ".join(f"{ow}x{oh}" for _, ow, oh in others[:4]) + (", ..." if len(others) > 4 else "")
    return (f"{name} holds {1 + len(others)} video streams: the first ({w}x{h}) is read, as Blender's sequencer "
            f"reads it, not the other{'s' if len(others) > 1 else ''} ({shown}) (to render another, copy it into "
            f"its own file, e.g. ffmpeg -i {shlex.quote(name)} -map 0:v:{position} -c copy "
            f"{shlex.quote(f'{file_stem(stem)}_v{position}{ext}')})")


def interlace_note(source) -> str | None:
    """Interlaced video is stylized frame by frame as coded (both fields in one picture), as the official
    code does; said on the job with a conform that keeps one frame per frame, so numbers stay the same."""
    if getattr(source, "kind", "") != "video" or not getattr(source, "interlaced", False):
        return None
    return (f"{source.path_pattern} is interlaced: each frame holds two fields from different moments and is "
            "stylized as one picture, so combing on motion stays in the result (deinterlace it first for clean "
            "frames, keeping one frame per frame: ffmpeg -i IN -vf bwdif=mode=send_frame -c:v prores_ks OUT.mov)")


@contextlib.contextmanager
def open_job(config: RenderConfig, cache: ModelCache, on_event: EventSink | None = None,
             cancel=None) -> Iterator[JobSetup]:
    """Open the source, check everything that can be checked before writing (frames, model files,
    output folder), then load or compute the once-per-shot analysis. An output folder this call
    created is removed again if the job fails before writing a file into it."""
    from engine.io import open_source

    with open_source(config.source, config.start_number, orientation=config.orientation) as source:
        check_decodable(source, config.frames)
        frames = select_frames(config.frames, source.frame_numbers)
        check_exemplar_image(config)
        out.check_output_memory(config, source.size)
        backend, warnings = make_backend(config, cache, cancel)
        on_event = with_backend(on_event, backend.name)
        if getattr(source, "frame_grid", None) is not None:
            warnings.append(source.frame_grid.warning(source.path_pattern))
        warnings += [note for note in (rotation_note(source), interlace_note(source), parts_note(source),
                                       channels_note(source), animation_note(source), start_number_note(source, config),
                                       streams_note(source), hdr_note(source), alpha_note(source)) if note]
        holes = gaps_in(frames) if not config.frames else []
        if holes:
            warnings.append(f"{source.path_pattern} has no frames {format_runs(holes[:20])}"
                            f"{' ...' if len(holes) > 20 else ''}: "
                            "they are skipped, so the output has the same gaps")
        with out.output_folder(config.output) as out_dir:
            for message in warnings:
                _emit(on_event, {"event": "warning", "message": message})
            stem = config.name or out.source_stem(source.path_pattern)
            separate_mattes = bool(backend.mattes) and (config.matte_files or config.format == "png")
            naming = out.OutputNaming(out_dir, stem, config.format, out.frame_digits(source.frame_numbers),
                                      backend.mattes, separate_mattes)
            out.check_no_clobber(naming, frames, source.files())
            out.check_name_lengths(naming, frames, margin=len("face01_") if config.faces == "all" else 0)
            out.clean_stale_temps(out_dir, stem)
            key = resolved_job_key(config, backend, cache, source)
            out.check_foreign_files(naming, frames, key)  # before the sidecar: a refused job leaves nothing
            out.check_no_links(out_dir, job_file_names(config, stem))
            settings = resolved_job_settings(config, backend, cache, source)
            with claim_job(config, source, backend, key, out_dir, stem, cancel, settings,
                           legacy_job_keys(config, backend, cache, source), on_event,
                           srgb_placed_keys(config, backend, cache, source)) as (analysis, wplus, analysed):
                if analysis.faces:  # several faces: their mattes are named per face (face01_skin, ...)
                    from engine.pipeline.multiface import face_matte_names

                    naming = dataclasses.replace(naming, mattes=face_matte_names(analysis.face_names(),
                                                                                 tuple(backend.mattes)))
                    out.check_no_clobber(naming, frames, source.files())
                for message in analysis.warnings:
                    warnings.append(message)
                    _emit(on_event, {"event": "warning", "message": message})
                yield JobSetup(source, frames, backend, naming, analysis, wplus, analysed,
                               str(sidecar_path(out_dir, stem)), warnings, on_event)


def job_file_names(config: RenderConfig, stem: str) -> list[str]:
    """The sidecar's and style codes' names (one per face with ``--faces all``), checked for links up front."""
    from engine.pipeline.shot import face_name, style_code_name

    faces = [face_name(i) for i in range(1, int(config.max_faces) + 1)] if config.faces == "all" else []
    return [sidecar_path(Path("."), stem).name, style_code_name(stem), *(style_code_name(stem, f) for f in faces)]


def prepare(config: RenderConfig, on_event: EventSink | None = None, cancel=None,
            models: ModelCache | None = None) -> PrepareResult:
    """The once-per-shot analysis alone (sidecar + style code), through the same code as ``render``.

    A farm runs this once per job, before the chunk tasks; each chunk then reuses the sidecar."""
    with open_job(config, models or ModelCache(config.device), on_event, cancel) as job:
        return PrepareResult(sidecar=job.sidecar, job_key=job.analysis.job_key, analysed=job.analysed,
                             face_frame=job.analysis.face_frame, frames=job.frames, backend=job.backend.name,
                             style_code=job.analysis.style_code, warnings=job.warnings,
                             faces=[{k: f[k] for k in ("name", "frame", "style_code")} for f in job.analysis.faces])


def render(config: RenderConfig, on_event: EventSink | None = None, cancel=None,
           models: ModelCache | None = None) -> RenderResult:
    """Render ``config``; output frame N is stylized input frame N. Raises EngineError subclasses.

    Everything that can be checked before writing is checked first (source, frames, model files); an
    output folder this call created is removed again if the job fails before writing a frame.
    """
    cache = models or ModelCache(config.device)
    with open_job(config, cache, on_event, cancel) as job:
        on_event = job.on_event
        _check_cancel(cancel)
        naming, frames = job.naming, job.frames
        key = job.analysis.job_key
        todo = [f for f in frames if not (config.resume and naming.complete(f, key))]
        if config.resume:  # a done frame whose plate frame was re-rendered upstream since is refused
            check_unchanged_plates(job.source, naming, sorted(set(frames) - set(todo)))

        def warn(message: str) -> None:
            job.warnings.append(message)
            _emit(on_event, {"event": "warning", "message": message})

        timecode = source_timecode(job.source)
        writer = FrameWriter(config, naming, job.analysis, job.backend, timecode, job.source)
        if todo:
            out.check_rescale_memory(writer.crops, job.analysis.source_size)
        job.backend.prepare(job.analysis, job.wplus, frames=len(todo), warn=warn)
        out.check_foreign_files(naming, todo, key)
        skipped = len(frames) - len(todo)
        _emit(on_event, {"event": "progress", "done": 0, "total": len(todo), "frame": None,
                         "fps": 0.0, "eta_s": None, "skipped": skipped})
        done = render_frames(config, job.source, job.backend, writer, todo, skipped, cache, on_event, cancel, warn)
    return RenderResult(
        outputs=[str(naming.beauty(f)) for f in frames],
        pattern=naming.pattern,
        matte_patterns=naming.matte_patterns(),
        frames=frames,
        rendered=done,
        skipped=skipped,
        backend=job.backend.name,
        sidecar=job.sidecar,
        warnings=job.warnings,
        analysed=job.analysed,
        timecode=timecode.to_dict() if timecode is not None else None,
        frame_grid=job.analysis.frame_grid,
        style=dict(job.analysis.style or {}),
    )


def render_frames(config: RenderConfig, source, backend, writer: FrameWriter, todo: list[int], skipped: int,
                  cache: ModelCache, on_event: EventSink | None, cancel, warn: Callable[[str], None] | None = None
                  ) -> int:
    """Decode + crop (+ parsing on a GPU) -> network -> place + write, as three overlapping stages.

    Bounded queues keep at most a few batches in flight; frames stay in order (one thread per stage),
    so output frame N is input frame N. Cancel is checked between batches (the writer stops before
    its next frame; every written file is complete); the first error of any stage is raised here.
    Progress is reported per batch; a job stopped inside one reports once more after the writer has
    stopped, so the last ``done`` counts exactly the files on disk (what a resume skips). The decoded
    pictures are also looked at for cuts (``cut_watch``), warned about (``warn``) by the writer thread.
    """
    from engine.face import scale_and_crop

    firsts, repeats = held_pictures(source, todo)
    face_crops = writer.frame_crops(firsts[0]) if firsts else writer.crops  # one per face, in id order
    crop = face_crops[0]  # a following crop keeps its size: any frame's gives the batch plan
    plan = BatchPlan(config, backend.name, cache, (crop.bottom - crop.top) * (crop.right - crop.left),
                     source.size[0] * source.size[1])
    several = bool(writer.face_names)
    smoothers = [_make_smoother(config, backend, source, c, cache) for c in face_crops]
    parse_early = cache.device_type == "cuda"  # on a CPU both networks share the same cores
    stages = Stages()
    decoded, stylized = stages.queue(2), stages.queue(1)
    progress = {"done": 0, "reported": 0, "frame": None}
    start = time.monotonic()

    def report(frame) -> None:
        done = progress["done"]
        elapsed = time.monotonic() - start
        fps = done / elapsed if elapsed > 0 else 0.0
        progress["reported"] = done
        _emit(on_event, {"event": "progress", "done": done, "total": len(todo), "frame": frame,
                         "fps": round(fps, 3), "eta_s": round((len(todo) - done) / fps, 1) if fps else None,
                         "skipped": skipped})

    cuts = cut_watch(source, writer) if warn is not None and firsts else None

    def decode() -> None:
        try:
            failed = decode_batches()
        except Stopped:
            raise
        except Exception as exc:  # a batch could not be prepared (a frame a smoother reads, memory): the
            failed = Failed(exc)  # batches before it are good and still go down to be written first
        stages.put(decoded, failed or DONE)

    def decode_batches() -> Failed | None:
        """Put every batch on ``decoded``; the ``Failed`` of a frame that cannot be read, after the good
        frames before it, else None."""
        if cuts is not None:
            cuts.seed(source, firsts[0])
        reader = iter(source.read_many(firsts))
        position = 0
        failed = None
        while position < len(firsts) and failed is None:
            stages.check()
            chunk, failed = read_chunk(reader, firsts[position:position + plan.size])
            position += len(chunk)
            if not chunk:
                break
            numbers = [n for n, _ in chunk]
            if cuts is not None:
                for number, rgb in chunk:
                    cuts.add(number, rgb, (repeats.get(number) or [number])[-1])
            per_face = []
            frame_crops = [writer.frame_crops(n) for n in numbers]  # fixed, or where each face is (follow)
            for face, smoother in enumerate(smoothers):
                crops = [scale_and_crop(rgb, frame_crops[k][face]) for k, (_, rgb) in enumerate(chunk)]
                parsing = smoother.parsing_for(numbers, crops) if smoother is not None else None
                per_face.append((crops, backend.batch_input(crops, parsing, parse=parse_early)))
            stages.put(decoded, (numbers, [plate for _, plate in chunk], per_face))
        return failed  # a bad frame goes down after the good ones before it

    alpha_told: list[str] = []  # the later-alpha warning, once given (a plate opaque at its first frame)

    def write() -> None:
        while (item := stages.get(stylized)) is not DONE:
            if isinstance(item, Failed):  # every frame before the bad one is on disk now
                raise stopped_at_bad_frame(item, progress["done"])
            numbers, plates, face_results = item
            if cuts is not None and (note := cuts.news()):  # before the batch: the decoder has looked at it
                warn(note)
            if not alpha_told and (note := later_alpha_note(source)):  # the decoder has read it: before its file
                alpha_told.append(note)
                warn(note)
            for i, (first, plate) in enumerate(zip(numbers, plates)):
                for number in (first, *repeats.get(first, ())):  # frames holding one picture: one stylization
                    stages.check()
                    if several:
                        path = writer.write_faces(number, [results[i] for results in face_results], plate, first)
                    else:
                        path = writer.write(number, face_results[0][i], plate, first)
                    progress["done"] += 1
                    progress["frame"] = number
                    _emit(on_event, {"event": "frame_done", "frame": number, "path": str(path)})
            report(numbers[-1])
        if cuts is not None and (note := cuts.rest()):
            warn(note)

    stages.start("decode", decode)
    stages.start("write", write)
    heap = reused_heap() if cache.device_type == "cpu" else contextlib.nullcontext()
    heap.__enter__()  # CPU: each frame reuses the last frame's pages (engine.models.heap)
    try:
        while True:
            _check_cancel(cancel)
            item = stages.get(decoded)
            if item is DONE or isinstance(item, Failed):
                break
            numbers, plates, per_face = item
            try:
                face_results = stylize_faces(backend, per_face, several, cancel)
            except (JobCancelled, Stopped):
                raise
            except Exception as exc:  # out of memory, say: the batches stylized before it are still written
                item = Failed(exc, numbers[0])
                break
            plan.measured(len(numbers))
            stages.put(stylized, (numbers, plates, face_results))
        stages.put(stylized, item)  # DONE, or a bad frame's or batch's Failed: the writer raises it after the rest
        while any(t.is_alive() for t in stages._threads):  # the writer finishes the last batches
            _check_cancel(cancel)
            stages.join(POLL_S)
            stages.raise_error()
    except Stopped:
        stages.join()
        stages.raise_error()
        raise
    finally:
        stages.stop()
        stages.join()
        heap.__exit__(None, None, None)
        if progress["done"] != progress["reported"]:  # stopped mid-batch (cancel, error): the files' true count
            report(progress["frame"])
    stages.raise_error()
    return progress["done"]


def stylize_faces(backend, per_face: list, several: bool, cancel) -> list:
    """One batch through the network, face by face (``--faces all``); cancel is checked after each face,
    and between frames where the backend takes a ``stop`` (VToonify on a CPU: seconds a frame)."""
    stop = {"stop": lambda: _check_cancel(cancel)} if getattr(backend, "takes_stop", False) else {}
    face_results = []
    for face, (crops, batch) in enumerate(per_face):
        face_results.append(backend.stylize_batch(batch, crops, face, **stop) if several
                            else backend.stylize_batch(batch, crops, **stop))
        _check_cancel(cancel)
    return face_results


def cut_watch(source, writer: FrameWriter):
    """A ``CutWatch`` over the frames this render decodes, for a video or sequence with fixed crops (crops
    that follow their faces had every frame looked at during the analysis); else None."""
    if getattr(source, "kind", "") not in ("video", "sequence") or writer.follow:
        return None
    from engine.face.cuts import CutWatch

    return CutWatch(list(source.frame_numbers), source.kind)


def read_chunk(reader, numbers: list[int]) -> tuple[list[tuple[int, object]], Failed | None]:
    """The next batch's ``(number, rgb)`` pairs from ``reader``, stopping at the first frame that cannot be
    read: (the good frames before it, its ``Failed``), so those frames still get written."""
    chunk = []
    for number in numbers:
        try:
            chunk.append(next(reader))
        except Exception as exc:  # any read failure: the frames before it are good
            return chunk, Failed(exc, number)
    return chunk, None


def stopped_at_bad_frame(failed: Failed, written: int) -> BaseException:
    """The error that stopped the decoding or the network (a frame that cannot be read, a batch that could
    not be prepared or stylized), saying that the frames before it are written and that a resume after the
    fix renders only what is missing. Raised as it is: an error that is no engine error (a bug), and one
    before any frame of this run was written (nothing to resume from: its own message and fix, e.g. the
    device's out-of-memory advice a farm acts on)."""
    error = failed.error
    if not isinstance(error, EngineError) or written == 0:
        return error
    said_message, said_fix = getattr(error, "_said", (error.message, error.fix))  # settings still marked
    message = said_message
    if failed.frame is not None and f"frame {failed.frame}" not in error.message:
        message = f"frame {failed.frame}: {message}"
    message += (f"; the {written} frame{'s' if written != 1 else ''} before it "
                f"{'are' if written != 1 else 'is'} written")
    fix = (f"{said_fix.rstrip('. ') or 'replace the file'}, then run the same command again with "
           f"{setting('resume', True)}: only the frames not written yet are rendered")
    told = type(error)(message, fix)
    told.__cause__ = error
    return told


def held_pictures(source, todo: list[int]) -> tuple[list[int], dict[int, list[int]]]:
    """(frames to stylize, {frame: the frames right after it in ``todo`` that show the same picture}).

    A variable-frame-rate video holds a picture over several frame numbers (``engine/io/frame_grid.py``):
    it is stylized once and written under each of them, so held frames cost no network time and carry
    identical pixels. Other sources: every frame is its own picture."""
    picture = getattr(source, "picture_index", None)
    if picture is None or getattr(source, "frame_grid", None) is None:
        return list(todo), {}
    firsts: list[int] = []
    repeats: dict[int, list[int]] = {}
    last = None
    for number in todo:
        key = picture(number)
        if firsts and key == last and number == (repeats.get(firsts[-1]) or [firsts[-1]])[-1] + 1:
            repeats.setdefault(firsts[-1], []).append(number)
        else:
            firsts.append(number)
        last = key
    return firsts, repeats


def _make_smoother(config, backend, source, crop, cache):
    if not config.smooth_parsing or backend.name != "vtoonify":
        return None
    from engine.pipeline.smoothing import SourceParsingSmoother

    return SourceParsingSmoother(source, crop, backend, cache.device)
