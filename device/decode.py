"""Density maps -> per-class integer counts and points that agree with them (pure functions).

A count is the rounded sum of the density. Picking peaks would undercount touching objects, so
points are placed to agree with the sum: repeatedly take the strongest remaining place and
remove one object's worth of density (a Gaussian of unit mass) around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecodeParams:
    stride: int  # output pixels -> model-input pixels
    scale: float  # model-input pixels per original image pixel
    count_scale: float = 1.0  # fitted on the training images; removes a steady bias
    kernel_sigma: float = 1.0  # object spread in output pixels


@dataclass
class Decoded:
    counts: dict[str, int]
    points: list[tuple[float, float, str]]  # x, y in original image pixels, class
    sums: dict[str, float]  # the unrounded sums, for evaluation


def gaussian_kernel(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    ax = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(ax**2) / (2 * sigma * sigma))
    k = np.outer(g, g)
    return k / k.sum()


def place_points(
    density: np.ndarray, n: int, sigma: float, block: int = 16
) -> list[tuple[float, float]]:
    """n points (x, y in map pixels, sub-pixel) on a 2-D density map, strongest places first.

    The residual's maximum is found through per-block maxima, so each step touches only the
    few blocks the subtracted kernel overlaps: thousands of points on a large map stay fast.
    """
    if n <= 0:
        return []
    h, w = density.shape
    bh, bw = -(-h // block), -(-w // block)
    res = np.full((bh * block, bw * block), -np.inf)
    res[:h, :w] = density
    blocks = res.reshape(bh, block, bw, block).max(axis=(1, 3))
    k = gaussian_kernel(max(sigma, 0.5))
    r = k.shape[0] // 2
    out: list[tuple[float, float]] = []
    for _ in range(n):
        by, bx = divmod(int(np.argmax(blocks)), bw)
        tile = res[by * block : (by + 1) * block, bx * block : (bx + 1) * block]
        ty, tx = divmod(int(np.argmax(tile)), block)
        y, x = by * block + ty, bx * block + tx
        y0, y1, x0, x1 = max(0, y - 1), min(h, y + 2), max(0, x - 1), min(w, x + 2)
        win = np.clip(res[y0:y1, x0:x1], 0, None)
        tot = win.sum()
        if tot > 0:
            yy, xx = np.mgrid[y0:y1, x0:x1]
            cy, cx = float((win * yy).sum() / tot), float((win * xx).sum() / tot)
        else:
            cy, cx = float(y), float(x)
        out.append((cx, cy))
        ky0, ky1 = max(0, r - y), min(2 * r + 1, r + h - y)
        kx0, kx1 = max(0, r - x), min(2 * r + 1, r + w - x)
        res[y - r + ky0 : y - r + ky1, x - r + kx0 : x - r + kx1] -= k[ky0:ky1, kx0:kx1]
        for yb in range((y - r + ky0) // block, (y - r + ky1 - 1) // block + 1):
            for xb in range((x - r + kx0) // block, (x - r + kx1 - 1) // block + 1):
                blocks[yb, xb] = res[
                    yb * block : (yb + 1) * block, xb * block : (xb + 1) * block
                ].max()
    return out


def inside(density: np.ndarray, valid_hw: tuple[int, int] | None, stride: int) -> np.ndarray:
    """What is counted of a density map (..., h, w): the cells over the image itself, not its
    padding (valid_hw: the model-input size before padding), negatives clipped to 0."""
    if valid_hw is not None:
        density = density[..., : -(-valid_hw[0] // stride), : -(-valid_hw[1] // stride)]
    return np.clip(density.astype(np.float64), 0, None)


def decode(
    density: np.ndarray,
    classes: list[str],
    params: DecodeParams,
    valid_hw: tuple[int, int] | None = None,
) -> Decoded:
    """Density (classes x h x w, output grid) -> counts and points in original image pixels.

    valid_hw is the model-input size before padding; density beyond it is padding and ignored.
    """
    if density.ndim != 3 or density.shape[0] != len(classes):
        raise ValueError(f"density of shape {density.shape} does not match {len(classes)} classes")
    s = params.stride
    density = inside(density, valid_hw, s)
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    points: list[tuple[float, float, str]] = []
    for c, name in enumerate(classes):
        d = density[c] * params.count_scale
        total = float(d.sum())
        n = max(0, int(round(total)))
        counts[name] = n
        sums[name] = total
        for mx, my in place_points(d, n, params.kernel_sigma):
            points.append(((mx + 0.5) * s / params.scale, (my + 0.5) * s / params.scale, name))
    return Decoded(counts, points, sums)
