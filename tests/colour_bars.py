"""Colour-bar clips with exactly known Y'CbCr codes, for checking how a reader turns video into RGB.

Why build the codes by hand: an encoder's own RGB->YUV step would hide the very matrix/range choice the
tests are about. Each bar is a flat patch of Y'CbCr codes computed from an exact RGB triple with the
clip's matrix and range, encoded losslessly (x264/x265 qp 0, FFV1) or near-losslessly (ProRes), and
tagged with the matrix, range, primaries and transfer the case claims. The bars are wide and flat, so
chroma subsampling does not touch the patch centres that are measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BARS = np.array(
    [
        [1.0, 1.0, 1.0],
        [0.75, 0.75, 0.0],
        [0.0, 0.75, 0.75],
        [0.0, 0.75, 0.0],
        [0.75, 0.0, 0.75],
        [0.75, 0.0, 0.0],
        [0.0, 0.0, 0.75],
        [0.0, 0.0, 0.0],
    ],
    dtype=np.float64,
)
"""Display RGB (0..1) of each bar, left to right: white, then 75% SMPTE bars, then black."""

LUMA_WEIGHTS = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt2020": (0.2627, 0.0593)}
COLORSPACE_TAG = {"bt709": 1, "bt601": 6, "bt2020": 9, "unknown": 2}  # AVCOL_SPC_*: 6 = smpte170m
PRIMARIES_TAG = {"bt709": 1, "bt601": 6, "bt2020": 9, "unknown": 2}
TRC_TAG = {"bt709": 1, "bt601": 6, "bt2020": 14, "pq": 16, "hlg": 18, "unknown": 2}
BAR_WIDTH = 32


@dataclass(frozen=True)
class Case:
    name: str
    matrix: str  # bt709 / bt601 / bt2020 (the codes), tagged as ``tag_matrix``
    full_range: bool
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    container: str = "mp4"
    trc: str | None = None
    tag_matrix: str | None = None  # "unknown": codes in ``matrix`` but the file does not say so
    tag_range: bool = True
    height: int = 64
    options: tuple = (("qp", "0"),)

    @property
    def bits(self) -> int:
        return 10 if "10" in self.pix_fmt else 8


X265_LOSSLESS = (("x265-params", "lossless=1:log-level=none:bframes=0:frame-threads=1:pools=none"),)
"""bframes=0, one thread: with frame threads the mov muxer now and then refused a packet (ENOSYS, 3 in 30)."""
COLOUR_CASES = (
    Case("rec709_limited", "bt709", False),
    Case("bt601_limited", "bt601", False),
    Case("rec709_full", "bt709", True),
    Case("jpeg_range_phone", "bt601", True, pix_fmt="yuvj420p"),
    Case("untagged_sd", "bt601", False, tag_matrix="unknown", tag_range=False),
    Case("untagged_hd", "bt709", False, tag_matrix="unknown", tag_range=False, height=720),
    Case("rec709_10bit_hevc", "bt709", False, codec="libx265", pix_fmt="yuv420p10le", options=X265_LOSSLESS),
    Case("rec709_10bit_prores", "bt709", False, codec="prores_ks", pix_fmt="yuv422p10le", container="mov", options=()),
    Case("hlg_bt2020", "bt2020", False, codec="libx265", pix_fmt="yuv420p10le", trc="hlg", options=X265_LOSSLESS),
    Case("pq_bt2020", "bt2020", False, codec="libx265", pix_fmt="yuv420p10le", trc="pq", options=X265_LOSSLESS),
)
"""The plates artists bring, as bar clips: Rec.709 HD, SD BT.601, full range (phone), untagged, 10-bit, HDR."""


def bar_codes(matrix: str, full_range: bool, bits: int) -> np.ndarray:
    """[8, 3] integer Y, Cb, Cr codes of ``BARS`` in ``matrix`` and range at ``bits``."""
    kr, kb = LUMA_WEIGHTS[matrix]
    rgb = BARS
    y = kr * rgb[:, 0] + (1 - kr - kb) * rgb[:, 1] + kb * rgb[:, 2]
    cb = (rgb[:, 2] - y) / (2 * (1 - kb))
    cr = (rgb[:, 0] - y) / (2 * (1 - kr))
    scale = 1 << (bits - 8)
    if full_range:
        top = (1 << bits) - 1
        codes = np.stack([y * top, cb * top + (128 * scale), cr * top + (128 * scale)], axis=1)
    else:
        codes = np.stack([(16 + 219 * y) * scale, (128 + 224 * cb) * scale, (128 + 224 * cr) * scale], axis=1)
    return np.clip(np.rint(codes), 0, (1 << bits) - 1).astype(np.int64)


def _fill_plane(plane, values: np.ndarray, dtype) -> None:
    """Write a [h, w] array into a frame plane, honouring its line padding."""
    itemsize = np.dtype(dtype).itemsize
    height, width = values.shape
    row = plane.line_size // itemsize
    padded = np.zeros((height, row), dtype=dtype)
    padded[:, :width] = values
    plane.update(padded.tobytes())


def make_bars_frame(case: Case, alpha: np.ndarray | None = None):
    """One frame of bars in ``case``'s pixel format (an alpha plane when the format has one)."""
    import av  # the engine's Python only: Blender's venv reads these helpers without PyAV

    codes = bar_codes(case.matrix, case.full_range, case.bits)
    width, height = BAR_WIDTH * len(BARS), case.height
    frame = av.VideoFrame(width, height, case.pix_fmt)
    dtype = np.uint16 if case.bits > 8 else np.uint8
    sub_x = 2 if "420" in case.pix_fmt or "422" in case.pix_fmt else 1
    sub_y = 2 if "420" in case.pix_fmt else 1
    for index, plane in enumerate(frame.planes):
        if index == 3:
            top = (1 << case.bits) - 1
            values = np.full((height, width), top) if alpha is None else np.rint(alpha * top)
            _fill_plane(plane, values.astype(dtype), dtype)
            continue
        w = width if index == 0 else width // sub_x
        h = height if index == 0 else height // sub_y
        bar = BAR_WIDTH if index == 0 else BAR_WIDTH // sub_x
        row = np.repeat(codes[:, index], bar)[:w]
        _fill_plane(plane, np.tile(row, (h, 1)).astype(dtype), dtype)
    return frame


