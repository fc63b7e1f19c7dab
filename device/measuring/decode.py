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


# Fewer blocks than this (objects as wide as a quarter of the map): one point at a time.
MIN_BLOCKS = 16
# Blocks looked at, all rounds together, before the batched steps give way to the loop.
MAX_BLOCK_STEPS = 2_000_000
# More objects than a 1280x960 frame can hold at 4 px each: a broken model, not a count.
MAX_OBJECTS = 100_000


def place_points(density: np.ndarray, n: int, sigma: float) -> list[tuple[float, float]]:
    """n points (x, y in map pixels, sub-pixel) on a 2-D density map, strongest places first.

    The result is that of the plain greedy loop (`place_points_greedy`: take the strongest
    place, remove one object's worth around it, repeat; the same points in the same order, to
    rounding), computed many points at a time: a point changes the map only within its block
    and the blocks around it, so every block whose maximum beats its neighbours' is taken in
    the same step. Thousands of cells in a frame cost tens of numpy steps instead of thousands
    of Python iterations (a Pi is slow at those).
    """
    if n <= 0 or density.size == 0:
        return []
    k = gaussian_kernel(max(sigma, 0.5))
    r = k.shape[0] // 2
    block = 2 * r + 2  # two points taken together never touch the same cells
    h, w = density.shape
    res, blocks = _blocked(density, block)
    bh, bw = blocks.shape
    if bh * bw < MIN_BLOCKS:  # objects as wide as the map: little to take at once
        return place_points_greedy(density, n, sigma)
    tiles = res.reshape(bh, block, bw, block)  # a view: tiles[by, :, bx, :] is one block
    ky, kx = (g.ravel() - r for g in np.mgrid[0 : 2 * r + 1, 0 : 2 * r + 1])
    wy, wx = (g.ravel() - 1 for g in np.mgrid[0:3, 0:3])
    near_y, near_x = wy, wx  # the blocks a point can change: its own and the eight around
    got_v, got_x, got_y, got_b = [], [], [], []
    taken, nth, rounds, best = 0, np.inf, 0, np.zeros(0)
    # Rounds may take points past the n-th: the loop's first n are the n of highest value once
    # nothing left on the map reaches the n-th highest value taken.
    while taken < n or blocks.max() >= nth:
        rounds += 1
        if rounds > 96 + n // 8 or rounds * bh * bw > MAX_BLOCK_STEPS:  # real maps take at
            # most 80% and 10% of these; a pile of objects on one spot gives up one point a
            # round: the loop is faster there
            return place_points_greedy(density, n, sigma)
        # Once n are taken, a block below the n-th value taken can add nothing to the first n
        # (values only fall), and taking its points would not change theirs.
        idx = np.flatnonzero(_local_maxima(blocks) & (blocks >= nth if taken >= n else True))
        if len(idx) == 0:  # nothing finite left on the map
            break
        by, bx = np.divmod(idx, bw)
        ty, tx = np.divmod(tiles[by, :, bx, :].reshape(len(idx), -1).argmax(axis=1), block)
        y, x = by * block + ty, bx * block + tx
        got_v.append(res[y, x])
        got_b.append(idx)
        cx, cy = _centroids(res, y, x, wy, wx, (h, w))
        got_x.append(cx)
        got_y.append(cy)
        yy, xx = y[:, None] + ky, x[:, None] + kx
        ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        res[yy[ok], xx[ok]] -= np.broadcast_to(k.ravel(), yy.shape)[ok]
        if not np.any(res[y, x] < got_v[-1]):  # values beyond float precision: no longer fall
            break
        nb_y, nb_x = (by[:, None] + near_y).ravel(), (bx[:, None] + near_x).ravel()
        ok = (nb_y >= 0) & (nb_y < bh) & (nb_x >= 0) & (nb_x < bw)
        nb_y, nb_x = nb_y[ok], nb_x[ok]
        blocks[nb_y, nb_x] = tiles[nb_y, :, nb_x, :].reshape(len(nb_y), -1).max(axis=1)
        taken += len(idx)
        if taken >= n:  # the n highest values taken so far; a round rarely changes them
            new = got_v[-1][got_v[-1] > nth] if len(best) else np.concatenate(got_v)
            if len(new):
                best = np.partition(np.concatenate([best, new]), len(best) + len(new) - n)
                best = best[len(best) - n :]
                nth = best.min()
    if not got_v:
        return []
    values = np.concatenate(got_v)
    xs, ys = np.concatenate(got_x), np.concatenate(got_y)
    # The greedy loop takes its points in falling order of value (removing an object only
    # lowers the map), equal values in the order of their blocks, one block's in the order
    # taken: so this order is the loop's own.
    first = np.lexsort((np.arange(len(values)), np.concatenate(got_b), -values))[:n]
    return list(zip(xs[first].tolist(), ys[first].tolist(), strict=True))


