"""The frame loop: one job from source frames to EXR/PNG files, with progress and cancel.

``render()`` is the single implementation behind the CLI, the farm chunks and the service workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import __version__
from engine.errors import JobCancelled
from engine.pipeline import outputs as out
from engine.pipeline.backends import Stylized
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import format_frame_ranges, gaps_in, select_frames
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.placement import (
    Placement,
    composite_over,
    place_matte,
    place_rgba,
    plan_crop_placement,
    plan_plate_placement,
)
from engine.pipeline.selection import make_backend
from engine.pipeline.shot import job_key, load_or_analyse

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
        }


def _emit(on_event: EventSink | None, event: dict) -> None:
    if on_event is not None:
        on_event(event)


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise JobCancelled("job cancelled", "")


def check_source(source) -> None:
    """Refuse a damaged video up front: rendering only its decodable head would silently drop frames."""
    if getattr(source, "truncated", False):
        from engine.errors import InputError

        raise InputError(
            f"video {source.path_pattern} is truncated: only {len(source.frame_numbers)} of its "
            f"{source.expected_frames} frames decode",
            "copy or export the file again (the end of the file is missing)")


def auto_batch(backend_name: str, device, crop_pixels: int) -> int:
    """Frames per forward pass: small on CPU (no gain from more), by free memory on CUDA."""
    if backend_name != "vtoonify":
        return 4
    if device.type != "cuda":
        return 2
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    per_frame = crop_pixels * 16 * 4 * 160  # ~activations of the 4x decoder per input pixel, bytes
    return int(max(1, min(16, (free * 0.6) // max(per_frame, 1))))


def render(config: RenderConfig, on_event: EventSink | None = None, cancel=None,
           models: ModelCache | None = None) -> RenderResult:
    """Render ``config``; output frame N is stylized input frame N. Raises EngineError subclasses.

    Everything that can be checked before writing is checked first (source, frames, model files); an
    output folder this call created is removed again if the job fails before writing a frame.
    """
    from engine.io import open_source

    cache = models or ModelCache(config.device)
    with open_source(config.source, config.start_number) as source:
        check_source(source)
        frames = select_frames(config.frames, source.frame_numbers)
        backend, warnings = make_backend(config, cache)
        holes = gaps_in(frames) if not config.frames else []
        if holes:
            warnings.append(f"{source.path_pattern} has no frames {format_frame_ranges(holes)}: "
                            "they are skipped, so the output has the same gaps")
        with out.output_folder(config.output) as out_dir:
            for message in warnings:
                _emit(on_event, {"event": "warning", "message": message})
            stem = config.name or out.source_stem(source.path_pattern)
            separate_mattes = bool(backend.mattes) and (config.matte_files or config.format == "png")
            naming = out.OutputNaming(out_dir, stem, config.format, out.frame_digits(source.frame_numbers),
                                      backend.mattes, separate_mattes)
            out.check_no_clobber(naming, frames, source.files())
            out.clean_stale_temps(out_dir, stem)
            key = job_key(config, backend.name, backend.model_files())
            analysis, wplus = load_or_analyse(config, source, backend, key, out_dir, stem, cancel)
            backend.prepare(analysis, wplus)
            todo = [f for f in frames if not (config.resume and naming.complete(f))]
            skipped = len(frames) - len(todo)
            _emit(on_event, {"event": "progress", "done": 0, "total": len(todo), "frame": None,
                             "fps": 0.0, "eta_s": None, "skipped": skipped})
            done = render_frames(config, source, backend, FrameWriter(config, naming, analysis, backend),
                                 todo, skipped, cache, on_event, cancel)
    return RenderResult(
        outputs=[str(naming.beauty(f)) for f in frames],
        pattern=naming.pattern,
        matte_patterns=naming.matte_patterns(),
        frames=frames,
        rendered=done,
        skipped=skipped,
        backend=backend.name,
        sidecar=str(out_dir / f"{stem}.vtoonify.json"),
        warnings=warnings,
    )


def render_frames(config: RenderConfig, source, backend, writer: FrameWriter, todo: list[int], skipped: int,
                  cache: ModelCache, on_event: EventSink | None, cancel) -> int:
    """The batch loop: read, crop, stylize, write; cancel is checked before and after each batch."""
    from engine.face import scale_and_crop

    crop = writer.crop
    batch = config.batch or auto_batch(backend.name, cache.device,
                                       (crop.bottom - crop.top) * (crop.right - crop.left))
    smoother = _make_smoother(config, backend, source, crop, cache)
    reader = iter(source.read_many(todo))
    start = time.monotonic()
    done = 0
    while done < len(todo):
        _check_cancel(cancel)
        chunk = [next(reader) for _ in range(min(batch, len(todo) - done))]
        numbers = [n for n, _ in chunk]
        crops = [scale_and_crop(rgb, crop) for _, rgb in chunk]
        parsing = smoother.parsing_for(numbers, crops) if smoother is not None else None
        results = backend.stylize(crops, parsing)
        _check_cancel(cancel)
        for number, (_, plate), result in zip(numbers, chunk, results):
            path = writer.write(number, result, plate)
            _emit(on_event, {"event": "frame_done", "frame": number, "path": str(path)})
        done += len(chunk)
        elapsed = time.monotonic() - start
        fps = done / elapsed if elapsed > 0 else 0.0
        _emit(on_event, {"event": "progress", "done": done, "total": len(todo), "frame": numbers[-1],
                         "fps": round(fps, 3), "eta_s": round((len(todo) - done) / fps, 1) if fps else None,
                         "skipped": skipped})
    return done


def _make_smoother(config, backend, source, crop, cache):
    if not config.smooth_parsing or backend.name != "vtoonify":
        return None
    from engine.pipeline.smoothing import SourceParsingSmoother

    return SourceParsingSmoother(source, crop, backend, cache.device)


class FrameWriter:
    """Places a stylized crop and writes its files (atomically) with the job's metadata."""

    def __init__(self, config: RenderConfig, naming: out.OutputNaming, analysis, backend) -> None:
        self.config = config
        self.naming = naming
        self.analysis = analysis
        self.crop = analysis.crop_params()
        self.backend_name = backend.name
        self.mattes = backend.mattes if config.mattes else ()
        self._placement: Placement | None = None

    def placement(self, stylized_size: tuple[int, int]) -> Placement:
        if self._placement is None:
            if self.config.output_space == "plate":
                self._placement = plan_plate_placement(self.crop, tuple(self.analysis.source_size),
                                                       self.config.scale, stylized_size)
            else:
                self._placement = plan_crop_placement(stylized_size, self.config.scale)
        return self._placement

    def metadata(self, frame: int) -> dict:
        c = self.crop
        sx, sy = self.analysis.source_size[0] / c.w, self.analysis.source_size[1] / c.h
        style = self.analysis.style
        meta = {
            "vtoonify/version": __version__,
            "vtoonify/source": self.analysis.source,
            "vtoonify/frame": int(frame),
            "vtoonify/backend": self.backend_name,
            "vtoonify/style": str(style.get("family", "")),
            "vtoonify/style_id": str(style.get("style_id", "")),
            "vtoonify/degree": str(style.get("degree", "")),
            "vtoonify/color_transfer": str(style.get("color_transfer", "")),
            "vtoonify/checkpoint": str(style.get("checkpoint", "")),
            "vtoonify/output_space": self.config.output_space,
            "vtoonify/crop_box": f"{c.left * sx:.3f},{c.top * sy:.3f},{c.right * sx:.3f},{c.bottom * sy:.3f}",
            "vtoonify/job": self.analysis.job_key,
            "Software": f"VToonify Studio {__version__}",
        }
        return meta

    def write(self, frame: int, result: Stylized, plate: np.ndarray) -> Path:
        from engine.io import srgb_to_linear, write_exr, write_grey, write_png

        h, w = result.rgb.shape[:2]
        placement = self.placement((w, h))
        meta = self.metadata(frame)
        x0, y0, x1, y1 = placement.window
        out_w, out_h = placement.out_size
        mattes = {n: place_matte(result.mattes[n], placement) for n in self.mattes if n in result.mattes}
        path = self.naming.beauty(frame)
        if self.config.format == "exr":
            rgba = place_rgba(srgb_to_linear(result.rgb), placement)
            write_exr(path, rgba, mattes=mattes or None, metadata=meta, compression=self.config.exr_compression,
                      full_size=(out_w, out_h), origin=(x0, y0))
        else:
            rgba = place_rgba(result.rgb, placement)
            canvas = np.zeros((out_h, out_w, 4), np.float32)
            canvas[y0:y1, x0:x1] = rgba
            alpha = canvas[:, :, 3:4]
            canvas[:, :, :3] = np.where(alpha > 1e-6, canvas[:, :, :3] / np.maximum(alpha, 1e-6), 0.0)
            write_png(path, _quantise(canvas, self.config.png_bits), metadata=meta)
        if self.naming.matte_files:
            for name, matte in mattes.items():
                full = np.zeros((out_h, out_w), np.float32)
                full[y0:y1, x0:x1] = matte
                write_grey(self.naming.matte(name, frame), full, fmt=self.config.format,
                           bits=self.config.png_bits)
        return path


