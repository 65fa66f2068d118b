"""Style images (a studio's artwork folder) in the FFHQ layout of the StyleGAN to fine-tune, kept on disk.

Toonify fine-tunes an FFHQ StyleGAN on faces framed as FFHQ frames them; a cartoon face framed otherwise
teaches the model a different crop, not the style. So every image is aligned by the same rule the
renderer uses for photos (dlib 68 landmarks, the official ``align_face`` quad, ``engine.face.align``) at
the StyleGAN's own resolution, or, with ``--aligned``, taken as already aligned (centre square, resized).

Every problem is collected over the whole folder and raised once, each file named: unreadable files, no
face found (stylised faces often defeat dlib: align them by hand and pass ``--aligned``, or
``--drop-no-face``), too few usable images.

Each aligned image goes to the run's cache folder (``engine.train.aligned_cache``) as it is made, and
training reads them per batch: memory does not grow with the folder, and a farm retry (``--resume
auto``) or a repeated run reads back what is there instead of aligning again (an edited file is aligned
again: entries are named by content). Face detection is the slow part (about a second per image): the
landmarks found, and "no face", are also kept in ``OUT/NAME/finetune_landmarks.json`` (per file name and
content hash), so an unchanged image is not searched again even when its aligned copy is gone.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from engine.errors import ConfigError, InputError
from engine.train.aligned_cache import AlignedCache, content_hash, entry_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MIN_IMAGES = 4
"""Fewer style images than this cannot describe a style (refused)."""
FEW_IMAGES = 100
"""Below this a warning: the official styles used 100-320 images (cartoon 317); a model fine-tuned on a
handful memorises them."""
MAX_NAMED = 12
"""Files named in one message (the rest are counted)."""
LANDMARKS_FILE = "finetune_landmarks.json"
LANDMARKS_FORMAT = "vtoonify-studio-landmarks/1"
MAX_PIXELS = 64_000_000
"""Larger images are refused unread (a decompression bomb, or a scan no face crop needs)."""


@dataclass
class StyleImages:
    """The aligned style images (on disk, read per batch) and what happened to the folder's files."""

    store: AlignedCache
    keys: list[str]
    """The cache entry of each image, in the folder's sorted file order."""
    names: list[str]
    digest: str
    """SHA-256 (16 hex) of all aligned pixels in order, as uint8 [N, 3, S, S] (what a resume compares)."""
    dropped: list[str] = field(default_factory=list)
    """Files without a detectable face left out with ``--drop-no-face``."""
    skipped: list[str] = field(default_factory=list)
    """Files in the folder that are not images by their suffix (ignored)."""
    landmarks: dict[str, dict] = field(default_factory=dict)
    """File name -> {size, mtime_ns, sha256, landmarks (68x2 list or None)} of every image searched for a
    face (what :func:`save_landmarks` keeps for the next run)."""
    aligned_now: int = 0
    """Images aligned (and written to the cache) by this scan; the others were read back from it."""

    def __len__(self) -> int:
        return len(self.names)

    def batch(self, indices) -> torch.Tensor:
        """uint8 [B, 3, S, S] of the images at ``indices``, read from the cache now (only these in memory)."""
        return torch.from_numpy(np.stack([self.store.load(self.keys[int(i)]) for i in indices]))


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def list_images(folder: Path) -> tuple[list[Path], list[str]]:
    """(image files by suffix, sorted; other entries' names). Links and sub-folders are not followed."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise InputError(f"--images {folder} {what}",
                         "give the folder that holds the style images (jpg/png/webp/bmp/tif)")
    images, others = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file() and not entry.is_symlink():
            images.append(entry)
        else:
            others.append(entry.name)
    return images, others


def check_images_folder(folder: str | Path) -> list[Path]:
    """The image files of ``folder``; InputError when it is missing, not a folder or holds none (checked
    before the StyleGAN loads, so a typo costs no waiting)."""
    folder = Path(folder).expanduser()
    paths, _ = list_images(folder)
    if not paths:
        raise InputError(f"--images {folder} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})",
                         "point --images at the folder of style images")
    return paths


def _grey16_to_rgb8(img: Image.Image) -> np.ndarray:
    """16-bit greyscale (PIL modes ``I;16*`` / ``I``) as 8-bit RGB: PIL's ``convert("RGB")`` clips these
    at 255, so a 16-bit ink scan came out white."""
    grey = np.asarray(img, dtype=np.float64) / 257.0
    return np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def read_rgb(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB with the EXIF orientation applied; InputError for anything unreadable."""
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"{path.name} is {img.width}x{img.height}", "scale it down")
            img = ImageOps.exif_transpose(img)
            if img.mode == "I" or img.mode.startswith("I;16"):
                return _grey16_to_rgb8(img)
            if img.mode == "F":  # floating-point pixels have no agreed range: guessing one whitens or blackens
                raise InputError(f"{path.name} has floating-point pixels", "re-export it as 8- or 16-bit PNG")
            return np.asarray(img.convert("RGB"))
    except InputError:
        raise
    except Exception as exc:  # PIL raises many types for damaged or foreign files
        raise InputError(f"{path.name}: {type(exc).__name__}: {exc}", "re-export it as PNG or JPEG") from None