def _blocked(density: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The map padded with -inf to whole blocks, and each block's maximum."""
    h, w = density.shape
    bh, bw = -(-h // block), -(-w // block)
    res = np.full((bh * block, bw * block), -np.inf)
    res[:h, :w] = density
    return res, res.reshape(bh, block, bw, block).max(axis=(1, 3))


def _local_maxima(blocks: np.ndarray) -> np.ndarray:
    """Blocks whose maximum beats every neighbouring block's (ties: the lower index wins, as
    np.argmax picks the first)."""
    bh, bw = blocks.shape
    pv = np.full((bh + 2, bw + 2), -np.inf)
    pv[1:-1, 1:-1] = blocks
    ready = np.isfinite(blocks)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                v = pv[1 + dy : 1 + dy + bh, 1 + dx : 1 + dx + bw]
                # a neighbour of equal value: the lower index (the one before, in reading order)
                ready &= (blocks > v) | ((blocks == v) & (dy > 0 or (dy == 0 and dx > 0)))
    return ready


def _centroids(
    res: np.ndarray, y: np.ndarray, x: np.ndarray, wy: np.ndarray, wx: np.ndarray, hw: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel place of each point: the centroid of the positive map in its 3x3 window
    (the point itself where that window holds nothing)."""
    h, w = hw
    yy, xx = y[:, None] + wy, x[:, None] + wx
    ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    v = np.where(ok, np.clip(res[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0, None), 0.0)
    tot = v.sum(axis=1)
    some = tot > 0
    safe = np.where(some, tot, 1.0)
    cy = np.where(some, (v * yy).sum(axis=1) / safe, y)
    cx = np.where(some, (v * xx).sum(axis=1) / safe, x)
    return cx.astype(np.float64), cy.astype(np.float64)


def _place_greedy(
    res: np.ndarray, blocks: np.ndarray, n: int, k: np.ndarray, block: int, hw: tuple[int, int]
) -> list[tuple[float, float, float]]:
    """The plain greedy loop on a blocked residual (changed in place): (value when taken, x, y)
    per point. The maximum is found through the per-block maxima, so each step touches only the
    blocks the kernel overlaps."""
    h, w = hw
    bw = blocks.shape[1]
    r = k.shape[0] // 2
    out: list[tuple[float, float, float]] = []
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
        out.append((float(res[y, x]), cx, cy))
        ky0, ky1 = max(0, r - y), min(2 * r + 1, r + h - y)
        kx0, kx1 = max(0, r - x), min(2 * r + 1, r + w - x)
        res[y - r + ky0 : y - r + ky1, x - r + kx0 : x - r + kx1] -= k[ky0:ky1, kx0:kx1]
        for yb in range((y - r + ky0) // block, (y - r + ky1 - 1) // block + 1):
            for xb in range((x - r + kx0) // block, (x - r + kx1 - 1) // block + 1):
                blocks[yb, xb] = res[
                    yb * block : (yb + 1) * block, xb * block : (xb + 1) * block
                ].max()
    return out


def place_points_greedy(density: np.ndarray, n: int, sigma: float) -> list[tuple[float, float]]:
    """The one-at-a-time loop that `place_points` computes many points at a time (the tests'
    reference: both give the same points in the same order, ties included)."""
    if n <= 0:
        return []
    k = gaussian_kernel(max(sigma, 0.5))
    block = 2 * (k.shape[0] // 2) + 2
    res, blocks = _blocked(density, block)
    return [p[1:] for p in _place_greedy(res, blocks, n, k, block, density.shape)]


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
        if not np.isfinite(total) or total > MAX_OBJECTS:
            raise ValueError(f"the density sums to {total:.3g} {name} objects: not a count")
        n = max(0, int(round(total)))
        counts[name] = n
        sums[name] = total
        for mx, my in place_points(d, n, params.kernel_sigma):
            points.append(((mx + 0.5) * s / params.scale, (my + 0.5) * s / params.scale, name))
    return Decoded(counts, points, sums)
