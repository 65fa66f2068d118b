"""Build the engine's job settings (fields of ``engine.pipeline.config.RenderConfig``) for a strip."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..engine_client import shared_catalog

_CATALOG = shared_catalog()
BACKENDS, FORMATS, OUTPUT_SPACES = _CATALOG.BACKENDS, _CATALOG.FORMATS, _CATALOG.OUTPUT_SPACES
FACE_MODES = getattr(_CATALOG, "FACE_MODES", ("one",))
"""The engine's choices (``engine/service/catalog.py``), not copies."""
MAX_FACES_DEFAULT, MAX_FACES_LIMIT = 8, 32
"""``RenderConfig.max_faces``'s default and bound (the engine package is not in a built add-on;
tests/addon/test_host_options.py checks these equal the engine's)."""

SETTINGS_PROPERTY = "vtoonify_job"
"""Custom property on the result strip holding the job settings JSON (for re-render in place)."""
SOURCE_PROPERTY = "vtoonify_source"
"""Custom property on the result strip naming the source strip it was rendered from."""
ROLE_PROPERTY = "vtoonify_role"
"""``result`` or ``matte_<class>``: which output a VToonify strip shows."""
GROUP_PROPERTY = "vtoonify_group"
"""Custom property on a meta strip grouping a result and its mattes: the source strip's name."""
LABEL_PROPERTY = "vtoonify_label"
"""Custom property on the result strip: what its files carry beyond the picture (timecode, Cryptomatte)."""


@dataclass(frozen=True)
class StylizeOptions:
    """What the artist picks in the panel; the strip supplies source, frames and names."""

    backend: str = "auto"
    style: str = "cartoon"
    style_id: int = 26
    degree: float = 0.5
    color_transfer: bool = False
    format: str = "png"
    mattes: bool = False
    cryptomatte: bool = False
    """Also write the mattes as Cryptomatte layers (EXR only; needs ``mattes``)."""
    output_space: str = "plate"
    faces: str = "one"
    """``one`` (the official last face) or ``all`` (every face of the shot, plate output only)."""
    max_faces: int = MAX_FACES_DEFAULT
    """With ``faces=all``: at most this many faces (those seen most often in the shot)."""
    follow_faces: bool = False
    """Each face's crop follows its face over the shot (the engine's ``--follow-faces``)."""
    models_dir: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}")
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}")
        if self.output_space not in OUTPUT_SPACES:
            raise ValueError(f"unknown output space {self.output_space!r}")
        if not 0.0 <= float(self.degree) <= 1.0:
            raise ValueError(f"degree {self.degree} is outside [0, 1]")
        if self.faces not in FACE_MODES:
            raise ValueError(f"unknown faces choice {self.faces!r}")
        if isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int) \
                or not 1 <= self.max_faces <= MAX_FACES_LIMIT:
            raise ValueError(f"at most {self.max_faces!r} faces is out of range (use 1 to {MAX_FACES_LIMIT})")
        if self.faces == "all" and self.output_space != "plate":
            raise ValueError("Faces 'All' places every face over the plate; a crop holds one face "
                             "(set Output Space to Plate, or Faces to One)")
        if self.cryptomatte and self.mattes and self.format != "exr":
            raise ValueError("Cryptomatte is an EXR feature; PNG cannot hold it (set Format to EXR in the "
                             "VToonify add-on preferences, or turn Cryptomatte off)")

    @classmethod
    def from_dict(cls, data: dict) -> StylizeOptions:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


SEQUENCER_MULTILAYER_EXR = (4, 4)
"""First Blender line whose sequencer shows multilayer EXRs (measured on an engine beauty EXR with matte
layers: 4.4.0, 4.5.15 and 5.0.1 show it, 4.2.23 and 4.3.0 say "can't process EXR multilayer file");
Cryptomatte layers make a result EXR multilayer."""
MOVIE_DISPLAY_ROTATION = (4, 4)
"""First Blender line whose movie strips apply a phone clip's display rotation (measured: a 90-degree
clip stored 376x352 is 352x376 in 4.4.0, 4.5.15 and 5.0.1, 376x352 in 4.2.23 and 4.3.0)."""


def cryptomatte_problem(options: StylizeOptions, blender_version: tuple) -> tuple[str, str] | None:
    """(problem, fix) when this Blender cannot show the result strip Cryptomatte would give, else None."""
    if not (options.cryptomatte and options.mattes) or tuple(blender_version[:2]) >= SEQUENCER_MULTILAYER_EXR:
        return None
    version = ".".join(str(n) for n in blender_version[:2])
    return (f"Blender {version}'s sequencer cannot show multilayer EXRs, and Cryptomatte layers make the "
            "result EXR multilayer",
            "turn Cryptomatte off here (the matte strips stay), use Blender 4.4 or later, or render the "
            "Cryptomatte version with the VToonify panel or `python -m engine render --mattes --cryptomatte`")


