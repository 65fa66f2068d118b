"""Shot analysis, done once per job and shared by every chunk through a sidecar file.

The first frame of the *shot* (not of the chunk) that shows a face defines the crop for every frame,
earlier frames included, as the official pipeline defines it from its first valid frame. The result is
written atomically to ``OUTDIR/<stem>.vtoonify.json`` (and the style code to ``<stem>.vtoonify.style.pt``)
under a lock on the output folder, so concurrent farm chunks read one set of values.

The job claim: a running job holds a shared lock on its sidecar until its last frame. A job with other
settings takes the folder lock, finds that sidecar held, and is refused, so two looks never mix in one
folder even when both start at the same moment. A sidecar is checked against the source and recomputed
crop before it is used (a hand-edited one is analysed again, never trusted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from engine import __version__
from engine.errors import THERE, ConfigError, InputError, NoFaceError, difference, for_cli, setting
from engine.pipeline.legacy_warnings import marked_warning

SIDECAR_VERSION = 1
FACES_SIDECAR_VERSION = 2
"""Written when a job stylizes every face (``faces``); one-face sidecars stay version 1, byte for byte."""

SAMPLED_FRAMES = 16
"""With ``--faces all``: frames (from the first face frame to the last) searched for faces."""


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
    display_origin: tuple[int, int] = (0, 0)
    """Top-left of the plate's display window (EXR overscan / negative origins); outputs keep it."""
    warnings: tuple[str, ...] = ()
    """What the analysis had to decide for the artist (e.g. which of several faces was used)."""
    engine_version: str = __version__
    version: int = SIDECAR_VERSION
    timecode: dict | None = None
    """The source's start timecode (``SourceTimecode.to_dict()``), None when it has none."""
    faces: tuple[dict, ...] = ()
    """``--faces all``: one entry per face in id order (``id``, ``name``, ``frame``, ``box``,
    ``landmarks``, ``crop``, ``preblurs``, ``style_code``, ``seen``); the fields above then repeat
    face01's. Empty for one-face jobs (then not written at all)."""
    job_settings: dict | None = None
    """The settings ``job_key`` hashes (``job_settings()``), so a refusal can name what differs; None
    in sidecars of earlier engines (then not written at all)."""
    frame_grid: dict | None = None
    """Variable-frame-rate source: how its pictures map onto frame numbers (``FrameGrid.to_dict()``);
    None for constant rate (then not written at all)."""
    follow: dict | None = None
    """``--follow-faces``: each face's crop size and per-frame offsets (``engine.pipeline.following``);
    None when crops are fixed (then not written at all)."""
    source_fingerprint: str | None = None
    """``source_fingerprint()`` of the plate the analysis and frames were made from, so a plate re-exported
    over its file is not resumed onto; None for sequences and in sidecars of earlier engines (not written)."""

    def crop_params(self):
        from engine.face import CropParams

        return CropParams.from_dict(self.crop)

    def face_crops(self) -> list:
        """Every stylized face's ``CropParams`` in id order (one entry for a one-face job)."""
        from engine.face import CropParams

        return [CropParams.from_dict(f["crop"]) for f in self.faces] if self.faces else [self.crop_params()]

    def face_names(self) -> list[str]:
        return [f["name"] for f in self.faces]

    def frame_crops(self, frame: int) -> list:
        """Every face's ``CropParams`` on ``frame``: the fixed crops, or with ``follow`` the frame's own."""
        if self.follow is None:
            return self.face_crops()
        from engine.pipeline.following import frame_crops

        return frame_crops(self, frame)

    def sighting_crops(self) -> list:
        """Every face's crop on the frame it was first seen (where its landmarks were found)."""
        if self.follow is None:
            return self.face_crops()
        frames = [f["frame"] for f in self.faces] or [self.face_frame]
        return [self.frame_crops(frame)[i] for i, frame in enumerate(frames)]

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["landmarks"] = [list(p) for p in self.landmarks]
        data["source_size"] = list(self.source_size)
        data["display_origin"] = list(self.display_origin)
        data["warnings"] = list(self.warnings)
        if self.faces:
            data["faces"] = [dict(f) for f in self.faces]
        else:
            del data["faces"]
        if self.job_settings is None:
            del data["job_settings"]
        if self.frame_grid is None:
            del data["frame_grid"]
        if self.follow is None:
            del data["follow"]
        if self.source_fingerprint is None:
            del data["source_fingerprint"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ShotAnalysis:
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in fields}
        data["landmarks"] = tuple(tuple(_int(v) for v in p) for p in data["landmarks"])
        data["source_size"] = tuple(_int(v) for v in data["source_size"])
        data["display_origin"] = tuple(_int(v) for v in data.get("display_origin", (0, 0)))
        data["warnings"] = tuple(marked_warning(str(w)) for w in data.get("warnings", ()))  # earlier engines
        faces = data.get("faces", ())
        if not isinstance(faces, list | tuple) or not all(isinstance(f, dict) for f in faces):
            raise TypeError("faces is not a list of objects")
        data["faces"] = tuple(dict(f) for f in faces)
        if not isinstance(data.get("job_settings"), dict | None):
            raise TypeError("job_settings is not an object")
        if not isinstance(data.get("frame_grid"), dict | None):
            raise TypeError("frame_grid is not an object")
        if not isinstance(data.get("follow"), dict | None):
            raise TypeError("follow is not an object")
        if not isinstance(data.get("source_fingerprint"), str | None):
            raise TypeError("source_fingerprint is not a string")
        return cls(**data)


