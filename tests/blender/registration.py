"""Registration of two renders by phase correlation of their edges (numpy only: runs in the bpy venv).

``shift(a, b, weight)`` is how far ``b`` lies from ``a`` (dx, dy in pixels; +x right, +y down).
Edges (gradient magnitude of blurred luma) make a stylized picture comparable with its photo: the
colours differ, the contours do not. ``weight`` is a smooth window (1 inside the region both
pictures cover, tapering to 0) applied to both edge maps, so the region's border adds no edge.
"""

from __future__ import annotations

import numpy as np


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur by multiplication in the Fourier domain (edge-padded, so no wrap-around)."""
    pad = int(3 * sigma) + 1
    padded = np.pad(img, pad, mode="edge")
    fy, fx = np.fft.fftfreq(padded.shape[0])[:, None], np.fft.fftfreq(padded.shape[1])[None, :]
    gain = np.exp(-2 * (np.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(padded) * gain))[pad:-pad, pad:-pad]


def _bin(img: np.ndarray, k: int) -> np.ndarray:
    """Mean of each k x k block (a zoomed-in render back to about its source's pixel size)."""
    if k == 1:
        return img
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k, *img.shape[2:]).mean(axis=(1, 3))


def edges(rgb: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Gradient magnitude of the blurred luma of an [H, W, 3+] float image."""
    luma = rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722
    smooth = _blur(luma.astype(np.float64), sigma)
    gy, gx = np.gradient(smooth)
    return np.hypot(gx, gy)


def smooth_window(mask: np.ndarray, margin: int, sigma: float) -> np.ndarray:
    """``mask`` shrunk by ``margin`` px, then blurred: a taper from 1 inside to 0 at the region's edge."""
    inner = mask.astype(bool)
    for _ in range(margin):
        inner = inner & np.roll(inner, 1, 0) & np.roll(inner, -1, 0) & np.roll(inner, 1, 1) & np.roll(inner, -1, 1)
    return _blur(inner.astype(np.float64), sigma)


def _translate(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``img`` moved by (dx, dy) px (Fourier shift theorem; wraps around, which the window hides)."""
    fy, fx = np.fft.fftfreq(img.shape[0])[:, None], np.fft.fftfreq(img.shape[1])[None, :]
    return np.real(np.fft.ifft2(np.fft.fft2(img) * np.exp(-2j * np.pi * (fx * dx + fy * dy))))


def shift(a: np.ndarray, b: np.ndarray, weight: np.ndarray, rounds: int = 3, band: float = 0.5
          ) -> tuple[float, float, float]:
    """(dx, dy, peak) of ``b`` relative to ``a`` (2-D maps of the same size).

    The window is the same in both maps and so pulls every estimate toward zero; moving ``b`` back by
    the estimate and measuring the rest again removes that pull (a few rounds converge). Only
    frequencies below ``band`` cycles/px count: a zoomed-in strip has nothing above its source's
    Nyquist limit but interpolation noise, which whitening would otherwise blow up."""
    total_x = total_y = 0.0
    peak = 0.0
    for _ in range(rounds):
        dx, dy, peak = _shift_once(a, _translate(b, -total_x, -total_y), weight, band)
        total_x, total_y = total_x + dx, total_y + dy
        if abs(dx) < 0.01 and abs(dy) < 0.01:
            break
    return total_x, total_y, peak


def _shift_once(a: np.ndarray, b: np.ndarray, weight: np.ndarray, band: float) -> tuple[float, float, float]:
    ys, xs = np.nonzero(weight > 1e-3)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    wa = (a * weight)[y0:y1, x0:x1]
    wb = (b * weight)[y0:y1, x0:x1]
    fa, fb = np.fft.fft2(wa - wa.mean()), np.fft.fft2(wb - wb.mean())
    cross = fb * np.conj(fa)
    spectrum = cross / np.maximum(np.abs(cross), 1e-12)
    fy, fx = np.fft.fftfreq(cross.shape[0])[:, None], np.fft.fftfreq(cross.shape[1])[None, :]
    spectrum = spectrum * ((np.abs(fx) < band) & (np.abs(fy) < band))
    corr = np.real(np.fft.ifft2(spectrum))
    h, w = corr.shape
    py, px = np.unravel_index(np.argmax(corr), corr.shape)
    # refine on a 1/50 px grid around the integer peak: the band-limited correlation surface,
    # evaluated by a matrix DFT (Guizar-Sicairos et al. 2008), has its maximum at the shift
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    cy, cx, peak = float(py), float(px), 0.0
    for step in (0.1, 0.01):  # coarse, then fine
        steps = np.arange(-10, 11) * step
        ey = np.exp(2j * np.pi * np.outer(cy + steps, fy))  # [21, H]
        ex = np.exp(2j * np.pi * np.outer(cx + steps, fx))  # [21, W]
        fine = np.real(ey @ spectrum @ ex.T) / (h * w)
        iy, ix = np.unravel_index(np.argmax(fine), fine.shape)
        cy, cx, peak = cy + steps[iy], cx + steps[ix], float(fine[iy, ix])
    cy, cx = (cy + h / 2) % h - h / 2, (cx + w / 2) % w - w / 2
    return float(cx), float(cy), peak


def registration(source: np.ndarray, result: np.ndarray, zoom: float = 1.0) -> dict:
    """Shift (render px) of a result render against the source render over the result's opaque area:
    the whole area and its left/right/top/bottom halves (a scale error moves opposite halves apart).

    ``zoom``: render px per source px. Renders are binned by its whole part first, and only the
    frequencies the source itself holds are compared."""
    alpha = result[..., 3] > 0.99
    ys, xs = np.nonzero(alpha)
    pad = 8
    y0, y1 = max(0, ys.min() - pad), min(alpha.shape[0], ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(alpha.shape[1], xs.max() + 1 + pad)
    k = max(1, int(zoom))
    source, result = _bin(source[y0:y1, x0:x1], k), _bin(result[y0:y1, x0:x1], k)
    alpha = result[..., 3] > 0.99
    zoom = max(1.0, zoom / k)
    sigma = 1.5 * zoom
    ea, eb = edges(source[..., :3], sigma), edges(result[..., :3], sigma)
    window = smooth_window(alpha, margin=int(6 * sigma), sigma=2 * sigma)
    ys, xs = np.nonzero(window > 0.5)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    grid_y, grid_x = np.mgrid[:window.shape[0], :window.shape[1]]
    halves = {"left": grid_x < cx, "right": grid_x >= cx, "top": grid_y < cy, "bottom": grid_y >= cy}
    band = 0.4 / zoom  # below the source's own Nyquist limit as drawn at this zoom
    out = {}
    for name, keep in {"all": None, **halves}.items():
        weight = window if keep is None else window * _blur(keep.astype(np.float64), 2 * sigma)
        dx, dy, peak = shift(ea, eb, weight, band=band)
        out[name] = (dx * k, dy * k, peak)
    width, height = (xs.max() - xs.min()) * k, (ys.max() - ys.min()) * k
    out["scale_x"] = 1.0 + (out["right"][0] - out["left"][0]) / (width / 2)
    out["scale_y"] = 1.0 + (out["bottom"][1] - out["top"][1]) / (height / 2)
    return out
