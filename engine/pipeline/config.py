"""The render job's settings: one frozen dataclass shared by the CLI, the service and the clients.

The CLI flags, the protocol's ``submit`` fields and the job sidecar all map onto these fields by
name, so there is one place that says what a job is and what values are legal.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from engine.errors import ConfigError, setting
from engine.service.catalog import (  # the one list of choices and defaults (shared with the clients)
    BACKBONES,
    BACKENDS,
    COMPILE_MODES,
    DEFAULTS,
    DEVICES,
    EXR_COMPRESSIONS,
    FACE_MODES,
    FORMATS,
    ORIENTATIONS,
    OUTPUT_SPACES,
    PNG_BITS,
    PRECISIONS,
    is_device_name,
)

DATA_WINDOWS = ("face", "full")
MAX_FACES_LIMIT = 32

__all__ = ["BACKBONES", "BACKENDS", "DATA_WINDOWS", "DEVICES", "EXR_COMPRESSIONS", "FORMATS", "OUTPUT_SPACES",
           "RenderConfig"]


@dataclass(frozen=True)
class RenderConfig:
    """Everything that defines one render job."""

    source: str
    """Video file, image sequence pattern (``shot.####.exr``, ``shot.%04d.png``) or single image."""
    output: str
    """Output folder; the engine never writes outside it."""
    frames: str | None = None
    """Frame range text such as ``1001-1100`` or ``1-10,20-30``; None = the whole source."""
    start_number: int = DEFAULTS["start_number"]
    """Number given to a video's first frame (image sequences keep their own numbers)."""
    backend: str = DEFAULTS["backend"]
    """``vtoonify`` (needs the official files), ``classic`` (no weights) or ``auto``."""
    backbone: str = DEFAULTS["backbone"]
    """VToonify backbone: ``dualstylegan`` (VToonify-D), ``toonify`` (VToonify-T) or ``auto`` (D if present)."""
    style: str = DEFAULTS["style"]
    """Style family, named as the official model folders (cartoon, caricature, arcane, ...)."""
    style_id: int = DEFAULTS["style_id"]
    """Exemplar index in the family's ``exstyle_code.npy`` (VToonify-D only)."""
    degree: float = DEFAULTS["degree"]
    """Structure degree d_s in [0, 1] (VToonify-D only)."""
    color_transfer: bool = False
    """Take all 18 latents from the exemplar (its colours too), not only the first 7."""
    exstyle_image: str | None = None
    """A reference image encoded with pSp and used as a custom exemplar."""
    models_dir: str | None = None
    """Models folder; None = env ``VTOONIFY_MODELS``, then the user data folder."""
    device: str = DEFAULTS["device"]
    """``auto`` picks CUDA when available."""
    batch: int = DEFAULTS["batch"]
    """Frames per forward pass; 0 = choose from free memory."""
    precision: str = DEFAULTS["precision"]
    """Network compute dtype: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (bf16 where the device has fast
    bf16: CPUs with AVX512-BF16/AMX, CUDA GPUs from Ampere on; else fp32). Part of the job key."""
    compile: str = DEFAULTS["compile"]
    """``torch.compile`` the network once per job: ``off`` (default: on an idle 2-core CPU it measured no
    faster than the eager network), ``on``, or ``auto`` (CPU with a C++ compiler, when the first frame's
    time says the job's frames pay for the compile). Same pixels within float rounding, so not part
    of the job key."""
    format: str = DEFAULTS["format"]
    """``exr`` (half float, scene-linear) or ``png`` (sRGB)."""
    exr_compression: str = DEFAULTS["exr_compression"]
    png_bits: int = DEFAULTS["png_bits"]
    """PNG bit depth, 8 or 16."""
    mattes: bool = False
    """Write face-parsing mattes: EXR layers ``matte.<class>``; with PNG, one grey sequence per class."""
    matte_files: bool = False
    """Also write each matte as its own grey sequence ``<stem>.matte_<class>.####.<ext>`` (for hosts
    such as Blender's VSE that cannot read EXR layers)."""
    matte_layers: bool = DEFAULTS["matte_layers"]
    """Keep the mattes as layers of the beauty EXR. Off (needs ``matte_files``): the beauty EXR is plain
    RGBA, for hosts such as Blender 4.2's sequencer that cannot show a multilayer EXR."""
    matte_classes: str | None = None
    """Comma-separated class names to write (e.g. ``skin,hair``); None = every class the backend gives."""
    cryptomatte: bool = False
    """Also write the mattes as a Cryptomatte (layers ``CryptoFace00..02``, objects ``face/<class>``), EXR only."""
    output_space: str = DEFAULTS["output_space"]
    """``plate``: stylized crop placed back over the source frame with alpha; ``crop``: the 4x crop."""
    data_window: str = "face"
    """EXR data window: ``face`` (the stylized box inside the plate's display window, for comp) or
    ``full`` (the whole frame: hosts that ignore data windows, such as Blender's sequencer)."""
    scale: float = DEFAULTS["scale"]
    """Output resolution multiplier applied after placement."""
    padding: tuple[int, int, int, int] = (200, 200, 200, 200)
    """Crop padding around the eye centre in aligned pixels: left, right, top, bottom."""
    smooth_parsing: bool = False
    """Temporally smooth the parsing maps (paper Eq. 6-7) with optical flow."""
    resume: bool = False
    """Skip frames whose output files are already complete."""
    overwrite: bool = False
    """Delete the frames of an earlier job with other settings in the output folder before rendering."""
    name: str | None = None
    """Output file stem; None = the source's stem."""
    faces: str = "one"
    """``one``: the last face dlib finds, as the official code; ``all``: every face of the shot, each
    tracked with its own crop, style code, mattes and Cryptomatte id (``face01``, ``face02``, ...)."""
    orientation: str = "display"
    """Videos: ``display`` turns frames by the container's display rotation (phone footage), as players
    and Blender 5.0 show them; ``stored`` keeps them as coded, for hosts that ignore the rotation (Blender
    4.2's sequencer), so the result still sits over the plate there."""
    max_faces: int = 8
    """With ``faces=all``: at most this many faces (those seen most often in the shot)."""
    follow_faces: bool = False
    """Each face's crop follows its face over the shot (found on every frame, smoothed, snapped to the
    network's step), its size and scale fixed; off: one fixed crop per face, the official video rule."""

    def __post_init__(self) -> None:
        def check(ok: bool, what: str, fix: str) -> None:
            if not ok:
                raise ConfigError(what, fix)

        check(bool(self.source), "no source given", "pass a video, image sequence or image")
        check(bool(self.output), "no output folder given", f"give an output folder ({setting('output')})")
        check(self.backend in BACKENDS, f"unknown backend {self.backend!r}", f"use one of {', '.join(BACKENDS)}")
        check(self.backbone in BACKBONES, f"unknown backbone {self.backbone!r}",
              f"use one of {', '.join(BACKBONES)}")
        check(self.name is None or not _device_name(self.name),
              f"output name {self.name!r} is a name Windows keeps for a device (CON, PRN, AUX, NUL, COM1-9, "
              "LPT1-9): a Windows host could not open its frames over a shared folder",
              f"choose another name, e.g. {str(self.name).split('.', 1)[0]}_shot")
        check(self.name is None or _safe_stem(self.name), f"output name {self.name!r} is not a plain file stem",
              "use letters (any script), digits, '.', '_' or '-' only (no spaces, symbols or emoji; no folders; "
              "no '.' or '-' first)")
        if not (isinstance(self.style, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", self.style)):
            from engine.models.inventory import models_command

            raise ConfigError(f"style {str(self.style)[:80]!r} is not a style family name",  # a folder under --models
                              "use letters, digits, '_' or '-', e.g. cartoon (see "
                              f"`{models_command('list', models_dir=self.models_dir)}`)")
        check(self.format in FORMATS, f"unknown format {self.format!r}", f"use one of {', '.join(FORMATS)}")
        check(self.data_window in DATA_WINDOWS, f"unknown data window {self.data_window!r}",
              f"use one of {', '.join(DATA_WINDOWS)}")
        check(self.output_space in OUTPUT_SPACES, f"unknown output space {self.output_space!r}",
              f"use one of {', '.join(OUTPUT_SPACES)}")
        check(is_device_name(self.device), f"unknown device {self.device!r}",
              f"use one of {', '.join(DEVICES)} or cuda:N")
        check(self.precision in PRECISIONS, f"unknown precision {self.precision!r}",
              f"use one of {', '.join(PRECISIONS)}")
        check(self.compile in COMPILE_MODES, f"unknown compile mode {self.compile!r}",
              f"use one of {', '.join(COMPILE_MODES)}")
        check(self.exr_compression in EXR_COMPRESSIONS, f"unknown EXR compression {self.exr_compression!r}",
              f"use one of {', '.join(EXR_COMPRESSIONS)}")
        check(self.matte_layers or self.matte_files or not self.mattes or self.format != "exr",
              f"{setting('matte_layers', False)} would leave the EXR mattes nowhere",
              f"add {setting('matte_files', True)}, or drop {setting('matte_layers', False)}")
        check(not self.cryptomatte or self.format == "exr", "Cryptomatte is an EXR feature; PNG cannot hold it",
              f"use {setting('format', 'exr')}, or drop {setting('cryptomatte', True)}")
        check(not self.cryptomatte or self.mattes, f"{setting('cryptomatte', True)} encodes the face-parsing mattes",
              f"add {setting('mattes', True)}")
        # DWAA quantises every channel named .R/.G/.B like colour (Cryptomatte's id channels too): ids
        # no longer match any name (measured: 212 unknown ids in one two-face frame), so keyers miss pixels
        check(not (self.cryptomatte and self.exr_compression == "dwaa"),
              f"{setting('exr_compression', 'dwaa')} is lossy and rounds the Cryptomatte id channels, so keying by "
              "name fails", f"use {setting('exr_compression', 'zip')} or {setting('exr_compression', 'piz')} with "
              f"{setting('cryptomatte', True)} (or drop {setting('cryptomatte', True)})")
        check(self.orientation in ORIENTATIONS, f"unknown orientation {self.orientation!r}",
              f"use one of {', '.join(ORIENTATIONS)}")
        check(self.faces in FACE_MODES, f"unknown faces mode {self.faces!r}", f"use one of {', '.join(FACE_MODES)}")
        check(1 <= int(self.max_faces) <= MAX_FACES_LIMIT, f"max faces {self.max_faces} is out of range",
              f"use 1 to {MAX_FACES_LIMIT}")
        check(self.faces == "one" or self.output_space == "plate",
              f"{setting('faces', 'all')} places every face over the plate; a crop output holds one face",
              f"use {setting('output_space', 'plate')}, or {setting('faces', 'one')}")
        # classic parses no faces: it ignores --smooth-parsing (a warning, engine.cli) so the pair renders there
        check(not (self.follow_faces and self.smooth_parsing) or self.backend == "classic",
              f"{setting('smooth_parsing', True)} warps parsing maps between frames of one fixed crop; following "
              f"crops move", f"drop {setting('smooth_parsing', True)} or {setting('follow_faces', True)}, or use "
              f"{setting('backend', 'classic')} (it ignores the smoothing)")
        check(self.png_bits in PNG_BITS, f"PNG bit depth {self.png_bits} is not supported", "use 8 or 16")
        for key in ("degree", "scale", "style_id", "batch", "start_number", "max_faces", "padding"):
            values = getattr(self, key) if key == "padding" else (getattr(self, key),)
            huge = [v for v in values if isinstance(v, int) and abs(v) > MAX_SETTING_INT]  # JSON allows 10**4000
            digits = str(abs(huge[0])) if huge else ""
            check(not huge, f"{setting(key)} {digits[:12]}... ({len(digits)} digits) is out of range",
                  f"send {setting(key)} as a number of at most 18 digits")
        check(abs(int(self.start_number)) <= 1_000_000_000, f"start number {self.start_number} is out of range",
              "use a start number within +-1000000000")
        check(0.0 <= float(self.degree) <= 1.0, f"degree {self.degree} is outside [0, 1]", "pick a value from 0 to 1")
        check(int(self.style_id) >= 0, f"style id {self.style_id} is negative", "use 0 or more")
        check(int(self.batch) >= 0, f"batch {self.batch} is negative", "use 0 for automatic, or a positive size")
        check(int(self.batch) <= MAX_BATCH, f"batch {self.batch} is larger than {MAX_BATCH} frames",
              f"use 0 (automatic: measured on a GPU) or at most {MAX_BATCH}")  # all decoded at once
        check(0.05 <= float(self.scale) <= 8.0, f"scale {self.scale} is out of range", "use a value from 0.05 to 8")
        check(len(self.padding) == 4 and all(int(p) >= 0 for p in self.padding),
              f"padding {self.padding} must be four non-negative integers", "give left,right,top,bottom")
        object.__setattr__(self, "padding", tuple(int(p) for p in self.padding))

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["padding"] = list(self.padding)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> RenderConfig:
        """Build from a JSON-like dict; wrong types raise ConfigError naming the field; unknown keys
        are ignored (see ``unknown_keys``)."""
        if not isinstance(data, dict):
            raise ConfigError("job settings must be an object", "send a JSON object of render options")
        known = {f.name: f for f in dataclasses.fields(RenderConfig)}
        kwargs = {key: _coerce(key, value, known[key].type) for key, value in data.items() if key in known}
        for required in ("source", "output"):
            if required not in kwargs:
                raise ConfigError(f"missing field {required!r}", f"add {required!r} to the job settings")
        return cls(**kwargs)

    @staticmethod
    def unknown_keys(data: dict) -> list[str]:
        """Keys of a settings dict that are no RenderConfig field: ``from_dict`` ignores them (a newer
        client may send options this engine does not know yet); the service names them in its reply."""
        known = {f.name for f in dataclasses.fields(RenderConfig)}
        return sorted(str(key) for key in data if key not in known)


MAX_BATCH = 64
"""Largest --batch: a batch's frames are decoded and held at once (--batch 100000 would decode a whole
shot into memory, and a farm would retry the resulting out-of-memory exit 75 forever)."""
MAX_SETTING_INT = 10**18
"""Largest integer any numeric setting may be (JSON and Python allow 10**4000; float() of it overflows)."""


def _safe_stem(name: str) -> bool:
    """A stem that cannot leave the output folder, hide as a dot file, or read as an option in a shell
    (``-rf.0001.exr``): source stems are cleaned the same way (``outputs.safe_stem``)."""
    from engine.service.catalog import is_file_stem

    return is_file_stem(name)


def _device_name(name) -> bool:
    from engine.service.catalog import windows_device_name

    return isinstance(name, str) and windows_device_name(name)


def _coerce(key: str, value, type_text) -> object:
    """Check a JSON value against the field's annotated type (annotations are strings here)."""
    t = str(type_text)
    optional = "None" in t
    if value is None:
        if optional:
            return None
        raise ConfigError(f"field {key!r} may not be null", f"give {key!r} a value")
    if t.startswith("tuple"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
            odd = next((i for i, v in enumerate(value) if not isinstance(v, int) or isinstance(v, bool)), None) \
                if isinstance(value, (list, tuple)) else None
            what = _json_kind(value) if odd is None else f"an array whose item {odd} is {_json_kind(value[odd])}"
            raise ConfigError(f"field {key!r} must be an array of integers, not {what}",
                              f"send {key!r} as an array of integers")
        return tuple(value)
    if t.startswith("bool"):
        ok = isinstance(value, bool)
    elif t.startswith("int"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(value, int) and abs(value) > MAX_SETTING_INT:
            raise ConfigError(f"{setting(key)} {str(abs(value))[:12]}... ({len(str(abs(value)))} digits) is out of "
                              "range", f"send {setting(key)} as a number of at most 18 digits")
        value = float(value) if ok else value
    elif t.startswith("str"):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        from engine.service.protocol import JSON_WANTED

        wanted = JSON_WANTED.get({"bool": bool, "int": int, "float": float, "str": str}.get(t.split(" ")[0]),
                                 t.replace(" | None", ""))
        raise ConfigError(f"field {key!r} must be {wanted}, not {_json_kind(value)}", f"send {key!r} as {wanted}")
    return value


def _json_kind(value) -> str:
    """``a JSON string``: a job's settings come as JSON (the service, the sidecar), so a wrong type is named in
    JSON's terms, not Python's (``str``, ``NoneType``)."""
    from engine.service.protocol import json_kind

    return f"a JSON {json_kind(value)}"