def _int(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not an integer")
    return value


def sidecar_problem(analysis: ShotAnalysis, source, config, stem: str) -> str | None:
    """Why a sidecar cannot be used for this source and job (None if it can): every value that sizes
    memory or names a file is checked, and the crop is recomputed from the landmarks."""
    w, h = (int(v) for v in source.size)
    wants_faces = getattr(config, "faces", "one") == "all"
    if analysis.version != (FACES_SIDECAR_VERSION if wants_faces else SIDECAR_VERSION):
        return f"sidecar version {analysis.version!r}"
    if wants_faces:
        problem = _faces_problem(analysis, source, config, stem)
        if problem is not None:
            return problem
    elif analysis.faces:
        return "a one-face sidecar lists faces"
    if tuple(analysis.source_size) != (w, h):
        return f"source size {analysis.source_size} is not the plate's {w}x{h}"
    if analysis.face_frame not in set(source.frame_numbers):
        return f"face frame {analysis.face_frame} is not in the source"
    if len(analysis.landmarks) != 68 or any(len(p) != 2 or not (-w <= p[0] <= 2 * w and -h <= p[1] <= 2 * h)
                                            for p in analysis.landmarks):
        return "landmarks are not 68 points on the plate"
    if analysis.style_code not in (None, style_code_name(stem, analysis.faces[0]["name"] if analysis.faces else None)):
        return f"style code file {analysis.style_code!r} is not this job's"
    if len(analysis.display_origin) != 2 or not all(abs(v) < 1 << 30 for v in analysis.display_origin):
        return "display window origin out of range"
    if not isinstance(analysis.style, dict) or not isinstance(analysis.crop, dict):
        return "malformed style or crop"
    if len(analysis.warnings) > 16 or any(len(w) > 1000 for w in analysis.warnings):
        return "warnings are not the engine's"
    if getattr(analysis, "timecode", None) is not None and not isinstance(analysis.timecode, dict):
        return "malformed timecode"
    if analysis.frame_grid != _frame_grid_dict(source):
        return "the source's frames are numbered differently (variable frame rate)"
    if bool(getattr(config, "follow_faces", False)) != (analysis.follow is not None):
        return "the crops follow their faces in one of the sidecar and the job only"
    if analysis.follow is not None:
        from engine.pipeline.following import follow_problem

        problem = follow_problem(analysis, source)
        if problem is not None:
            return problem
    return _crop_problem(analysis.landmarks, analysis.crop, analysis.preblurs, (w, h), config)


def _crop_problem(landmarks, crop_dict, preblurs, size: tuple[int, int], config) -> str | None:
    """Why a stored crop does not follow from its landmarks (None when it does)."""
    import numpy as np

    from engine.face import crop_parameters, num_preblurs

    w, h = size
    try:
        crop = crop_parameters(np.array(landmarks, dtype=np.int64), (h, w), tuple(config.padding))
    except Exception as exc:  # any failure means the landmarks are unusable
        return f"crop cannot be computed ({exc})"
    if crop.to_dict() != crop_dict or preblurs != num_preblurs(crop.scale):
        return "crop does not follow from the landmarks"
    return None


def _on_plate(points, w: int, h: int) -> bool:
    return len(points) == 68 and all(isinstance(p, list | tuple) and len(p) == 2
                                     and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
                                     and -w <= p[0] <= 2 * w and -h <= p[1] <= 2 * h for p in points)


def _faces_problem(analysis: ShotAnalysis, source, config, stem: str) -> str | None:
    """Why a several-faces sidecar cannot be used (None if it can): ids, names, frames, crops, codes."""
    w, h = (int(v) for v in source.size)
    faces = analysis.faces
    if not 1 <= len(faces) <= int(config.max_faces):
        return f"{len(faces)} faces is not 1 to {config.max_faces}"
    frames = set(source.frame_numbers)
    for index, face in enumerate(faces, 1):
        if face.get("id") != index or face.get("name") != face_name(index):
            return f"face {index} has id {face.get('id')!r} / name {face.get('name')!r}"
        if face.get("frame") not in frames:
            return f"{face['name']}: frame {face.get('frame')!r} is not in the source"
        if not _on_plate(face.get("landmarks", ()), w, h):
            return f"{face['name']}: landmarks are not 68 points on the plate"
        if face.get("style_code") not in (None, style_code_name(stem, face["name"])):
            return f"{face['name']}: style code file {face.get('style_code')!r} is not this job's"
        if not isinstance(face.get("crop"), dict):
            return f"{face['name']}: malformed crop"
        problem = _crop_problem(face["landmarks"], face["crop"], face.get("preblurs"), (w, h), config)
        if problem is not None:
            return f"{face['name']}: {problem}"
    first = faces[0]
    if (analysis.face_frame, [list(p) for p in analysis.landmarks], analysis.crop, analysis.style_code) != (
            first["frame"], [list(p) for p in first["landmarks"]], first["crop"], first["style_code"]):
        return "the shot's face is not face01"
    return None


FINGERPRINT_BLOCK = 1 << 20
"""Bytes hashed at each of a plate's start, middle and end: enough to tell a re-export, cheap on any file."""


def source_fingerprint(source) -> str | None:
    """A one-file plate's size and a hash of its first, middle and last MiB, or None (a sequence of several
    files, whose frames are fingerprinted one by one in their outputs: ``plate_prints``; an unreadable file,
    which the job reports itself). Content only, so every farm worker gets the same value."""
    from engine.io.fingerprint import file_fingerprint

    files = source.files()
    return file_fingerprint(files[0], FINGERPRINT_BLOCK) if len(files) == 1 else None


def face_name(index: int) -> str:
    """The name of face ``index`` (1-based) in mattes, Cryptomatte and file names: ``face01``."""
    return f"face{index:02d}"


def style_code_name(stem: str, face: str | None = None) -> str:
    """File name of a style code in the output folder (one per face with ``--faces all``)."""
    return f"{stem}.vtoonify.{face}.style.pt" if face else f"{stem}.vtoonify.style.pt"


PIXEL_SETTINGS = ("backend", "backbone", "style", "style_id", "degree", "color_transfer", "exstyle_image",
                  "output_space", "scale", "padding", "smooth_parsing", "format", "exr_compression",
                  "png_bits", "mattes", "matte_files", "matte_classes", "start_number", "name", "precision",
                  "data_window")


def job_key(config, backend: str, model_files: dict[str, str], device: str = "cpu",
            frame_grid=None, linear_png: bool = True) -> str:
    """Stable hash of the settings, model files and device kind that decide a job's pixels.

    The device kind (``cpu``/``cuda``) is part of it because the two give slightly different pixels:
    a farm chunk on a GPU worker must not add frames to a look a CPU worker started. A variable-frame-rate
    source's grid (``FrameGrid``) is too: it decides which picture frame N is."""
    text = json.dumps(job_settings(config, backend, model_files, device, frame_grid, linear_png), sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def job_settings(config, backend: str, model_files: dict[str, str], device: str = "cpu",
                 frame_grid=None, linear_png: bool = True) -> dict:
    """The settings ``job_key`` hashes, as JSON values (what the sidecar records beside the key);
    ``linear_png=False``: as engines before linear PNG placement hashed them (``srgb_placed_keys``)."""
    settings = {k: getattr(config, k) for k in PIXEL_SETTINGS}
    settings["backend"] = backend
    settings["device"] = device
    settings["source"] = os.path.abspath(config.source)
    settings["padding"] = list(config.padding)
    if getattr(config, "cryptomatte", False):  # only when set, so keys of earlier jobs stay the same
        settings["cryptomatte"] = True
    if getattr(config, "orientation", "display") != "display":  # likewise
        settings["orientation"] = config.orientation
    if not getattr(config, "matte_layers", True):  # only when off: earlier keys stay the same
        settings["matte_layers"] = False
    if getattr(config, "faces", "one") != "one":  # likewise: one-face keys are those of earlier jobs
        settings["faces"] = config.faces
        settings["max_faces"] = int(config.max_faces)
    if getattr(config, "follow_faces", False):  # likewise: fixed-crop keys are those of earlier jobs
        settings["follow_faces"] = True
    if linear_png and places_png(config):  # PNG frames placed in sRGB by earlier engines have other pixels
        settings["placement"] = PNG_PLACEMENT
    if frame_grid is not None:  # VFR only: constant-rate keys stay those of earlier engines
        settings["frame_grid"] = f"{frame_grid.rate.numerator}/{frame_grid.rate.denominator} fps"
    settings["model_files"] = {k: os.path.basename(v) for k, v in sorted(model_files.items())}
    return json.loads(json.dumps(settings, default=str))


PNG_PLACEMENT = "linear"
"""Recorded in a PNG plate job's key: engines before it placed (resampled, feathered) PNG frames in sRGB,
whose toon lines differ from linear placement by up to 33/255, so their frames are another job's."""


def places_png(config) -> bool:
    """Whether the job resamples PNG frames into the plate (``--output-space crop`` does not: its PNG
    frames were and stay the same, so its key stays that of earlier engines, as EXR keys do)."""
    return getattr(config, "format", "exr") == "png" and getattr(config, "output_space", "plate") != "crop"


def resolved_job_key(config, backend, cache, source=None) -> str:
    """The job key of ``config`` run by ``backend``: with the precision the backend resolved ("auto" is
    bf16 or fp32 by device), so the same pixels always get the same key (render, prepare, preview);
    ``source``: the opened source, whose frame grid (variable frame rate) is part of the key."""
    return job_key(pixel_config(source_config(config, source), backend), backend.name,
                   backend.model_files(), job_device(backend, cache), getattr(source, "frame_grid", None))


def source_config(config, source):
    """``config`` as ``source`` reads it: an image sequence keeps its files' numbers, so ``--start-number``
    changes nothing there and is left out of its key (the default's, so default keys stay as they were):
    chunks of one sequence differing only in it are one job (the job warns that it is ignored)."""
    from engine.service.catalog import DEFAULTS

    if getattr(source, "kind", "") != "sequence":
        return config
    return dataclasses.replace(config, start_number=DEFAULTS["start_number"])


def legacy_job_keys(config, backend, cache, source=None) -> tuple[str, ...]:
    """Keys earlier engines gave this job, so a job they started still resumes its own sidecar and frames:
    they hashed ``--backbone`` as given (not the resolved one), ``--color-transfer`` as asked even where
    the model forced it on (a family of ``_c`` models only), an image sequence's ``--start-number``, and
    a classic job's VToonify controls (``--style``, ``--style-id``, ..., ``--smooth-parsing``) as asked."""
    resolved = pixel_config(source_config(config, source), backend)
    if places_png(resolved):  # every earlier engine placed these PNG frames in sRGB: srgb_placed_keys
        return ()
    return _keys(resolved, _legacy_variants(config, resolved, backend), backend, cache, source)


def srgb_placed_keys(config, backend, cache, source=None) -> tuple[str, ...]:
    """Keys earlier engines gave this job when they placed its PNG frames in sRGB (before linear placement,
    ``PNG_PLACEMENT``): a folder of those frames is refused for resume rather than mixed with linear ones
    (a visible step in the lines mid-shot). Empty for EXR and crop-space jobs, whose pixels did not change."""
    resolved = pixel_config(source_config(config, source), backend)
    if not places_png(resolved):
        return ()
    return _keys(resolved, [{}, *_legacy_variants(config, resolved, backend)], backend, cache, source, False)


def _keys(resolved, variants: list[dict], backend, cache, source, linear_png: bool = True) -> tuple[str, ...]:
    return tuple(job_key(dataclasses.replace(resolved, **changes), backend.name, backend.model_files(),
                         job_device(backend, cache), getattr(source, "frame_grid", None), linear_png)
                 for changes in variants)


def _legacy_variants(config, resolved, backend) -> list[dict]:
    """The settings earlier engines hashed otherwise for this job (``legacy_job_keys``)."""
    variants = []
    if resolved.start_number != config.start_number:
        variants.append({"start_number": config.start_number})
    if config.backbone != "auto":
        variants.append({"backbone": config.backbone})
    asked = {k: getattr(config, k) for k in CLASSIC_IGNORED if getattr(config, k) != getattr(resolved, k)}
    if backend.name != "vtoonify" and asked:
        variants.append(asked)
        if config.backbone != "auto":
            variants.append({**asked, "backbone": config.backbone})
    forced = backend.name == "vtoonify" and getattr(backend, "backbone", None) != "toonify"
    if forced and resolved.color_transfer != config.color_transfer:
        variants.append({"color_transfer": config.color_transfer})
        if config.backbone != "auto":
            variants.append({"backbone": config.backbone, "color_transfer": config.color_transfer})
    return variants


def resolved_job_settings(config, backend, cache, source=None) -> dict:
    """The settings behind ``resolved_job_key`` (same resolved precision, device kind and frame grid)."""
    return job_settings(pixel_config(source_config(config, source), backend), backend.name,
                        backend.model_files(), job_device(backend, cache), getattr(source, "frame_grid", None))


CLASSIC_IGNORED = ("style", "style_id", "degree", "color_transfer", "exstyle_image", "smooth_parsing")
"""The VToonify model's controls: the classic look (``ClassicStylizer``, fixed parameters) takes none, nor
parsing maps to smooth (the render makes no parsing smoother for it)."""


def pixel_config(config, backend):
    """``config`` as its pixels see it: the precision the backend resolved, the backbone as ``auto`` and,
    for a VToonify-T model (which has no exemplar, degree or colour transfer) or the classic backend (which
    has no model: ``CLASSIC_IGNORED``), the catalog defaults for the controls it ignores, so farm chunks
    differing only in those share a key (jobs at the defaults keep theirs). Colour transfer is the one the
    network runs (``backend.config``): a family of ``_c`` models only forces it on, and the sidecar must not
    record it off.

    The backbone a job resolved is in its key already, through the checkpoint names of ``model_files``
    (``vtoonify.pt`` for VToonify-T, ``vtoonify_s*_d*.pt`` and the exemplar codes for VToonify-D), and
    the classic backend has none: so ``--backbone auto`` and the backbone it resolves to share one job,
    and default (``auto``) keys stay those of earlier engines (``legacy_job_keys`` covers the others)."""
    from engine.service.catalog import DEFAULTS

    config = dataclasses.replace(config, precision=backend.precision, backbone="auto")
    if backend.name != "vtoonify":
        model_defaults = {**DEFAULTS, "exstyle_image": None, "smooth_parsing": False}
        return dataclasses.replace(config, **{k: model_defaults[k] for k in CLASSIC_IGNORED})
    if getattr(backend, "backbone", None) != "toonify":
        return dataclasses.replace(config, color_transfer=bool(backend.config.color_transfer))
    return dataclasses.replace(config, style_id=DEFAULTS["style_id"], degree=DEFAULTS["degree"],
                               color_transfer=DEFAULTS["color_transfer"], exstyle_image=None)


_SETTING_FIXES = {
    "precision": lambda old: _pass_to_every_task("precision", old),
    "device": lambda old: _farm_or_not(f"run every task on {old} workers ({setting('device', old)})", "device", old),
    "faces": lambda old: _pass_to_every_task("faces", old),
    "max_faces": lambda old: _pass_to_every_task("max_faces", old),
    "padding": lambda old: _farm_or_not(f"pass the same {setting('padding')} to every task", "padding", old),
    "source": lambda old: f"render {old} into it, as the folder's job did",  # the CLI's positional argument
    "placement": lambda old: "render the whole shot with this engine (an earlier engine placed PNG frames into the "
                             "plate in sRGB, this one in linear light)",
    "frame_grid": lambda old: for_cli("render every task with the same engine version", "render it with the same "
                                      "engine version as the folder's job") + ": this source has a variable frame "
                              "rate, which earlier engines numbered picture by picture instead of on its frame grid",
}


def settings_difference(recorded: dict | None, current: dict | None) -> tuple[str, str] | None:
    """(which settings differ with both values, how to make the tasks agree), or None when the sidecar
    does not record its settings (earlier engines) or nothing recorded differs."""
    if not isinstance(recorded, dict) or not isinstance(current, dict):
        return None
    names = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))
    if not names:
        return None
    shown = "; ".join(_placement_difference(recorded.get(k), current.get(k)) if k == "placement"
                      else difference(k, recorded.get(k), current.get(k)) for k in names)
    fixes = [_SETTING_FIXES[k](recorded.get(k)) if k in _SETTING_FIXES else _same_as_before(k, recorded.get(k))
             for k in names]
    return shown, "; ".join(fixes) + for_cli(" (see docs/FARM.md)")  # the repo's docs: the CLI's reader only


