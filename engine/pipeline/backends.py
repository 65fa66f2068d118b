"""The two stylizers behind one small interface: VToonify (official weights, here) and classic (none,
``classic_backend.py``, re-exported here; it and ``stylized.py`` import no torch, so a classic job need not).

A backend turns a batch of crops (uint8 [h,w,3], sides divisible by 8) into stylized crops at 4x
(float32 [4h,4w,3] sRGB in [0,1]) plus optional mattes (float32 [4h,4w] in [0,1] per class name).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
import torch

from engine.errors import DeviceOutOfMemoryError, ModelFileError, setting
from engine.models.precision import resolve_precision
from engine.models.static import STRIP_PIXELS, strip_pixels_for, tiled
from engine.pipeline.classic_backend import ClassicBackend
from engine.pipeline.stylized import PARSING_NAMES, Stylized, crop_space, matte_selection

__all__ = ["PARSING_NAMES", "STRIP_PIXELS", "ClassicBackend", "Stylized", "VToonifyBackend", "device_memory_errors",
           "frames_to_tensor", "matte_selection"]

# STRIP_PIXELS (engine.models.static): on CPU decoder stages whose input is larger run in strips (exact,
# see ``static.tiled``): a 256x256 crop's last stage; a 1600x1280 crop -> 6400x5120 keeps its 32-64 channel
# tensors per strip. On CUDA the budget is GPU_STRIP_PIXELS (``strip_pixels_for``): strips for memory only.


TUNE_MIN_FRAMES = 16
"""Jobs of fewer frames (previews, short farm chunks) time no conv route (``engine.models.autotune``):
they take routes this process already timed, else the fixed rules. Timing costs 3-5 s on a shot's
first frame at 256-400 px on a 2-core CPU, and its gain over the fixed rules is well under that on a
quiet machine over a few frames."""


def frames_to_tensor(crops: list[np.ndarray], device) -> torch.Tensor:
    """uint8 [h,w,3] crops -> [B,3,h,w] in [-1,1], as the official ToTensor + Normalize(0.5, 0.5)."""
    x = torch.from_numpy(np.stack(crops)).to(device)            # [B,h,w,3]
    x = x.permute(0, 3, 1, 2).float().div(255.0)                # [B,3,h,w]
    return (x - 0.5) / 0.5


class VToonifyBackend:
    """VToonify-D or -T with BiSeNet parsing and the pSp style code, as the official pipeline."""

    name = "vtoonify"
    matte_classes = PARSING_NAMES[1:]

    def __init__(self, config, files: dict[str, str], cache, cancel=None) -> None:
        """``cancel``: the job's event; a cancel during a model load is answered at once (``ModelCache.get``)."""
        self.config = config
        self.files = files
        self.cache = cache
        self.device = cache.device
        from engine.models import load_face_parser, load_vtoonify

        exemplar_code = "exstyle" in files and not config.exstyle_image
        if exemplar_code:  # a style id past the codes file: refused before the model loads, not after analysis
            self._exstyle_name()
        self.vtoonify = cache.get("vtoonify", files["vtoonify"], load_vtoonify, cancel)
        if exemplar_code and self.backbone == "dualstylegan":
            self._exstyle_code(self.vtoonify)  # a codes file of another model's shape, likewise up front
        self.exemplar = self._exemplar_face() if config.exstyle_image and self.backbone == "dualstylegan" else None
        """(rgb, landmarks) of the exemplar photo: its face is found before the source's is searched."""
        self.parser = cache.get("faceparsing", files["faceparsing"], load_face_parser, cancel)
        self.mattes = matte_selection(config.matte_classes, self.matte_classes) if config.mattes else ()
        self.precision = resolve_precision(config.precision, self.device)
        self.wplus: torch.Tensor | None = None
        self.net: torch.nn.Module | None = None
        """The shot's static network (``engine.models.static``), built in ``prepare``."""
        self.nets: list[torch.nn.Module] = []
        """One static network per face (``--faces all``); ``[self.net]`` for one face."""
        self.wholes: list = []
        """``nets`` compiled (``engine.models.compiled``) for frames decoded whole, when ``--compile`` says so."""
        self.smoother = None
        self._cancel = None
        """The cancel of the ``style_code`` call in progress (looked at after the encoder's load)."""

    @property
    def backbone(self) -> str:
        return self.vtoonify.backbone

    @property
    def translation_step(self) -> int:
        """Crop shifts (resized px) that shift the output exactly: the encoder's total downsampling."""
        from engine.face.follow import downsampling_factor

        return downsampling_factor(self.vtoonify.encoder)

    def model_files(self) -> dict[str, str]:
        return dict(self.files)

    def describe_style(self) -> dict:
        info = {"family": self.config.style, "backbone": self.backbone,
                "checkpoint": Path(self.files["vtoonify"]).name}
        if self.backbone == "dualstylegan":
            info.update(style_id=self.config.style_id, degree=self.config.degree,
                        color_transfer=self.config.color_transfer)
            if self.config.exstyle_image:
                info["exstyle_image"] = str(self.config.exstyle_image)
            else:
                info["style_name"] = self._exstyle_name()
        return info

    # -- style code (once per shot) ------------------------------------------------------------------
    def _exstyle_codes(self) -> dict:
        from engine.models import load_exstyles

        key = ("exstyles", self.files["exstyle"])
        if key not in self.cache.memo:
            self.cache.memo[key] = load_exstyles(self.files["exstyle"])
        return self.cache.memo[key]

    def _exstyle_name(self) -> str:
        from engine.pipeline.selection import check_style_id

        names = list(self._exstyle_codes())
        check_style_id(self.config, self.files["exstyle"], len(names))
        return str(names[self.config.style_id])

    def _exemplar_face(self) -> tuple[np.ndarray, np.ndarray]:
        """The exemplar photo and its face's landmarks, looked for when the job starts: a photo without a face
        used to be found out only after the source's face search (minutes on a long shot)."""
        from engine.errors import InputError, marked
        from engine.face import find_landmarks
        from engine.io import open_source

        path = str(self.config.exstyle_image)
        try:
            with open_source(path) as ex:
                rgb = ex.read(ex.frame_numbers[0])
        except InputError as exc:
            raise InputError(f"exemplar image ({setting('exstyle_image')}): {marked(exc)[0]}",
                             f"give a portrait photo to take the style from, or leave {setting('exstyle_image')} "
                             "out") from None
        landmarks = find_landmarks(rgb)
        if landmarks is None:
            raise InputError(f"no face found in the exemplar image {path} ({setting('exstyle_image')})",
                             f"give a photo with one clear, frontal face as {setting('exstyle_image')}, or leave "
                             f"{setting('exstyle_image')} out to take the exemplar {setting('style_id')} names")
        return rgb, landmarks

    def _exstyle_code(self, net) -> np.ndarray:
        """The job's code from ``exstyle_code.npy``, checked against the model that takes it: a file whose
        codes are [1, 18, 7] or [1, 10, 512] reads fine, but the model's mapping then fails with a matrix
        shape error (an internal error) or a message that names no file."""
        from engine.models.checkpoints import refetch_fix

        name = self._exstyle_name()
        code = self._exstyle_codes()[name]
        wanted = [1, net.stylegan().n_latent, net.style_channels]
        if list(code.shape) != wanted:
            path = self.files["exstyle"]
            raise ModelFileError(f"{path}: style code {name!r} is {list(code.shape)}, but "
                                 f"{Path(self.files['vtoonify']).name} takes {wanted}",
                                 f"use the exstyle_code.npy of this model's family, or {refetch_fix(path)}")
        return code

    def _encode_face(self, rgb: np.ndarray, landmarks) -> torch.Tensor:
        """pSp z+ [1,18,512] of the aligned face in ``rgb``. The encoder's load (1.2 GB) and its pass each
        take seconds on one thread: a job cancelled during the load (``style_code``'s cancel) stops there."""
        from engine.face import align_face
        from engine.models import load_style_encoder
        from engine.pipeline.shot import stop_if_cancelled

        encoder = self.cache.get("encoder", self.files["encoder"], load_style_encoder, self._cancel)
        stop_if_cancelled(self._cancel)
        aligned = align_face(rgb, landmarks)
        x = frames_to_tensor([aligned], self.device)
        with torch.no_grad():
            return encoder(x)

    @torch.no_grad()
    def style_code(self, rgb: np.ndarray, landmarks, crop, several: bool = False, cancel=None) -> torch.Tensor:
        """W+ [1,18,512] for the shot: pSp of the aligned crop, exstyle mixed as style_transfer.py.

        ``several``: the crop may show a neighbour's face too; the one nearest ``landmarks`` is aligned.
        ``cancel``: looked at between the encoder's load and its pass."""
        self._cancel = cancel
        try:
            return self._style_code(rgb, landmarks, crop, several)
        finally:
            self._cancel = None

    def _style_code(self, rgb: np.ndarray, landmarks, crop, several: bool) -> torch.Tensor:
        from engine.face import find_landmarks, locate_all_faces, scale_and_crop
        from engine.face.tracks import nearest_landmarks

        net = self.vtoonify
        exstyle = None
        if self.backbone == "dualstylegan":
            if self.exemplar is not None:
                z_ex = self._encode_face(*self.exemplar)
            else:
                z_ex = torch.as_tensor(self._exstyle_code(net)).float().to(self.device)
            exstyle = net.zplus2wplus(z_ex.reshape(1, -1, z_ex.shape[-1]))
            if self.config.color_transfer:
                return exstyle  # all 18 latents from the exemplar: the face code does not matter
        cropped = scale_and_crop(rgb, crop)
        mapped = crop_space(landmarks, crop, (rgb.shape[1], rgb.shape[0]))
        if several:
            crop_landmarks = nearest_landmarks(locate_all_faces(cropped), mapped)
        else:
            crop_landmarks = find_landmarks(cropped)
        if crop_landmarks is None:  # the detector can miss at the new scale; map the frame's landmarks
            crop_landmarks = mapped.round().astype(int)
        wplus = net.zplus2wplus(self._encode_face(cropped, crop_landmarks))
        if exstyle is not None:
            wplus[:, :7] = exstyle[:, :7]
        return wplus

    def prepare(self, analysis, wplus: torch.Tensor, frames: int | None = None, warn=None) -> None:
        """Fold the shot's style into its static network; the pSp encoder (1 GB) is not needed again.
        ``frames`` (the job's frame count; None for a preview) decides ``--compile auto`` and whether
        conv routes are timed (``TUNE_MIN_FRAMES``); ``warn`` gets a message if compiling fails (the
        network then runs uncompiled)."""
        from engine.models import static_vtoonify
        from engine.models.compiled import CompiledForward, should_compile

        codes = wplus if isinstance(wplus, list) else [wplus]
        if not codes or any(code is None for code in codes):
            raise ModelFileError("the job sidecar has no style code",
                                 f"render again without {setting('resume', True)}")
        self.cache.release("encoder")
        self.nets = []
        with device_memory_errors(self.device):
            for code in codes:  # one folded network per face, built once per job
                self.wplus = code.to(self.device).float()
                self.nets.append(static_vtoonify(self.vtoonify, self.wplus, d_s=self.config.degree,
                                                 precision=self.precision))
                if len(codes) > 1 and len(self.nets) == 1:  # face01's bytes stand for every face's
                    self._check_face_memory(analysis, len(codes))
        self.wplus = codes[0].to(self.device).float()
        self.net = self.nets[0]
        if frames is None or frames < TUNE_MIN_FRAMES:  # too few frames to repay the timing: reuse, never time
            for net in self.nets:
                if net.tuner is not None:
                    net.tuner.budget_s = 0.0
        mode = getattr(self.config, "compile", "off")
        self.wholes = [None] * len(self.nets)
        if should_compile(mode, self.device, frames):  # auto: only if the job's frames pay for the compile
            self.wholes = [CompiledForward(net, warn, frames=frames if mode == "auto" else None) for net in self.nets]

    def _check_face_memory(self, analysis, faces: int) -> None:
        """Refuse (exit 2 or 75, ``engine.pipeline.memory``) before building the other faces' networks."""
        from engine.pipeline.memory import check_face_networks, working_bytes
        from engine.pipeline.modelcache import module_bytes

        crop_pixels = max((c.bottom - c.top) * (c.right - c.left) for c in analysis.sighting_crops())
        w, h = analysis.source_size
        scale = float(getattr(self.config, "scale", 1.0))
        working = working_bytes(self.device, crop_pixels, round(w * scale) * round(h * scale))
        check_face_networks(self.device, faces, module_bytes(self.nets[0]), built=1, working=working,
                            resident=self.cache.memory_bytes, precision=self.precision)

    # -- per batch ------------------------------------------------------------------------------------
    def parsing(self, x: torch.Tensor) -> torch.Tensor:
        from engine.models import parsing_maps

        return parsing_maps(self.parser, x)

    @torch.no_grad()
    def network_input(self, crops: list[np.ndarray], parsing: torch.Tensor | None = None) -> torch.Tensor:
        """[B,22,h,w]: frames in [-1,1] and their parsing logits / 16 (the official weighting)."""
        x = frames_to_tensor(crops, self.device)
        x_p = self.parsing(x) if parsing is None else parsing.to(self.device)
        return torch.cat((x, x_p / 16.0), dim=1)

    def batch_input(self, crops: list[np.ndarray], parsing: torch.Tensor | None = None, parse: bool = False):
        """The decode stage's share: the network input when ``parse`` (GPU: parsing overlaps the
        network), else the parsing given (smoothed) or None, computed next to the network (CPU)."""
        if parse:
            return {"inputs": self.network_input(crops, parsing)}
        return {"parsing": parsing}

    takes_stop = True
    """``stylize_batch`` takes ``stop``, looked at before each layer of the parser and the network."""

    def stylize_batch(self, batch, crops: list[np.ndarray], face: int = 0, stop=None) -> list[Stylized]:
        """Stylize what ``batch_input`` prepared: the [B,22,h,w] network input, or the parsing (or None),
        with face ``face``'s network (0 = the only one of a one-face job).

        ``stop()`` runs before each layer (``stop_checks``); on a CPU the frames also go through the network
        one at a time, as a larger batch is no faster per frame there."""
        net = self.nets[face] if self.nets else self.net
        whole = self.wholes[face] if self.wholes else None
        with (torch.inference_mode(), device_memory_errors(self.device),
              stop_checks([self.parser, net if whole is None else None], stop)):
            inputs = batch.get("inputs")
            if inputs is None:
                inputs = self.network_input(crops, batch.get("parsing"))
            strips = strip_pixels_for(inputs.device)  # CPU: cache-warm strips; CUDA: only for memory
            step = 1 if inputs.device.type == "cpu" else max(1, len(inputs))
            results = []
            for start in range(0, len(inputs), step):
                if start and stop is not None:
                    stop()
                y = tiled(net, inputs[start:start + step], strip_pixels=strips, whole=whole).clamp_(-1, 1)
                rgb = y.add(1).mul_(0.5).permute(0, 2, 3, 1).float().cpu().numpy()  # [b,4h,4w,3]
                mattes = self._mattes(y) if self.mattes else [{} for _ in range(len(y))]
                results += [Stylized(np.ascontiguousarray(rgb[i]), mattes[i]) for i in range(len(y))]
        return results

    def stylize(self, crops: list[np.ndarray], parsing: torch.Tensor | None = None, face: int = 0) -> list[Stylized]:
        return self.stylize_batch({"parsing": parsing}, crops, face)

    def _mattes(self, y: torch.Tensor) -> list[dict[str, np.ndarray]]:
        """Soft mattes of the *stylized* image, so they follow its (possibly deformed) features.

        BiSeNet runs at half the stylized size (2x the crop, where it was trained to work best) and
        its softmax probabilities are upsampled back to the stylized size.
        """
        import torch.nn.functional as F

        small = F.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)
        logits = self.parser(small)[0]                               # [B,19,2h,2w]
        probs = F.interpolate(logits.softmax(1), size=y.shape[-2:], mode="bilinear", align_corners=False)
        index = [PARSING_NAMES.index(n) for n in self.mattes]
        probs = probs[:, index].float().cpu().numpy()
        return [{n: np.ascontiguousarray(p[k]) for k, n in enumerate(self.mattes)} for p in probs]


