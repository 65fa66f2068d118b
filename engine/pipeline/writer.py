"""Placing a stylized crop over its plate and writing the frame's files with the job's metadata.

EXR: scene-linear premultiplied RGBA in the face box's data window over the plate's display window,
mattes as ``matte.<class>`` channels. PNG: the full sRGB frame with straight alpha. Every file is
written to a temp name and renamed (``engine.io``), so a frame is complete or absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import __version__
from engine.errors import setting
from engine.pipeline import outputs as out
from engine.pipeline.config import RenderConfig
from engine.pipeline.placement import (
    Placement,
    place_matte,
    place_rgba,
    plan_crop_placement,
    plan_plate_placement,
    plate_box,
)
from engine.pipeline.plate_prints import PLATE_STAMP, plate_print
from engine.pipeline.stylized import Stylized


class FrameWriter:
    """Places a stylized crop and writes its files (atomically) with the job's metadata."""

    def __init__(self, config: RenderConfig, naming: out.OutputNaming, analysis, backend, timecode=None,
                 source=None) -> None:
        self.config = config
        self.source = source
        """The frame source: a sequence's frames record the plate file each was rendered from."""
        self.naming = naming
        self.analysis = analysis
        self.crop = analysis.crop_params()
        self.backend_name = backend.name
        self.mattes = backend.mattes if config.mattes else ()
        self._placement: Placement | None = None
        self.face_names = analysis.face_names() if getattr(analysis, "faces", ()) else []
        """``face01``, ``face02``, ... for a several-faces job (``write_faces``); empty for one face."""
        self.crops = analysis.face_crops() if self.face_names else [self.crop]
        self.follow = getattr(analysis, "follow", None) is not None
        """Crops that follow their faces (``--follow-faces``): placed per frame, where the frame's crop is."""
        self._face_placements: dict[tuple, Placement] = {}
        self.timecode = timecode
        """``engine.io.timecode.SourceTimecode`` of the source, or None (then no timecode is written)."""

    def frame_crops(self, frame: int) -> list:
        """Every face's crop on ``frame`` (the fixed crops unless they follow their faces)."""
        return self.analysis.frame_crops(frame) if self.follow else self.crops

    def placement(self, stylized_size: tuple[int, int], frame: int | None = None) -> Placement:
        if self.follow and self.config.output_space == "plate":
            return self.face_placement(0, stylized_size, frame)
        if self._placement is None:
            if self.config.output_space == "plate":
                self._placement = plan_plate_placement(self.crop, tuple(self.analysis.source_size),
                                                       self.config.scale, stylized_size)
            else:
                w, h = stylized_size
                out.check_frame_memory(round(w * self.config.scale), round(h * self.config.scale),
                                       f"use a smaller {setting('scale')}",
                                       f"{setting('scale', float(self.config.scale))} in crop space")
                self._placement = plan_crop_placement(stylized_size, self.config.scale)
        return self._placement

    def face_placement(self, index: int, stylized_size: tuple[int, int], frame: int | None = None) -> Placement:
        """Face ``index``'s placement over the plate on ``frame`` (computed once per crop position)."""
        crop = self.frame_crops(frame)[index] if self.follow and frame is not None else self.crops[index]
        key = (index, crop.as_tuple(), tuple(stylized_size))
        if key not in self._face_placements:
            if len(self._face_placements) > 256:  # a following crop has few positions; bound it anyway
                self._face_placements.clear()
            self._face_placements[key] = plan_plate_placement(
                crop, tuple(self.analysis.source_size), self.config.scale, stylized_size)
        return self._face_placements[key]

    def display_origin(self) -> tuple[int, int]:
        """Top-left of the output's display window: the plate's (scaled) in plate space, so an EXR
        output lines up over a plate whose window does not start at (0, 0); (0, 0) for crops."""
        if self.config.output_space != "plate":
            return 0, 0
        ox, oy = getattr(self.analysis, "display_origin", (0, 0))
        return round(ox * self.config.scale), round(oy * self.config.scale)

    def metadata(self, frame: int, picture: int | None = None) -> dict:
        """The frame's header attributes; ``picture``: the frame whose crop it shows (held VFR pictures)."""
        crops = self.frame_crops(frame if picture is None else picture)
        size = tuple(self.analysis.source_size)
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
            "vtoonify/crop_box": ",".join(f"{v:.3f}" for v in plate_box(crops[0], size)),
            "vtoonify/job": self.analysis.job_key,
            "Software": f"VToonify Studio {__version__}",
        }
        if self.face_names:
            boxes = []
            for name, crop in zip(self.face_names, crops):
                boxes.append(f"{name}:" + ",".join(f"{v:.3f}" for v in plate_box(crop, size)))
            meta["vtoonify/faces"] = ";".join(boxes)
        if self.timecode is not None:
            meta.update(self.timecode.text_attributes(frame))
        plate_file = self.plate_print(frame)
        if plate_file is not None:
            meta[PLATE_STAMP] = plate_file
        return meta

    def plate_print(self, frame: int) -> str | None:
        """The fingerprint of ``frame``'s plate file (sequences only), which ``--resume`` checks."""
        return plate_print(self.source, frame) if self.source is not None else None

    def write(self, frame: int, result: Stylized, plate: np.ndarray, picture: int | None = None) -> Path:
        """One face's frame; ``picture``: the frame whose crop was stylized (default ``frame``; a held
        picture of a variable-frame-rate video is stylized once and written under several frames)."""
        from engine.io import srgb_to_linear

        h, w = result.rgb.shape[:2]
        picture = frame if picture is None else picture
        placement = self.placement((w, h), picture)
        mattes = {n: place_matte(result.mattes[n], placement) for n in self.mattes if n in result.mattes}
        # Placed (resampled, feathered) in linear light for every format: a PNG resampled in sRGB drew the
        # toon lines up to 24/255 heavier than the EXR of the same render (_write_files encodes it back).
        rgba = place_rgba(srgb_to_linear(result.rgb), placement)
        crypto = None
        if self.config.format == "exr" and self.config.cryptomatte:
            from engine.io.cryptomatte import cryptomatte_layers

            crypto = cryptomatte_layers(mattes, rgba[:, :, 3])
        return self._write_files(frame, rgba, mattes, placement, crypto, picture=picture)

    def write_faces(self, frame: int, results: list[Stylized], plate: np.ndarray, picture: int | None = None
                    ) -> Path:
        """A several-faces frame: every face placed and painted (``multiface``), the data window their
        union, mattes ``<face>_<class>``, Cryptomatte one id per face."""
        from engine.io import srgb_to_linear
        from engine.pipeline.multiface import composite_faces, union_placement

        picture = frame if picture is None else picture
        placements = [self.face_placement(i, (r.rgb.shape[1], r.rgb.shape[0]), picture) for i, r in enumerate(results)]
        exr = self.config.format == "exr"
        faces = composite_faces(self.face_names, results, placements, self.mattes, srgb_to_linear)
        crypto = None
        if exr and self.config.cryptomatte:
            from engine.io.cryptomatte import coverage_layers

            crypto = coverage_layers(faces.coverage)
        return self._write_files(frame, faces.rgba, faces.mattes, union_placement(placements), crypto, picture=picture)

    def _write_files(self, frame: int, rgba: np.ndarray, mattes: dict[str, np.ndarray], placement: Placement,
                     crypto_layers=None, picture: int | None = None) -> Path:
        """Write the placed element (premultiplied linear) and its mattes: EXR as it is, PNG as straight sRGB;
        as one ``write_gate`` write: a process leaving its job meanwhile waits for all of the frame's files."""
        from engine.io import write_gate

        with write_gate.writing():
            return self._write_frame_files(frame, rgba, mattes, placement, crypto_layers, picture)

    def _write_frame_files(self, frame: int, rgba: np.ndarray, mattes: dict[str, np.ndarray], placement: Placement,
                           crypto_layers=None, picture: int | None = None) -> Path:
        from engine.io import write_exr, write_grey, write_png

        meta = self.metadata(frame, picture)
        x0, y0, x1, y1 = placement.window
        out_w, out_h = placement.out_size
        ox, oy = self.display_origin()
        path = self.naming.beauty(frame)
        if self.config.format == "exr":
            if self.timecode is not None:
                meta.update(self.timecode.exr_attributes(frame))
            # the beauty's only: a matte file must not claim Cryptomatte layers
            crypto, crypto_meta = crypto_layers if crypto_layers is not None else ({}, {})
            layers, origin = (rgba, mattes), (ox + x0, oy + y0)
            if self.config.data_window == "full":  # hosts that ignore the data window see the face in place
                layers, origin = full_frame(rgba, mattes, placement), (ox, oy)
                crypto = full_frame(rgba[:, :, :1], crypto, placement)[1]
            beauty_mattes = layers[1] if self.config.matte_layers else None  # off: plain RGBA + matte files
            write_exr(path, layers[0], mattes=beauty_mattes or None, metadata={**meta, **crypto_meta},
                      compression=self.config.exr_compression, full_size=(out_w, out_h), origin=origin,
                      full_origin=(ox, oy), float_channels=crypto or None)
        else:
            canvas = np.zeros((out_h, out_w, 4), np.float32)
            canvas[y0:y1, x0:x1] = straight_srgb(rgba)
            write_png(path, quantise(canvas, self.config.png_bits), metadata=meta)
        if self.naming.matte_files:
            for name, matte in mattes.items():
                full = np.zeros((out_h, out_w), np.float32)
                full[y0:y1, x0:x1] = matte
                write_grey(self.naming.matte(name, frame), full, fmt=self.config.format,
                           bits=self.config.png_bits, metadata=meta)
        return path


def straight_srgb(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied linear RGBA -> straight-alpha sRGB RGBA (PNG's convention); no colour where alpha is 0."""
    from engine.io import linear_to_srgb

    alpha = rgba[:, :, 3:4]
    straight = np.where(alpha > 1e-6, rgba[:, :, :3] / np.maximum(alpha, 1e-6), 0.0)
    return np.concatenate([linear_to_srgb(straight), alpha], axis=2)


def full_frame(rgba: np.ndarray, mattes: dict[str, np.ndarray], placement: Placement
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The data-window element and mattes pasted into zero frames of the display window's size."""
    x0, y0, x1, y1 = placement.window
    out_w, out_h = placement.out_size
    canvas = np.zeros((out_h, out_w, rgba.shape[2]), np.float32)
    canvas[y0:y1, x0:x1] = rgba
    full = {}
    for name, matte in mattes.items():
        full[name] = np.zeros((out_h, out_w), np.float32)
        full[name][y0:y1, x0:x1] = matte
    return canvas, full


def quantise(img: np.ndarray, bits: int) -> np.ndarray:
    top = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    return (np.clip(img, 0.0, 1.0) * top + 0.5).astype(dtype)