def _placement_difference(there, here) -> str:
    """PNG placement is no setting a reader can give: named in words, the farm's for the CLI."""
    words = {None: "sRGB (an earlier engine)", PNG_PLACEMENT: "linear light"}
    farm = f"placement: prepare/sidecar has {_shown(there)}, this task resolves {_shown(here)}"
    return for_cli(farm, f"PNG placement: {words.get(there, there)}{THERE}, {words.get(here, here)} in this shot")


def _pass_to_every_task(name: str, old) -> str:
    """Every farm task given the folder's value of ``name`` (left out where the folder's job left it unset:
    a task cannot be passed 'None')."""
    if old is None:
        return _farm_or_not(f"leave {setting(name)} out of every task", name, old)
    return _farm_or_not(f"pass {setting(name, old)} to every task", name, old)


def _farm_or_not(farm_fix: str, name: str, old) -> str:
    """A farm task's fix for the CLI's reader, the generic one (``_same_as_before``) for every other."""
    return for_cli(farm_fix, _same_as_before(name, old))


def _same_as_before(name: str, old) -> str:
    """How to render ``name`` as the folder's job did, the setting named in each reader's words (a farm task's
    flag, a protocol field, a panel or add-on control)."""
    from engine.pipeline.config import RenderConfig

    if name not in {f.name for f in dataclasses.fields(RenderConfig)}:  # model_files: not a setting to give
        return f"render with the same {name} as the folder's job ({_shown(old)})"
    if old is None:
        return f"leave {setting(name)} out, as the folder's job did"
    if old is False and name != "matte_layers":  # the CLI has no flag for off but --no-matte-layers
        return f"render without {setting(name, True)}, as the folder's job did"
    return f"render with {setting(name, old)}, as the folder's job did"


