"""Shot analysis, done once per job and shared by every chunk through a sidecar file.

The first frame of the *shot* (not of the chunk) that shows a face defines the crop for every frame,
earlier frames included, as the official pipeline defines it from its first valid frame. The result is
written atomically to ``OUTDIR/<stem>.vtoonify.json`` (and the style code to ``<stem>.vtoonify.style.pt``)
under a lock on the output folder, so concurrent farm chunks read one set of values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine import __version__
from engine.errors import ConfigError, InputError, NoFaceError

SIDECAR_VERSION = 1


@dataclass(frozen=True)
class ShotAnalysis:
    """What every frame of a shot shares: crop, blur count and the style code's file."""

    source: str
    source_size: tuple[int, int]
    """Source frame width, height."""
    face_frame: int
    """Frame number whose face defined the crop."""
    landmarks: tuple[tuple[int, int], ...]
    """68 dlib landmarks in that frame (source pixels)."""
    crop: dict
    """``CropParams.to_dict()``: h, w, top, bottom, left, right, scale."""
    preblurs: int
    backend: str
    style: dict
    """Style description written into metadata (family, backbone, style id, name, checkpoint, ...)."""
    job_key: str
    """Hash of every setting that changes pixels: chunks of one job must agree on it."""
    style_code: str | None = None
    """File name (in the output folder) of the W+ style code [1,18,512], VToonify only."""
    engine_version: str = __version__
    version: int = SIDECAR_VERSION

    def crop_params(self):
        from engine.face import CropParams

        return CropParams.from_dict(self.crop)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["landmarks"] = [list(p) for p in self.landmarks]
        data["source_size"] = list(self.source_size)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ShotAnalysis:
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in fields}
        data["landmarks"] = tuple(tuple(int(v) for v in p) for p in data["landmarks"])
        data["source_size"] = tuple(data["source_size"])
        return cls(**data)


PIXEL_SETTINGS = ("backend", "backbone", "style", "style_id", "degree", "color_transfer", "exstyle_image",
                  "output_space", "scale", "padding", "smooth_parsing", "format", "exr_compression",
                  "png_bits", "mattes", "matte_files", "matte_classes", "start_number", "name", "precision")


def job_key(config, backend: str, model_files: dict[str, str], device: str = "cpu") -> str:
    """Stable hash of the settings, model files and device kind that decide a job's pixels.

    The device kind (``cpu``/``cuda``) is part of it because the two give slightly different pixels:
    a farm chunk on a GPU worker must not add frames to a look a CPU worker started."""
    settings = {k: getattr(config, k) for k in PIXEL_SETTINGS}
    settings["backend"] = backend
    settings["device"] = device
    settings["source"] = os.path.abspath(config.source)
    settings["padding"] = list(config.padding)
    settings["model_files"] = {k: os.path.basename(v) for k, v in sorted(model_files.items())}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def job_device(backend, cache) -> str:
    """The device kind that computes a job's pixels: the cache's for VToonify; the classic look is
    OpenCV on the CPU wherever it runs, so its frames may come from any worker."""
    return cache.device.type if backend.name == "vtoonify" else "cpu"


def sidecar_path(out_dir: Path, stem: str) -> Path:
    return out_dir / f"{stem}.vtoonify.json"


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Exclusive advisory lock on the output folder (POSIX flock; no lock file is left behind).

    Where the filesystem has no flock (some network mounts, Windows) chunks still agree, because the
    analysis is deterministic; they only may compute it twice.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_json_atomic(path: Path, data: dict) -> None:
    from engine.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def read_sidecar(path: Path) -> ShotAnalysis | None:
    if not path.exists():
        return None
    try:
        return ShotAnalysis.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: analysed again and replaced


def find_face_frame(source, cancel=None):
    """First frame (in source order) with a face: (frame number, rgb, landmarks)."""
    from engine.face import find_landmarks

    for number, rgb in source.read_many(source.frame_numbers):
        if cancel is not None and cancel.is_set():
            from engine.errors import JobCancelled

            raise JobCancelled("job cancelled during shot analysis")
        landmarks = find_landmarks(rgb)
        if landmarks is not None:
            return number, rgb, landmarks
    raise NoFaceError(
        f"no face was found in any of the {len(source.frame_numbers)} frames of {source.path_pattern}",
        "use a shot where a face is visible and at least ~64 px between the eyes, or crop the plate")


def analyse_shot(config, source, backend, key: str, out_dir: Path | None, stem: str,
                 cancel=None) -> tuple[ShotAnalysis, object]:
    """Detect, crop and (for VToonify) encode the style: (analysis, W+ tensor or None).

    The style code is saved beside the sidecar when ``out_dir`` is given (previews pass None)."""
    from engine.face import crop_parameters, num_preblurs

    face_frame, rgb, landmarks = find_face_frame(source, cancel)
    h, w = rgb.shape[:2]
    crop = crop_parameters(landmarks, (h, w), tuple(config.padding))
    if crop.bottom - crop.top < 8 or crop.right - crop.left < 8:
        raise InputError(f"the face in frame {face_frame} leaves no usable crop ({crop.as_tuple()})",
                         "check the plate: the face must be inside the frame")
    style_code_name = None
    style_info = backend.describe_style()
    wplus = backend.style_code(rgb, landmarks, crop)
    if wplus is not None and out_dir is not None:
        style_code_name = f"{stem}.vtoonify.style.pt"
        _save_tensor_atomic(out_dir / style_code_name, wplus)
    return ShotAnalysis(
        source=os.path.abspath(config.source),
        source_size=(w, h),
        face_frame=int(face_frame),
        landmarks=tuple((int(x), int(y)) for x, y in landmarks),
        crop=crop.to_dict(),
        preblurs=num_preblurs(crop.scale),
        backend=backend.name,
        style=style_info,
        job_key=key,
        style_code=style_code_name,
    ), wplus


def _save_tensor_atomic(path: Path, tensor) -> None:
    import torch

    from engine.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(tensor.detach().cpu().contiguous(), tmp)


def load_or_analyse(config, source, backend, key: str, out_dir: Path, stem: str, cancel=None):
    """The job's shot analysis: reused from the sidecar when its job key matches, else computed.

    Returns (analysis, wplus or None, analysed: True when computed by this call). A sidecar of other
    settings means the folder holds frames rendered differently: with ``--resume`` that is an error;
    otherwise those frames are an error too unless ``--overwrite`` deletes them first, so one folder
    never mixes two looks.
    """
    import torch

    from engine.pipeline.outputs import existing_frame_files

    path = sidecar_path(out_dir, stem)
    with folder_lock(out_dir):
        existing = read_sidecar(path)
        if existing is not None and existing.job_key == key:
            wplus = None
            if existing.style_code:
                code_path = out_dir / existing.style_code
                if code_path.exists():
                    wplus = torch.load(code_path, map_location="cpu", weights_only=True)
                else:
                    existing = None
            if existing is not None:
                return existing, wplus, False
        elif existing is not None and config.resume:
            raise ConfigError(
                f"{path.name} in the output folder belongs to a job with other settings",
                "render into a new output folder, or run without --resume to start the job again")
        elif existing is not None:
            others = existing_frame_files(out_dir, stem)
            if others and not config.overwrite:
                raise ConfigError(
                    f"{out_dir} holds {len(others)} files of an earlier {stem} job with other settings",
                    "render into a new output folder, or pass --overwrite to delete them first")
            for old in others:
                old.unlink(missing_ok=True)
        analysis, wplus = analyse_shot(config, source, backend, key, out_dir, stem, cancel)
        write_json_atomic(path, analysis.to_dict())
        return analysis, wplus, True