def make_bars_clip(path: Path, case: Case, frames: int = 2, alpha: np.ndarray | list | None = None) -> Path:
    """Encode ``frames`` frames of bars for ``case`` into ``path`` with the case's tags (``alpha``: the
    alpha plane, 0..1, of a format with one, or a list of one per frame; opaque where None)."""
    alphas = alpha if isinstance(alpha, list) else [alpha] * frames
    import av

    tag_matrix = case.tag_matrix or case.matrix
    primaries = "bt2020" if case.matrix == "bt2020" else tag_matrix
    trc = case.trc or tag_matrix
    with av.open(str(path), "w") as out:
        stream = out.add_stream(case.codec, rate=25)
        stream.width, stream.height = BAR_WIDTH * len(BARS), case.height
        stream.pix_fmt = case.pix_fmt
        stream.options = dict(case.options)
        context = stream.codec_context
        context.colorspace = COLORSPACE_TAG[tag_matrix]
        context.color_primaries = PRIMARIES_TAG.get(primaries, 2)
        context.color_trc = TRC_TAG[trc]
        context.color_range = (2 if case.full_range else 1) if case.tag_range else 0
        for index in range(frames):
            frame = make_bars_frame(case, alphas[index])
            frame.pts = index
            frame.colorspace = context.colorspace
            frame.color_range = context.color_range
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def bar_centres(rgb: np.ndarray) -> np.ndarray:
    """[8, 3] mean RGB of the middle of each bar of a decoded [H, W, 3] frame (any dtype)."""
    height = rgb.shape[0]
    rows = slice(height // 4, height - height // 4)
    return np.stack(
        [
            rgb[rows, i * BAR_WIDTH + 8 : (i + 1) * BAR_WIDTH - 8].reshape(-1, rgb.shape[2]).mean(axis=0)
            for i in range(len(BARS))
        ]
    )[:, :3]
