"""One frame stylized and composited over its plate, for before/after previews in the clients."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engine.io.colour import srgb_to_linear
from engine.pipeline import outputs as out
from engine.pipeline.config import RenderConfig
from engine.pipeline.frames import select_frames
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.placement import composite_over, place_rgba, plan_plate_placement
from engine.pipeline.selection import make_backend
from engine.pipeline.shot import analyse_shot, resolved_job_key
from engine.pipeline.writer import quantise, straight_srgb


def premultiplied_srgb(rgba: np.ndarray) -> np.ndarray:
    """A placed linear element as the host lays it over an sRGB plate (Blender's sequencer composites in
    sRGB): straight sRGB colour times alpha. Placed in linear light as the written frames are, so the
    preview shows the lines the render will have."""
    element = straight_srgb(rgba)
    element[:, :, :3] *= element[:, :, 3:]
    return element


def render_preview(config: RenderConfig, frame: int, out_dir: str, models: ModelCache | None = None) -> dict:
    """One frame stylized and composited over its plate, as PNGs in ``out_dir`` (not the job's folder).

    Returns ``{"path": stylized png, "source_path": source png, "frame": n}``. The source PNG is the
    same picture at the same size: the plate, or for ``output_space = crop`` the face crop scaled to
    the stylized crop (the plate was sent, and clients drew it squashed into the crop's shape).
    """
    from engine.face import scale_and_crop
    from engine.io import open_source, write_png

    cache = models or ModelCache(config.device)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with open_source(config.source, config.start_number, orientation=config.orientation) as source:
        select_frames(str(frame), source.frame_numbers)
        backend, _ = make_backend(config, cache)
        key = resolved_job_key(config, backend, cache, source)
        memo_key = ("preview-shot", key, os.path.getmtime(source.path_pattern)
                    if os.path.exists(source.path_pattern) else 0)
        if memo_key not in cache.memo:
            cache.memo[memo_key] = analyse_shot(config, source, backend, key, None, "preview")
        analysis, wplus = cache.memo[memo_key]
        backend.prepare(analysis, wplus)
        plate = source.read(frame)
        crops = analysis.frame_crops(frame)  # fixed, or where each face is on this frame (follow_faces)
        if analysis.faces:
            results = [backend.stylize([scale_and_crop(plate, c)], face=i)[0] for i, c in enumerate(crops)]
        else:
            result = backend.stylize([scale_and_crop(plate, crops[0])])[0]
        stem = config.name or out.source_stem(source.path_pattern)
    before = plate  # what the preview is compared with, pixel for pixel
    if analysis.faces:  # several faces are plate-space only (RenderConfig)
        from engine.pipeline.multiface import composite_faces, union_placement

        placements = [plan_plate_placement(c, tuple(analysis.source_size), 1.0, (r.rgb.shape[1], r.rgb.shape[0]))
                      for c, r in zip(crops, results)]
        faces = composite_faces(analysis.face_names(), results, placements, (), srgb_to_linear)
        image = composite_over(premultiplied_srgb(faces.rgba), plate.astype(np.float32) / 255.0,
                               union_placement(placements))
    elif config.output_space == "plate":
        placement = plan_plate_placement(crops[0], tuple(analysis.source_size), 1.0,
                                         (result.rgb.shape[1], result.rgb.shape[0]))
        element = premultiplied_srgb(place_rgba(srgb_to_linear(result.rgb), placement))
        image = composite_over(element, plate.astype(np.float32) / 255.0, placement)
    else:
        image = result.rgb
        before = cv2.resize(scale_and_crop(plate, crops[0]), (image.shape[1], image.shape[0]),
                            interpolation=cv2.INTER_CUBIC)
    stylized_path = target / f"preview_{stem}_{frame}.png"
    source_path = target / f"preview_{stem}_{frame}_source.png"
    write_png(stylized_path, quantise(image, 8))
    write_png(source_path, before)
    return {"path": str(stylized_path), "source_path": str(source_path), "frame": int(frame),
            "backend": backend.name}