def _shown(value) -> str:
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _refusal(message: str, fix: str, existing: ShotAnalysis, settings: dict | None) -> ConfigError:
    """The refusal of a job with other settings, naming the settings that differ when the sidecar
    records them (else the generic message of earlier engines)."""
    diff = settings_difference(existing.job_settings, settings)
    if diff is None:
        return ConfigError(message, fix)
    return ConfigError(f"{message}: {diff[0]}", f"{diff[1]}; or {fix}")


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
    from engine.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)


MAX_SIDECAR_BYTES = 1 << 24
"""A following job stores every face's offset changes: 32 faces over a long shot stay far below this."""


def open_sidecar(path: Path) -> int | None:
    """Open the sidecar (a regular file, never through a link) for reading and locking; None if absent."""
    try:  # O_NONBLOCK: a FIFO planted at the sidecar's name would block the open until a writer came
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path.name} in the output folder cannot be opened ({exc.strerror or exc})",
                          "remove it if it is not a VToonify sidecar (links are never followed)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)"
        raise ConfigError(f"{path.name} in the output folder is {kind}",
                          "move it away if it is not a VToonify sidecar")
    return fd


def parse_sidecar(fd: int) -> ShotAnalysis | None:
    """The analysis in an open sidecar; None if it is unreadable or oversized (then analysed again)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, MAX_SIDECAR_BYTES + 1)
        if len(raw) > MAX_SIDECAR_BYTES:
            return None
        data = json.loads(raw.decode("utf-8"))
        return ShotAnalysis.from_dict(data) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError, OSError, RecursionError):  # RecursionError: "[[[[..." 100k deep
        return None


def written_by_us(fd: int) -> bool:
    """Whether an unreadable sidecar is still one of ours (a JSON object with a ``job_key``, of an
    engine whose fields changed): it may be replaced by a new analysis. Anything else at the name is
    somebody's file, which the engine never overwrites."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, MAX_SIDECAR_BYTES + 1)
        data = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_SIDECAR_BYTES else None
    except (ValueError, OSError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("job_key"), str)