def _quantise(img: np.ndarray, bits: int) -> np.ndarray:
    top = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    return (np.clip(img, 0.0, 1.0) * top + 0.5).astype(dtype)


def render_preview(config: RenderConfig, frame: int, out_dir: str, models: ModelCache | None = None) -> dict:
    """One frame stylized and composited over its plate, as PNGs in ``out_dir`` (not the job's folder).

    Returns ``{"path": stylized png, "source_path": source png, "frame": n}``.
    """
    from engine.face import scale_and_crop
    from engine.io import open_source, write_png

    cache = models or ModelCache(config.device)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with open_source(config.source, config.start_number) as source:
        select_frames(str(frame), source.frame_numbers)
        backend, _ = make_backend(config, cache)
        key = job_key(config, backend.name, backend.model_files())
        memo_key = ("preview-shot", key, os.path.getmtime(source.path_pattern)
                    if os.path.exists(source.path_pattern) else 0)
        if memo_key not in cache.memo:
            from engine.pipeline.shot import analyse_shot

            cache.memo[memo_key] = analyse_shot(config, source, backend, key, None, "preview")
        analysis, wplus = cache.memo[memo_key]
        backend.prepare(analysis, wplus)
        plate = source.read(frame)
        result = backend.stylize([scale_and_crop(plate, analysis.crop_params())])[0]
        stem = config.name or out.source_stem(source.path_pattern)
    if config.output_space == "plate":
        placement = plan_plate_placement(analysis.crop_params(), tuple(analysis.source_size), 1.0,
                                         (result.rgb.shape[1], result.rgb.shape[0]))
        image = composite_over(place_rgba(result.rgb, placement), plate.astype(np.float32) / 255.0, placement)
    else:
        image = result.rgb
    stylized_path = target / f"preview_{stem}_{frame}.png"
    source_path = target / f"preview_{stem}_{frame}_source.png"
    write_png(stylized_path, _quantise(image, 8))
    write_png(source_path, plate)
    return {"path": str(stylized_path), "source_path": str(source_path), "frame": int(frame),
            "backend": backend.name}
