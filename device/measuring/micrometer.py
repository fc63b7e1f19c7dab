"""A stage micrometer's photograph -> the spacing of its divisions in pixels (pure numpy).

The divisions are parallel lines at one spacing: the image's spectrum has its strongest peak
(after the mean) at that spacing's frequency, in the direction across the lines. The peak gives
the direction; the profile across the lines (the image averaged along them) gives the spacing
to a fraction of a pixel, from the same peak of its zero-padded 1-D spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_PERIOD_PX = 3.0  # finer than this a camera cannot resolve the divisions
MIN_SIDE = 64  # smaller images hold too few divisions to measure their spacing
MAX_SIDE = 2048  # the middle of larger photographs is enough (memory stays ~100 MB)
# The peak against the mean of the spectrum's ring at the same frequency: lines put their energy
# in one direction (16-73 times the ring's mean on the test images), a texture spreads it round
# the ring (at most 3.5 on blurred noise).
MIN_PEAK_RATIO = 8.0


@dataclass(frozen=True)
class Divisions:
    period_px: float  # spacing of neighbouring divisions in pixels
    angle_deg: float  # direction across the lines, degrees from the x axis
    strength: float  # the peak over the spectrum's typical level: how line-like the image is


def _parabolic(y: np.ndarray, i: int) -> float:
    """Sub-bin position of a peak at i from its two neighbours."""
    if i <= 0 or i >= len(y) - 1:
        return float(i)
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    return float(i) if den == 0 else i + 0.5 * (a - c) / den


def find_divisions(grey: np.ndarray) -> Divisions:
    """ValueError when the image shows no regular lines (say what was photographed)."""
    h, w = grey.shape
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"a {w}x{h} image is too small to measure (at least {MIN_SIDE} px)")
    y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    g = grey[y0 : y0 + MAX_SIDE, x0 : x0 + MAX_SIDE].astype(np.float32)
    h, w = g.shape
    side = 1 << int(np.floor(np.log2(min(h, w))))
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = g[y0 : y0 + side, x0 : x0 + side]
    crop = crop - crop.mean()
    win = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(crop * win)))
    c = side // 2
    fy, fx = np.mgrid[-c : side - c, -c : side - c]
    radius = np.hypot(fx, fy)
    spec[radius < 2] = 0  # the mean and the slowest shading
    spec[radius > side / MIN_PERIOD_PX] = 0
    k = int(np.argmax(spec))
    py, px = divmod(k, side)
    peak = spec[py, px]
    ring = np.abs(radius - radius[py, px]) < 1.5
    typical = float(spec[ring].mean()) + 1e-9
    if peak / typical < MIN_PEAK_RATIO:
        raise ValueError("no regular lines in the image (is it a stage micrometer, in focus?)")
    # the peak between bins, along each axis: the direction to a fraction of a degree
    ry = _parabolic(spec[:, px], py) - c
    rx = _parabolic(spec[py, :], px) - c
    angle = float(np.arctan2(ry, rx))
    # The profile across the lines: rotate them upright, average along them.
    deg = np.degrees(angle)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    upright = cv2.warpAffine(g, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=float("nan"))
    inner = upright[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    profile = np.nanmean(inner, axis=0)
    profile = profile[np.isfinite(profile)]
    profile = (profile - profile.mean()) * np.hanning(len(profile))
    n = 16 * len(profile)
    p = np.abs(np.fft.rfft(profile, n))
    f0 = radius[py, px] / side  # cycles per pixel, from the 2-D peak
    lo, hi = int(n * f0 * 0.8), int(n * f0 * 1.2) + 1
    j = lo + int(np.argmax(p[lo:hi]))
    f = _parabolic(p, j) / n
    if f <= 0 or not MIN_PERIOD_PX <= 1.0 / f <= side / 4:
        raise ValueError("no regular lines in the image (divisions too fine or too far apart)")
    return Divisions(1.0 / f, float(deg % 180), float(peak / typical))