def host_settings(options: StylizeOptions, blender_version: tuple) -> dict:
    """Settings this Blender needs beyond the options. The sequencer of 4.2 and 4.3 shows no multilayer
    EXR, so the beauty stays plain RGBA and the mattes come only as their own files (the matte strips);
    it also ignores a movie's display rotation, so the engine reads frames as stored."""
    line = tuple(blender_version[:2])
    settings = {}
    if line < MOVIE_DISPLAY_ROTATION:
        settings["orientation"] = "stored"
    if line < SEQUENCER_MULTILAYER_EXR and options.mattes and options.format == "exr":
        settings["matte_layers"] = False
    return settings


def safe_stem(name: str) -> str:
    """A strip name made safe as a file stem (``Shot 010.mp4`` -> ``Shot_010``, ``Ünïcödé 日本 😀 take.mp4``
    -> ``Ünïcödé_日本_take``): the engine's own rule (``catalog.file_stem``: Unicode letters kept, no leading
    '-' or '.'), so the add-on's folders and names match what the engine and panel write; ``strip`` when
    the name has no letter or digit."""
    stem = re.sub(r"\.[A-Za-z0-9]{2,4}$", "", name.strip())
    return _CATALOG.file_stem(stem) if re.search(r"[^\W_]", stem) else "strip"


def build_job_settings(source: str, output_dir: str, frames: str, options: StylizeOptions,
                       stem: str, start_number: int = 1) -> dict:
    """The ``submit`` payload: a plain JSON-able dict keyed like RenderConfig."""
    settings = {
        "source": source,
        "output": output_dir,
        "frames": frames,
        "start_number": int(start_number),
        "backend": options.backend,
        "style": options.style,
        "style_id": int(options.style_id),
        "degree": float(options.degree),
        "color_transfer": bool(options.color_transfer),
        "format": options.format,
        "mattes": bool(options.mattes),
        "matte_files": bool(options.mattes),
        "cryptomatte": bool(options.cryptomatte and options.mattes),
        "output_space": options.output_space,
        "data_window": "full",  # Blender's sequencer ignores EXR data windows and centres the data
        "name": stem,
    }
    if options.faces != "one":  # sent only when asked: an engine without the choice still takes every job
        settings["faces"] = options.faces
        settings["max_faces"] = int(options.max_faces)  # used only with all faces
    if options.follow_faces:
        settings["follow_faces"] = True
    if options.models_dir:
        settings["models_dir"] = options.models_dir
    return settings


def settings_to_json(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True)


def settings_from_json(text: str) -> dict:
    """Read settings back from a strip property; broken text gives an empty dict, not a crash."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # a shared .blend may hold any text
        return {}
    return data if isinstance(data, dict) else {}


def options_from_settings(stored: dict, fallback: StylizeOptions) -> StylizeOptions:
    """The options a result strip was rendered with (its stored job settings), for a re-render that
    reproduces it; fields missing from or invalid in ``stored`` come from ``fallback`` (the panel).
    ``models_dir`` is this machine's setup, not part of the look: always the fallback's."""
    merged = {name: getattr(fallback, name) for name in StylizeOptions.__dataclass_fields__}
    if stored:  # results rendered before these options had none of them
        stored = {"cryptomatte": False, "faces": "one", "max_faces": MAX_FACES_DEFAULT, "follow_faces": False,
                  **stored}
    for name in merged:
        if name != "models_dir" and name in stored and stored[name] is not None:
            candidate = dict(merged, **{name: stored[name]})
            try:
                StylizeOptions.from_dict(candidate)
            except (TypeError, ValueError):
                continue
            merged = candidate
    return StylizeOptions.from_dict(merged)


def timecode_text(timecode: dict | None) -> str:
    """``source TC 01:00:59;28 at frame 1001, 29.97 fps (drop-frame)`` for the engine's ``timecode``
    dict (a job result's or the sidecar's); empty when the source has none."""
    if not isinstance(timecode, dict) or not timecode.get("start"):
        return ""
    text = f"source TC {timecode['start']}"
    if timecode.get("first_frame") is not None:
        text += f" at frame {timecode['first_frame']}"
    if timecode.get("fps"):
        text += f", {float(timecode['fps']):g} fps"
    if timecode.get("drop_frame"):
        text += " (drop-frame)"
    return text


def frame_grid_text(grid: dict | None) -> str:
    """``variable frame rate: 32 pictures on a 60 fps grid (42 frames repeat one)`` for the engine's
    ``frame_grid`` dict; empty for constant-rate sources."""
    if not isinstance(grid, dict) or not grid.get("fps"):
        return ""
    text = f"variable frame rate: {grid.get('pictures', '?')} pictures on a {float(grid['fps']):g} fps grid"
    return text + (f" ({grid['repeats']} frames repeat one)" if grid.get("repeats") else "")


def result_label(result: dict, settings: dict) -> str:
    """One line for a result strip: the source timecode its frames carry, a variable frame rate's grid
    (its frames are numbered as the strip shows them), and the Cryptomatte layers."""
    parts = [timecode_text(result.get("timecode")), frame_grid_text(result.get("frame_grid"))]
    if settings.get("cryptomatte"):
        parts.append("Cryptomatte CryptoFace in the EXR")
    return "; ".join(p for p in parts if p)