def read_sidecar(path: Path) -> ShotAnalysis | None:
    fd = open_sidecar(path)
    if fd is None:
        return None
    try:
        return parse_sidecar(fd)
    finally:
        os.close(fd)


def stop_if_cancelled(cancel) -> None:
    """JobCancelled once ``cancel`` is set: between the analysis' long steps (a 1.2 GB encoder load, the
    pSp pass, each frame searched), so a cancelled job stops there and writes nothing more."""
    if cancel is not None and cancel.is_set():
        from engine.errors import JobCancelled

        raise JobCancelled("job cancelled during shot analysis")


def find_face_frame(source, cancel=None):
    """First frame (in source order) with a face: (frame number, rgb, landmarks, warnings)."""
    from engine.face import locate_faces, several_faces_warning

    for number, rgb in source.read_many(source.frame_numbers):
        stop_if_cancelled(cancel)
        landmarks, boxes = locate_faces(rgb)
        if landmarks is not None:
            note = several_faces_warning(number, boxes)
            return number, rgb, landmarks, (note,) if note else ()
    raise no_face_error(source, len(source.frame_numbers))


def no_face_error(source, count: int) -> NoFaceError:
    """No face in ``count`` frames; for an image or sequence whose first file has no pixels inside its
    display window (a mis-set EXR data window), that is named as the cause instead of the face size."""
    empty = None
    if getattr(source, "kind", "") in ("image", "sequence"):
        from engine.io.image import empty_plate_reason

        empty = empty_plate_reason(source.files()[0])
    if empty:
        return NoFaceError(f"no face was found in any of the {count} frames of {source.path_pattern}: {empty}",
                           "re-export the plate with its data window inside the display window")
    rotation = getattr(source, "display_rotation", 0) if getattr(source, "kind", "") == "video" else 0
    if rotation:  # phone clips whose rotation metadata is wrong (or a host that ignores it) read sideways
        applied = getattr(source, "rotation_applied", True)
        other = "stored" if applied else "display"
        return NoFaceError(f"no face was found in any of the {count} frames of {source.path_pattern}, read "
                           f"{'turned by' if applied else 'without'} its {rotation}-degree display rotation"
                           f"{' as players show it' if applied else ' (as coded)'}",
                           f"if the face lies sideways there, render with {setting('orientation', other)}; else use a "
                           "shot where a face is visible and at least ~64 px between the eyes")
    return NoFaceError(f"no face was found in any of the {count} frames of {source.path_pattern}",
                       "use a shot where a face is visible and at least ~64 px between the eyes, or crop the plate")


