"""Cryptomatte (Psyop's open ID-matte standard) for the face-parsing mattes: ids, ranks, header.

Why: Nuke, Fusion, Blender and Houdini pick objects out of a Cryptomatte with one click, by name,
so a comp can grade "face/skin" without learning our ``matte.<class>`` layer names. Pure numpy.

Facts kept from the specification (github.com/Psyop/Cryptomatte, ``specification/``):
- an object's id is MurmurHash3_x86_32 (seed 0) of its UTF-8 name, its bits read as a float32 whose
  exponent is kept inside [1, 254] (no zero/denormal, NaN or inf ids); the manifest stores those float
  bits as 8 hex digits;
- channels ``<type>00.R/G/B/A``, ``<type>01...``: (id, coverage) of rank 0 and 1, then 2 and 3, ...,
  ranked by coverage, unused ranks 0; 6 ranks (3 layers) is the suggested default;
- header ``cryptomatte/<key>/name|hash|conversion|manifest`` with ``hash = MurmurHash3_32``,
  ``conversion = uint32_to_float32`` and the key = the first 7 hex digits of the type name's hash.
"""

from __future__ import annotations

import json

import numpy as np

TYPE_NAME = "CryptoFace"
RANKS = 6
OBJECT_PREFIX = "face/"
REST = "other"
"""The part of the element no class covers (alpha minus the sum of the mattes): selecting every object
of the type gives the beauty's alpha."""

_MASK32 = 0xFFFFFFFF


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK32