def square_resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre square of an already aligned image, resized to ``size`` (Lanczos)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = Image.fromarray(np.ascontiguousarray(rgb[top:top + side, left:left + side]), "RGB")
    if side != size:
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(img)


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_landmarks(path: Path | None) -> dict[str, dict]:
    """The landmark cache written by an earlier run ({} when there is none, or it is not ours)."""
    if path is None or path.is_symlink() or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("format") != LANDMARKS_FORMAT or not isinstance(data.get("images"), dict):
        return {}
    return data["images"]


def save_landmarks(path: Path, entries: dict[str, dict], warn) -> None:
    """Write the cache atomically; a link or a file this trainer did not write there is left alone."""
    from engine.io.atomic import atomic_path

    if path.is_symlink() or (path.exists() and not read_landmarks(path) and path.stat().st_size > 0):
        warn(f"{path} is not a landmark cache of `engine train finetune`; left as it is (faces are searched "
             "again on the next run)")
        return
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"format": LANDMARKS_FORMAT, "images": entries}))
    except OSError as exc:
        warn(f"could not keep the face landmarks in {path} ({exc}); the next run searches again")


def _cached(cache: dict[str, dict], path: Path, content: str) -> tuple[bool, np.ndarray | None]:
    """(hit, landmarks or None for 'no face') for a file named in the cache with the same content (its
    SHA-256; entries of older runs without one: the same size and modification time)."""
    entry = cache.get(path.name)
    if not isinstance(entry, dict):
        return False, None
    same = (entry["sha256"] == content if "sha256" in entry
            else {k: entry.get(k) for k in ("size", "mtime_ns")} == _stamp(path))
    if not same:
        return False, None
    marks = entry.get("landmarks")
    if marks is None:
        return True, None
    array = np.asarray(marks, dtype=np.int64)
    return (True, array) if array.shape == (68, 2) else (False, None)