def analyse_shot(config, source, backend, key: str, out_dir: Path | None, stem: str,
                 cancel=None, on_event=None) -> tuple[ShotAnalysis, object]:
    """Detect, crop and (for VToonify) encode the style: (analysis, W+ tensor or None).

    The style code is saved beside the sidecar when ``out_dir`` is given (previews pass None). With
    ``follow_faces`` every frame is searched too and each face's per-frame crop stored (``following``)."""
    from engine.face.cuts import CutFinder, cut_warning

    analysis, wplus = _analyse_fixed(config, source, backend, key, out_dir, stem, cancel)
    kind = getattr(source, "kind", "")
    if getattr(config, "follow_faces", False):
        from engine.face.follow import DEFAULT_STEP
        from engine.pipeline.following import follow_shot

        step = int(getattr(backend, "translation_step", DEFAULT_STEP))
        finder = CutFinder()
        analysis = dataclasses.replace(analysis, follow=follow_shot(analysis, source, config, step, cancel,
                                                                        on_event, finder))
        cuts = finder.cuts
    else:  # fixed crops: the render looks for cuts in the frames it decodes (engine.face.cuts.CutWatch)
        cuts = []
    note = cut_warning(cuts, list(source.frame_numbers), kind)
    if note:
        analysis = dataclasses.replace(analysis, warnings=(*analysis.warnings, note))
    return analysis, wplus


def _analyse_fixed(config, source, backend, key: str, out_dir: Path | None, stem: str, cancel=None):
    """The fixed crops (and style codes) of the faces' first sightings: (analysis, W+ or list of them)."""
    from engine.face import crop_parameters, num_preblurs

    if getattr(config, "faces", "one") == "all":
        return analyse_faces(config, source, backend, key, out_dir, stem, cancel)
    face_frame, rgb, landmarks, notes = find_face_frame(source, cancel)
    h, w = rgb.shape[:2]
    crop = crop_parameters(landmarks, (h, w), tuple(config.padding))
    if crop.bottom - crop.top < 8 or crop.right - crop.left < 8:
        raise InputError(f"the face in frame {face_frame} leaves no usable crop ({crop.as_tuple()})",
                         "check the plate: the face must be inside the frame")
    style_code_name = None
    style_info = backend.describe_style()
    wplus = backend.style_code(rgb, landmarks, crop, cancel=cancel)
    stop_if_cancelled(cancel)  # a cancelled job writes no style code
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
        display_origin=tuple(int(v) for v in getattr(source, "display_origin", (0, 0))),
        warnings=tuple(notes),
        timecode=_source_timecode_dict(source),
        frame_grid=_frame_grid_dict(source),
    ), wplus


def find_face_tracks(source, max_faces: int, cancel=None, padding=None, follow: bool = False):
    """Every face of the shot: (kept ``FaceTrack``s in id order, warnings).

    The first frame with a face is found as in the one-face analysis; from there ``SAMPLED_FRAMES``
    frames spread to the shot's end are searched too, so a face that enters later is found too. A face
    that comes back after it was lost keeps its track when its look is that track's (``tracks``):
    anywhere with ``follow`` (its crop goes with it); with fixed crops only inside its own crop (a crop
    that cannot move would not stylize it elsewhere, so there it gets a new id and crop, as before)."""
    from engine.errors import JobCancelled
    from engine.face import locate_all_faces
    from engine.face.appearance import face_look
    from engine.face.tracks import choose_tracks, link_tracks, sample_frames

    numbers = list(source.frame_numbers)

    def stop_if_cancelled() -> None:
        if cancel is not None and cancel.is_set():
            raise JobCancelled("job cancelled during shot analysis")

    def with_looks(rgb, found):
        return [(box, points, face_look(rgb, points)) for box, points in found]

    first = None
    for number, rgb in source.read_many(numbers):
        stop_if_cancelled()
        found = locate_all_faces(rgb)
        if found:
            first = number
            break
    if first is None:
        raise no_face_error(source, len(numbers))
    detections = [(first, with_looks(rgb, found))]
    picks = sample_frames(numbers, numbers.index(first), SAMPLED_FRAMES)[1:]
    for number, rgb in source.read_many(picks):
        stop_if_cancelled()
        detections.append((number, with_looks(rgb, locate_all_faces(rgb))))
    order = {n: i for i, n in enumerate(numbers)}
    may_resume = (lambda track, sighting: True) if follow else inside_first_crop(source.size, padding or (0, 0, 0, 0))
    return choose_tracks(link_tracks(detections, may_resume, veto=follow), max_faces, order)


def inside_first_crop(size: tuple[int, int], padding):
    """``may_resume(track, sighting)``: the sighting's box lies inside the crop of the track's first
    sighting (source pixels), the only place a fixed crop stylizes."""
    import numpy as np

    from engine.face import crop_parameters

    w, h = (int(v) for v in size)

    def may_resume(track, sighting) -> bool:
        try:
            crop = crop_parameters(np.asarray(track.first.landmarks), (h, w), tuple(padding))
        except Exception:  # landmarks that give no crop give no place to come back to
            return False
        sx, sy = w / crop.w, h / crop.h
        x0, y0, x1, y1 = sighting.box
        return crop.left * sx <= x0 and crop.top * sy <= y0 and x1 <= crop.right * sx and y1 <= crop.bottom * sy

    return may_resume