@contextlib.contextmanager
def stop_checks(nets, stop):
    """``stop()`` before every layer of ``nets`` runs on this thread: one frame of the full-size network
    takes seconds on a CPU thread (25 s for a shot's first frame, whose conv routes are timed, on a busy
    2-core machine), so a cancel is honoured within a layer, not a frame. Only this thread's calls: the
    face parser is shared with the service's previews. A None in ``nets`` (a compiled network) is skipped."""
    nets = [net for net in nets if net is not None]
    if not nets or stop is None:
        yield
        return
    owner = threading.get_ident()

    def check(module, args) -> None:
        if threading.get_ident() == owner:
            stop()

    handles = [module.register_forward_pre_hook(check) for net in nets for module in net.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class device_memory_errors:
    """Turn running out of device memory into ``DeviceOutOfMemoryError`` (exit 75: a farm retries the
    chunk with a smaller ``--batch`` or on another node); other errors pass through unchanged."""

    def __init__(self, device) -> None:
        self.device = torch.device(device)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not _is_out_of_memory(exc):
            return False
        raise DeviceOutOfMemoryError(
            f"the {self.device} device ran out of memory ({str(exc).splitlines()[0][:160]})",
            f"render with a smaller {setting('batch')} (e.g. {setting('batch', 1)}), close other GPU programs, or use "
            "another device",
        ) from None


def _is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's 'can't allocate memory' RuntimeError."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        isinstance(exc, MemoryError) or "can't allocate memory" in str(exc) or "out of memory" in str(exc))