def load_style_images(folder: str | Path, size: int, *, aligned: bool, store: Path, drop_no_face: bool = False,
                      warn=None, note=None, cache: Path | None = None) -> StyleImages:
    """Read and align every image of ``folder`` to ``size`` into the cache folder ``store`` (see
    :mod:`engine.train.aligned_cache`; one image in memory at a time); see the module docstring.
    ``cache``: the landmark file of an earlier run (read only here; the caller saves
    :attr:`StyleImages.landmarks`)."""
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    note = note or (lambda message: print(message, file=sys.stderr))
    folder = Path(folder).expanduser()
    paths = check_images_folder(folder)
    others = list_images(folder)[1]
    from engine.face.align import align_face, plan_alignment

    aligned_store = AlignedCache(store, size)
    aligned_store.open()
    known = {} if aligned else read_landmarks(cache)
    found: dict[str, dict] = {}
    landmarker = None
    unreadable, no_face, keys, names = [], [], [], []
    digest = hashlib.sha256()
    reused = aligned_now = 0
    for k, path in enumerate(paths, 1):
        if k == 1 or k % 25 == 0 or k == len(paths):
            note(f"reading style images: {k}/{len(paths)}")
        try:
            content = content_hash(path)
        except OSError as exc:
            unreadable.append(f"{path.name}: {exc.strerror or exc}")
            continue
        key = entry_key(content, size, aligned)
        pixels = aligned_store.read(key)
        if pixels is None:
            try:
                rgb = read_rgb(path)
            except InputError as exc:
                unreadable.append(exc.message)
                continue
        if not aligned:
            hit, landmarks = _cached(known, path, content)
            if pixels is None and not hit:
                if landmarker is None:
                    from engine.face.landmarks import FaceLandmarker

                    landmarker = FaceLandmarker()
                landmarks = landmarker(rgb)
            elif pixels is None:
                reused += 1
            if pixels is None or hit:  # a cached image whose landmarks were never kept stays without
                found[path.name] = {**_stamp(path), "sha256": content,
                                    "landmarks": None if landmarks is None else landmarks.tolist()}
            if pixels is None and landmarks is None:
                no_face.append(path.name)
                continue
        if pixels is None:
            face = (square_resize(rgb, size) if aligned
                    else align_face(rgb, landmarks, plan_alignment(landmarks, rgb.shape[:2], size), size))
            pixels = np.ascontiguousarray(face.transpose(2, 0, 1))
            del rgb, face
            aligned_store.write(key, pixels)
            aligned_now += 1
        digest.update(pixels.tobytes())
        keys.append(key)
        names.append(path.name)
    if reused:
        note(f"faces of {reused} unchanged image(s) taken from {cache}")
    if len(keys) > aligned_now:
        note(f"{len(keys) - aligned_now} aligned image(s) read back from {store}, {aligned_now} aligned now")
    problems, fixes = [], []
    if unreadable:
        problems.append(f"{len(unreadable)} unreadable image(s) in {folder}: {_listing(unreadable)}")
        fixes.append("re-export or remove them")
    if no_face and not drop_no_face:
        problems.append(f"no face found in {len(no_face)} of {len(paths)} image(s): {_listing(no_face)}")
        fixes.append("crop and align them as FFHQ faces and pass --aligned, remove them, or pass "
                     "--drop-no-face to train without them")
    if problems:
        raise InputError("; ".join(problems), "; ".join(fixes))
    if no_face:
        warn(f"no face found in {len(no_face)} image(s), left out (--drop-no-face): {_listing(no_face)}")
    if len(keys) < MIN_IMAGES:
        raise ConfigError(
            f"only {len(keys)} usable style image(s) in {folder}; fine-tuning needs at least {MIN_IMAGES}",
            "add style images (the official styles used 100-320 faces)",
        )
    if len(keys) < FEW_IMAGES:
        warn(f"{len(keys)} style images: the official styles used 100-320 (cartoon 317); with this few the "
             "model memorises them, so keep --iter low and check the samples")
    if others:
        note(f"ignored {len(others)} entr{'y' if len(others) == 1 else 'ies'} of {folder} that are not images: "
             f"{_listing(others)}")
    pruned = aligned_store.prune(set(keys))
    if pruned:
        note(f"removed {pruned} aligned image(s) of sources no longer in {folder} from {store}")
    return StyleImages(aligned_store, keys, names, digest.hexdigest()[:16], dropped=no_face if drop_no_face else [],
                       skipped=others, landmarks=found, aligned_now=aligned_now)