def analyse_faces(config, source, backend, key: str, out_dir: Path | None, stem: str,
                  cancel=None) -> tuple[ShotAnalysis, list]:
    """``--faces all``: every face's own fixed crop (from its first sighting, the official crop rule)
    and style code; (analysis, [W+ or None per face])."""
    from engine.face import crop_parameters, num_preblurs

    tracks, notes = find_face_tracks(source, int(config.max_faces), cancel, tuple(config.padding),
                                     bool(getattr(config, "follow_faces", False)))
    frames: dict[int, object] = {}
    faces, codes = [], []
    for track in tracks:
        sight = track.first
        if sight.frame not in frames:
            frames[sight.frame] = source.read(sight.frame)
        rgb = frames[sight.frame]
        h, w = rgb.shape[:2]
        crop = crop_parameters(sight.landmarks, (h, w), tuple(config.padding))
        if crop.bottom - crop.top < 8 or crop.right - crop.left < 8:
            notes.append(f"the face at x {sight.box[0]}-{sight.box[2]}, y {sight.box[1]}-{sight.box[3]} of "
                         f"frame {sight.frame} leaves no usable crop: it is not stylized")
            continue
        name = face_name(len(faces) + 1)
        wplus = backend.style_code(rgb, sight.landmarks, crop, several=True, cancel=cancel)
        stop_if_cancelled(cancel)
        code_name = None
        if wplus is not None and out_dir is not None:
            code_name = style_code_name(stem, name)
            _save_tensor_atomic(out_dir / code_name, wplus)
        faces.append({"id": len(faces) + 1, "name": name, "frame": int(sight.frame),
                      "box": [int(v) for v in sight.box], "landmarks": [[int(x), int(y)] for x, y in sight.landmarks],
                      "crop": crop.to_dict(), "preblurs": num_preblurs(crop.scale), "style_code": code_name,
                      "seen": len(track.sightings), "returned": [int(s.frame) for s in track.sightings if s.returned]})
        codes.append(wplus)
    if not faces:
        raise InputError(f"no face of {source.path_pattern} leaves a usable crop",
                         "check the plate: the faces must be inside the frame")
    first = faces[0]
    w, h = (int(v) for v in source.size)
    return ShotAnalysis(
        source=os.path.abspath(config.source),
        source_size=(w, h),
        face_frame=first["frame"],
        landmarks=tuple(tuple(p) for p in first["landmarks"]),
        crop=first["crop"],
        preblurs=first["preblurs"],
        backend=backend.name,
        style=backend.describe_style(),
        job_key=key,
        style_code=first["style_code"],
        display_origin=tuple(int(v) for v in getattr(source, "display_origin", (0, 0))),
        warnings=tuple(notes),
        version=FACES_SIDECAR_VERSION,
        timecode=_source_timecode_dict(source),
        faces=tuple(faces),
        frame_grid=_frame_grid_dict(source),
    ), codes


def _frame_grid_dict(source) -> dict | None:
    grid = getattr(source, "frame_grid", None)
    return grid.to_dict() if grid is not None else None


def _source_timecode_dict(source) -> dict | None:
    from engine.io.timecode import source_timecode

    found = source_timecode(source)
    return found.to_dict() if found is not None else None


def _save_tensor_atomic(path: Path, tensor) -> None:
    import torch

    from engine.io.atomic import atomic_open

    with atomic_open(path) as fh:
        torch.save(tensor.detach().cpu().contiguous(), fh)


MAX_STYLE_CODE_BYTES = 1 << 22
"""A saved [1, 18, C<=4096] float32 W+ code is under 300 KB; anything far bigger is not one (never read)."""


def _load_style_code(path: Path):
    """The saved W+ code, or None when it is missing, a link, or not a finite [1, 18, C] tensor."""
    import torch

    from engine.models.checkpoints import all_finite, check_pickle_nesting

    try:  # never through a link; O_NONBLOCK: a FIFO at this name must not block the job
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_STYLE_CODE_BYTES:  # a FIFO, or no style code
        os.close(fd)
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            check_pickle_nesting(fh)  # a key nested a million deep crashes the unpickler itself
            wplus = torch.load(fh, map_location="cpu", weights_only=True)
    except Exception:  # a damaged or foreign file is recomputed, whatever the reason
        return None
    ok = (isinstance(wplus, torch.Tensor) and wplus.is_floating_point() and wplus.ndim == 3
          and wplus.shape[0] == 1 and wplus.shape[1] == 18 and 0 < wplus.shape[2] <= 4096
          and all_finite(wplus))
    return wplus.float() if ok else None  # a float8/float16 code edited in is used as float32