def murmurhash3_32(data: bytes | str, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of ``data`` (str is UTF-8 encoded) as an unsigned 32-bit int."""
    key = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _MASK32
    body = len(key) // 4 * 4
    for i in range(0, body, 4):
        k = int.from_bytes(key[i:i + 4], "little")
        k = _rotl32((k * c1) & _MASK32, 15) * c2 & _MASK32
        h = (_rotl32(h ^ k, 13) * 5 + 0xE6546B64) & _MASK32
    tail = key[body:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= _rotl32((k * c1) & _MASK32, 15) * c2 & _MASK32
    h ^= len(key)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def hash_to_float_bits(hash32: int) -> int:
    """The spec's uint32_to_float32 conversion: sign and mantissa kept, exponent clamped to [1, 254]."""
    exponent = min(max((hash32 >> 23) & 0xFF, 1), 254)
    return (hash32 & 0x807FFFFF) | (exponent << 23)


def object_id(name: str) -> np.float32:
    """The float32 pixel value that stands for object ``name``."""
    return np.array([hash_to_float_bits(murmurhash3_32(name))], np.uint32).view(np.float32)[0]


def object_id_hex(name: str) -> str:
    """The manifest's spelling of ``name``'s id: the float bits as 8 lower-case hex digits."""
    return f"{hash_to_float_bits(murmurhash3_32(name)):08x}"


def layer_key(type_name: str) -> str:
    """The 7-character metadata key of a Cryptomatte type (stable across frames and shots)."""
    return f"{murmurhash3_32(type_name):08x}"[:7]


def header(type_name: str, names: list[str]) -> dict[str, str]:
    """The required header attributes plus the manifest (JSON name -> hex id) for ``names``."""
    prefix = f"cryptomatte/{layer_key(type_name)}/"
    manifest = {name: object_id_hex(name) for name in names}
    return {prefix + "name": type_name, prefix + "hash": "MurmurHash3_32",
            prefix + "conversion": "uint32_to_float32",
            prefix + "manifest": json.dumps(manifest, sort_keys=True, separators=(",", ":"))}


def channel_names(type_name: str, ranks: int = RANKS) -> list[str]:
    """``<type>00.R``, ``.G``, ``.B``, ``.A``, ``<type>01.R``, ...: two ranks per RGBA layer."""
    if ranks < 2 or ranks % 2:
        raise ValueError(f"Cryptomatte ranks come in pairs (one RGBA layer per two), got {ranks}")
    return [f"{type_name}{layer:02d}.{c}" for layer in range(ranks // 2) for c in "RGBA"]


def encode_ranks(coverage: np.ndarray, ids: np.ndarray, ranks: int = RANKS) -> np.ndarray:
    """[K, H, W] coverage of K objects with float ids [K] -> [H, W, 2 * ranks] (id, coverage) pairs.

    Per pixel the objects are sorted by coverage, largest first (ties: the earlier object); ranks
    past the objects with coverage > 0 hold id 0 and coverage 0, as the spec asks for empty samples.
    """
    cov = np.asarray(coverage, np.float32)
    ids = np.asarray(ids, np.float32)
    if cov.ndim != 3 or ids.shape != (cov.shape[0],):
        raise ValueError(f"encode_ranks wants [K, H, W] coverage and K ids, got {cov.shape} and {ids.shape}")
    k, h, w = cov.shape
    out = np.zeros((h, w, 2 * ranks), np.float32)
    remaining = cov.reshape(k, -1).T.copy(order="C")  # [H*W, K], a copy: the caller's array is left alone
    flat = out.reshape(h * w, 2 * ranks)
    for rank in range(min(k, ranks)):  # repeated argmax: O(K) per rank, not a full sort of K objects
        best = np.argmax(remaining, axis=1)[:, None]  # the first of equal maxima: the earlier object
        top = np.take_along_axis(remaining, best, axis=1)[:, 0]
        if not (top > 0.0).any():
            break
        flat[:, 2 * rank] = np.where(top > 0.0, ids[best[:, 0]], 0.0)
        flat[:, 2 * rank + 1] = np.maximum(top, 0.0)
        np.put_along_axis(remaining, best, -1.0, axis=1)
    return out


def decode(pixels: np.ndarray, name: str) -> np.ndarray:
    """[H, W, 2 * ranks] rank pairs -> [H, W] coverage of object ``name`` (what a keyer does)."""
    pairs = np.asarray(pixels, np.float32)
    target = object_id(name)
    ids, cov = pairs[:, :, 0::2], pairs[:, :, 1::2]
    return np.where(ids.view(np.uint32) == target.view(np.uint32), cov, 0.0).sum(axis=2)


def matte_coverage(mattes: dict[str, np.ndarray], alpha: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Object names and [K, H, W] coverage from class mattes and the element's alpha.

    The classes are exclusive (they sum to at most the alpha); rounding overshoot is scaled back to
    the alpha, and what the alpha covers beyond the classes becomes ``face/other``.
    """
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    names = [OBJECT_PREFIX + name for name in mattes] + [OBJECT_PREFIX + REST]
    stack = np.zeros((len(names),) + alpha.shape, np.float32)
    for i, matte in enumerate(mattes.values()):
        stack[i] = np.clip(np.asarray(matte, np.float32), 0.0, 1.0)
    total = stack[:-1].sum(axis=0)
    over = total > alpha
    stack[:-1] *= np.where(over, alpha / np.maximum(total, 1e-12), 1.0)
    stack[-1] = np.maximum(alpha - np.minimum(total, alpha), 0.0)
    return names, stack


def cryptomatte_layers(mattes: dict[str, np.ndarray], alpha: np.ndarray, type_name: str = TYPE_NAME,
                       ranks: int = RANKS) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Class mattes [H, W] + alpha [H, W] -> ({channel name: [H, W] float32}, header attributes).

    Every class is in the manifest even when a frame does not show it, so the manifest (and the
    header) is the same on every frame of a job.
    """
    names, coverage = matte_coverage(mattes, alpha)
    ids = np.array([object_id(name) for name in names], np.float32)
    pairs = encode_ranks(coverage, ids, ranks)
    channels = {name: pairs[:, :, i] for i, name in enumerate(channel_names(type_name, ranks))}
    return channels, header(type_name, names)


def coverage_layers(coverage: dict[str, np.ndarray], type_name: str = TYPE_NAME, ranks: int = RANKS
                    ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Named coverage planes [H, W] (one object each, e.g. ``face01``, ``face02``) -> (channels, header).

    Used for several faces per shot: one id per person, so a comp picks each face with one click."""
    names = list(coverage)
    stack = np.stack([np.clip(np.asarray(coverage[n], np.float32), 0.0, 1.0) for n in names])
    ids = np.array([object_id(name) for name in names], np.float32)
    pairs = encode_ranks(stack, ids, ranks)
    channels = {name: pairs[:, :, i] for i, name in enumerate(channel_names(type_name, ranks))}
    return channels, header(type_name, names)
