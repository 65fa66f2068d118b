"""Classic backend: a non-neural toon look in OpenCV, for shots where no VToonify weights are present.

Steps on a face crop [H, W, 3] uint8 RGB:
1. edge-preserving smoothing (repeated bilateral filter) flattens skin and texture;
2. colour quantisation with a small deterministic k-means (palette initialised from luma quantiles of a
   downsampled copy, fixed iteration count; no random init, so farm chunks agree byte for byte);
3. ink lines from an adaptive threshold of the median-blurred luma (dark where a pixel is darker than
   its neighbourhood: eyes, brows, lips, hair and face contours);
4. output at 4x the crop size, like VToonify's decoder, so the placement code is the same for both.
The colour image is upscaled with nearest neighbour and median-filtered (clean flat fills), the line
mask bilinearly (smooth, anti-aliased strokes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import ConfigError

UPSCALE = 4
"""Output size factor; VToonify's decoder also returns 4x its input crop."""
_LUT_SHIFT = 3
_LUT_BINS = 256 >> _LUT_SHIFT
_LUT_STEP = 1 << _LUT_SHIFT


@dataclass(frozen=True)
class ClassicStylizer:
    """Toon look settings; ``stylize`` is a pure function of the crop and these values."""

    smoothing_passes: int = 3
    """Bilateral filter iterations (0 = no smoothing); more gives flatter, more painted regions."""
    smoothing_sigma_colour: float = 30.0
    """Bilateral colour sigma in 8-bit levels: edges with a larger step than this survive."""
    colours: int = 8
    """Palette size of the colour quantisation (2..32; 0 disables quantisation)."""
    palette_sample_px: int = 96
    """Long side of the downsampled copy the palette is fitted on (speed, not quality)."""
    kmeans_iterations: int = 8
    """Fixed number of Lloyd iterations (no convergence test, so the work is always the same)."""
    line_strength: float = 0.85
    """How dark ink lines are: 0 = no lines, 1 = black."""
    line_block_px: int = 9
    """Adaptive-threshold neighbourhood at crop resolution (odd, >= 3)."""
    line_offset: float = 5.0
    """A pixel becomes ink when it is this many levels darker than its neighbourhood mean."""
    line_median_px: int = 7
    """Median blur on the luma before thresholding (odd); removes skin-pore speckle."""
    line_min_area_px: int = 12
    """Ink blobs smaller than this many crop pixels are dropped (freckles, noise), 0 keeps all."""

    def __post_init__(self) -> None:
        def check(ok: bool, what: str, fix: str) -> None:
            if not ok:
                raise ConfigError(what, fix)

        check(0 <= self.smoothing_passes <= 10, f"smoothing passes {self.smoothing_passes} out of range", "use 0..10")
        check(self.smoothing_sigma_colour > 0, "smoothing colour sigma must be positive", "use e.g. 30")
        check(self.colours == 0 or 2 <= self.colours <= 32, f"palette size {self.colours} out of range",
              "use 0 (off) or 2..32")
        check(self.palette_sample_px >= 16, "palette sample size too small", "use 16 or more")
        check(self.kmeans_iterations >= 1, "k-means needs at least one iteration", "use 1 or more")
        check(0.0 <= self.line_strength <= 1.0, f"line strength {self.line_strength} outside [0, 1]", "use 0..1")
        check(self.line_block_px >= 3 and self.line_block_px % 2 == 1, "line block size must be odd and >= 3",
              "use e.g. 9")
        check(self.line_median_px >= 1 and self.line_median_px % 2 == 1, "line median size must be odd",
              "use e.g. 7")
        check(self.line_min_area_px >= 0, "minimum ink blob area must be 0 or more", "use e.g. 12")

    def stylize(self, crop_rgb: np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] RGB crop -> uint8 [4H, 4W, 3] toon image (deterministic)."""
        crop = np.ascontiguousarray(crop_rgb)
        if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
            raise ValueError(f"classic stylizer wants uint8 [H, W, 3], got {crop.dtype} {crop.shape}")
        height, width = crop.shape[:2]
        smooth = self._smooth(crop)
        flat = self._quantise(smooth) if self.colours else smooth
        ink = self._ink_mask(crop)  # [H, W] float32, 1 = line
        size = (width * UPSCALE, height * UPSCALE)
        big = np.repeat(np.repeat(flat, UPSCALE, axis=0), UPSCALE, axis=1)  # each pixel a centred 4x4 block
        big = cv2.medianBlur(big, 5)  # round the nearest-neighbour staircase (5 = OpenCV's fast path)
        if self.line_strength > 0:
            big_ink = cv2.resize(ink, size, interpolation=cv2.INTER_LINEAR)
            big_ink = cv2.GaussianBlur(big_ink, (0, 0), UPSCALE * 0.35)
            shade = 1.0 - self.line_strength * np.clip(big_ink, 0.0, 1.0)  # [4H, 4W] in [0, 1]
            shade8 = np.rint(shade * 255.0).astype(np.uint8)
            big = cv2.multiply(big, cv2.merge([shade8, shade8, shade8]), scale=1.0 / 255.0)
        return big

    def _smooth(self, crop: np.ndarray) -> np.ndarray:
        out = crop
        for _ in range(self.smoothing_passes):
            out = cv2.bilateralFilter(out, 7, self.smoothing_sigma_colour, 5.0)
        return out

    def _palette(self, image: np.ndarray) -> np.ndarray:
        """Fit ``colours`` RGB centres on a downsampled copy; init from luma quantiles (deterministic)."""
        height, width = image.shape[:2]
        factor = self.palette_sample_px / max(height, width)
        if factor < 1.0:
            small = cv2.resize(image, (max(1, round(width * factor)), max(1, round(height * factor))),
                               interpolation=cv2.INTER_AREA)
        else:
            small = image
        samples = small.reshape(-1, 3).astype(np.float32)  # [P, 3]
        luma = samples @ np.array([0.299, 0.587, 0.114], np.float32)
        order = np.argsort(luma, kind="stable")
        picks = ((np.arange(self.colours) + 0.5) / self.colours * len(order)).astype(np.int64)
        centres = samples[order[picks]].copy()  # [K, 3]
        for _ in range(self.kmeans_iterations):
            labels = _nearest(samples, centres)
            counts = np.bincount(labels, minlength=self.colours)  # [K]
            for channel in range(3):
                sums = np.bincount(labels, weights=samples[:, channel], minlength=self.colours)
                filled = counts > 0
                centres[filled, channel] = (sums[filled] / counts[filled]).astype(np.float32)
        return centres

    def _quantise(self, image: np.ndarray) -> np.ndarray:
        """Map every pixel to its palette colour through a 32x32x32 lookup table (exact integer
        indexing: fast and the same on every machine, unlike a BLAS distance product)."""
        centres = self._palette(image)
        levels = np.arange(_LUT_BINS, dtype=np.float32) * _LUT_STEP + (_LUT_STEP - 1) / 2.0
        grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
        lut = _nearest(grid, centres).reshape(_LUT_BINS, _LUT_BINS, _LUT_BINS)  # [32, 32, 32]
        bins = image >> _LUT_SHIFT  # [H, W, 3]
        labels = lut[bins[:, :, 0], bins[:, :, 1], bins[:, :, 2]]  # [H, W]
        palette = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
        return palette[labels]

    def _ink_mask(self, crop: np.ndarray) -> np.ndarray:
        luma = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        luma = cv2.medianBlur(luma, self.line_median_px)
        lines = cv2.adaptiveThreshold(luma, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                      self.line_block_px, self.line_offset)
        # Drop isolated specks: a line pixel needs line neighbours, and a stroke needs some length.
        lines = centred_open(lines)
        if self.line_min_area_px > 0:
            _, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)  # stats [N, 5]
            keep = stats[:, cv2.CC_STAT_AREA] >= self.line_min_area_px  # [N]
            keep[0] = False  # label 0 is the background
            lines = np.where(keep[labels], np.uint8(255), np.uint8(0))
        return lines.astype(np.float32) / 255.0


def centred_open(mask: np.ndarray) -> np.ndarray:
    """Morphological opening by a 2x2 square that moves nothing: erode with the square's anchor at its
    bottom-right, dilate with the reflected square (anchor top-left). OpenCV's ``MORPH_OPEN`` with an
    even kernel uses one anchor for both steps, which shifts every stroke one pixel down-right."""
    square = np.ones((2, 2), np.uint8)
    eroded = cv2.erode(mask, square, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.dilate(eroded, square, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _nearest(samples: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the closest centre for each sample: [P, 3], [K, 3] -> [P] (ties -> lowest index)."""
    distances = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)  # [P, K]
    return np.argmin(distances, axis=1)