@contextlib.contextmanager
def claim_job(config, source, backend, key: str, out_dir: Path, stem: str, cancel=None,
              settings: dict | None = None, legacy_keys: tuple[str, ...] = (), on_event=None,
              srgb_keys: tuple[str, ...] = ()):
    """Claim the output folder for this job and yield (analysis, wplus or None, analysed) while it
    renders; ``analysed`` is True when this call computed the analysis, False when it reused the sidecar.

    The analysis is reused from the sidecar when its job key matches and it passes the checks, else
    computed. A sidecar of other settings means the folder holds frames rendered differently: while its
    job still runs that is always refused; with ``--resume`` too; otherwise its files (known by their job
    stamp, never by name alone; source files never) are an error unless ``--overwrite`` deletes them.
    ``settings`` (``resolved_job_settings``) are recorded in the sidecar so refusals can name what differs.
    A sidecar keyed by one of ``legacy_keys`` (``legacy_job_keys``: the same job as an earlier engine keyed
    it) is this job too: it is reused with its own key, so its frames and the new ones match. A sidecar keyed
    by one of ``srgb_keys`` (``srgb_placed_keys``) is this job as an earlier engine placed its PNG frames:
    never resumed onto (their lines differ), and its frames go only with ``--overwrite``.
    """
    from engine.pipeline.outputs import earlier_job_files

    path = sidecar_path(out_dir, stem)
    fingerprint = source_fingerprint(source)
    with folder_lock(out_dir):
        fd = open_sidecar(path)
        try:
            existing = parse_sidecar(fd) if fd is not None else None
            if fd is not None and existing is None and os.fstat(fd).st_size > 0 and not written_by_us(fd):
                raise ConfigError(f"{path.name} in {out_dir} is not a VToonify sidecar, and the engine keeps "
                                  "its shot analysis under that name", "move the file away, or choose another "
                                  f"output folder or {setting('name')}")
            result = None
            if existing is not None and existing.job_key in legacy_keys:
                key = existing.job_key  # an earlier engine's key of this job: its frames carry it
            replaced = (existing is not None and existing.job_key == key and fingerprint is not None
                        and existing.source_fingerprint not in (None, fingerprint))
            if replaced:
                _clear_replaced_plate(fd, config, source, out_dir, stem)
            elif existing is not None and existing.job_key == key:
                result = _reuse(existing, source, config, out_dir, stem)
            elif existing is not None:
                if fd is not None and not _try_lock(fd, shared=False):
                    raise _refusal(
                        f"another render with other settings is writing {stem} frames into {out_dir}",
                        f"wait for it to finish, or render into another output folder or {setting('name')}",
                        existing, settings)
                srgb = existing.job_key in srgb_keys
                if srgb and config.resume:
                    raise srgb_placed_refusal(config, out_dir, stem)
                if config.resume:
                    raise _refusal(
                        f"{path.name} in the output folder belongs to a job with other settings",
                        f"render into a new output folder, or start the job again without {setting('resume', True)}",
                        existing, settings)
                others = earlier_job_files(out_dir, stem, key, source.files())
                if others and not config.overwrite and srgb:
                    raise srgb_placed_refusal(config, out_dir, stem)
                if others and not config.overwrite:
                    raise _refusal(
                        f"{out_dir} holds {len(others)} file{'' if len(others) == 1 else 's'} of an "
                        f"earlier {stem} job with other settings",
                        f"render into a new output folder, or use {setting('overwrite', True)} to delete them first",
                        existing, settings)
                for old in others:
                    old.unlink(missing_ok=True)
            if result is None:
                analysis, wplus = analyse_shot(config, source, backend, key, out_dir, stem, cancel, on_event)
                result = (dataclasses.replace(analysis, job_settings=settings, source_fingerprint=fingerprint),
                          wplus, True)
                write_json_atomic(path, result[0].to_dict())
        finally:
            if fd is not None:
                os.close(fd)
        held = open_sidecar(path)
        if held is not None:
            _try_lock(held, shared=True)
    try:
        yield result
    finally:
        if held is not None:
            os.close(held)


def srgb_placed_refusal(config, out_dir: Path, stem: str) -> ConfigError:
    """The refusal of a PNG job whose folder holds this job's frames as an earlier engine placed them (in
    sRGB): resumed, frame N onwards would draw the lines differently from the frames before it (up to
    33/255), a step mid-shot. The only fix is the whole shot from one engine."""
    instead = f" instead of {setting('resume', True)}" if config.resume else ""
    return ConfigError(
        f"the {stem} PNG frames in {out_dir} were rendered by an earlier engine, which placed PNG frames into "
        "the plate in sRGB; this engine places them in linear light (as EXR), so their toon lines differ by up to "
        "33/255 and a resumed shot would change look mid-shot",
        f"render the whole shot again: run once with {setting('overwrite', True)}{instead} to delete those frames"
        f"{for_cli(' (a farm: engine prepare ... --overwrite, then requeue the chunks)')}, or render into a new "
        "output folder")


def _clear_replaced_plate(fd: int | None, config, source, out_dir: Path, stem: str) -> None:
    """The sidecar is this job's but the plate at its path is another file now (re-exported over it): its
    frames show the earlier plate, so resuming onto them would break frame N = input frame N. Refused, or
    with ``--overwrite`` (no ``--resume``) those frames are deleted and the shot is analysed again."""
    from engine.pipeline.outputs import earlier_job_files

    what = (f"{source.path_pattern} is not the file the {stem} frames in {out_dir} were rendered from "
            "(it was replaced or re-exported since)")
    if fd is not None and not _try_lock(fd, shared=False):
        raise ConfigError(f"{what}, and a render of the earlier file is still writing there",
                          "wait for it to finish, or render into a new output folder")
    old = earlier_job_files(out_dir, stem, "", source.files())  # "": every stamped frame of this stem
    fix = (f"render into a new output folder, or run once with {setting('overwrite', True)} "
           f"{'instead of ' + setting('resume', True) + ' ' if config.resume else ''}to delete the earlier "
           "file's frames and render this one")
    if old and (config.resume or not config.overwrite):
        raise ConfigError(f"{what}: {len(old)} frame file{'' if len(old) == 1 else 's'} there show the earlier file",
                          fix)
    for path in old:
        path.unlink(missing_ok=True)


def _reuse(existing: ShotAnalysis, source, config, out_dir: Path, stem: str):
    """(analysis, wplus) from a matching sidecar, or None when it or its style code fails the checks."""
    if sidecar_problem(existing, source, config, stem) is not None:
        return None
    if existing.faces:
        codes = []
        for face in existing.faces:
            code = _load_style_code(out_dir / face["style_code"]) if face["style_code"] else None
            if face["style_code"] and code is None:
                return None
            codes.append(code)
        return existing, codes, False
    wplus = None
    if existing.style_code:
        wplus = _load_style_code(out_dir / existing.style_code)
        if wplus is None:
            return None
    return existing, wplus, False


def _try_lock(fd: int, shared: bool) -> bool:
    """Non-blocking flock; True where locks are unsupported (then claims are advisory only)."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def load_or_analyse(config, source, backend, key: str, out_dir: Path, stem: str, cancel=None):
    """(analysis, wplus, analysed) without holding the claim afterwards (callers that render nothing)."""
    with claim_job(config, source, backend, key, out_dir, stem, cancel) as result:
        return result
