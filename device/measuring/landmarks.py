"""Landmark heatmaps -> landmark positions (pure numpy, tested with plain arrays).

A landmarks model gives one heatmap per landmark on a grid of cells `stride` model pixels wide,
each peaking (about 1) where its landmark is. Coordinates are pixel centres (pixel i at x = i),
y down. The same two maps, image <-> cells, place the training targets and decode the output,
so that the model learns exactly what the bench reads back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from device.measuring.landmark_refine import LocalLooks
from device.measuring.shapes import MIN_COMMON, centroid_size, superimpose

EPS = 1e-6
CANDIDATES = 3  # peaks kept per map: the shape picks among them
FLOOR = 0.05  # a peak lower than this is no candidate
# A candidate's score: its height less SPREAD_WEIGHT * (distance to where the taught shape puts
# its landmark, in units of SPREAD of the configuration's RMS radius)^2. Chosen on a validation
# split inside drosophila-wings (mean error 6.2 -> 4.1 px upright, the worst landmark 23 -> 9 px).
SPREAD, SPREAD_WEIGHT = 0.15, 0.1


def to_cells(xy: np.ndarray, scale: float, stride: int) -> np.ndarray:
    """Image pixel centres -> cell coordinates (cell j's centre at j)."""
    model = (np.asarray(xy, np.float64) + 0.5) * scale - 0.5  # as cv2.resize maps centres
    return (model - (stride - 1) / 2) / stride


def from_cells(uv: np.ndarray, scale: float, stride: int) -> np.ndarray:
    """Cell coordinates -> image pixel centres (the inverse of to_cells)."""
    model = np.asarray(uv, np.float64) * stride + (stride - 1) / 2
    return (model + 0.5) / scale - 0.5


def _offset(lo: float, mid: float, hi: float) -> float:
    """The peak of a parabola through log-heights at -1, 0, 1 (exact for a Gaussian)."""
    a, b, c = (np.log(max(v, EPS)) for v in (lo, mid, hi))
    den = a - 2 * b + c
    if den >= 0:  # flat or not a maximum: stay on the cell
        return 0.0
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))


def peaks(heat: np.ndarray, valid: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each map's highest cell, refined to a fraction of a cell: (uv (L, 2), height (L,)).

    `valid` (rows, cols) leaves out the padding below and right of the frame."""
    if heat.ndim != 3 or not np.isfinite(heat).all():
        raise ValueError(f"heatmaps must be finite (landmarks, h, w), got shape {heat.shape}")
    h, w = valid if valid is not None else heat.shape[1:]
    maps = heat[:, :h, :w]
    uv = np.zeros((len(maps), 2))
    height = np.zeros(len(maps))
    for k, m in enumerate(maps):
        r, c = np.unravel_index(int(np.argmax(m)), m.shape)
        height[k] = m[r, c]
        du = _offset(m[r, c - 1], m[r, c], m[r, c + 1]) if 0 < c < w - 1 else 0.0
        dv = _offset(m[r - 1, c], m[r, c], m[r + 1, c]) if 0 < r < h - 1 else 0.0
        uv[k] = (c + du, r + dv)
    return uv, height


def candidates(m: np.ndarray, k: int = CANDIDATES) -> list[tuple[float, float, float]]:
    """A map's k highest local maxima (u, v, height), refined like `peaks`, highest first."""
    h, w = m.shape
    m = m.astype(np.float32)
    top = cv2.dilate(m, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero((m >= top) & (m > FLOOR))
    out = []
    for i in np.argsort(-m[ys, xs], kind="stable")[:k]:
        r, c = int(ys[i]), int(xs[i])
        du = _offset(m[r, c - 1], m[r, c], m[r, c + 1]) if 0 < c < w - 1 else 0.0
        dv = _offset(m[r - 1, c], m[r, c], m[r + 1, c]) if 0 < r < h - 1 else 0.0
        out.append((c + du, r + dv, float(m[r, c])))
    return out


def choose(
    cands: list[list[tuple[float, float, float]]], mean_shape: np.ndarray, rounds: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """One candidate per landmark, agreeing with the taught shape: (uv (L, 2), heights (L,)),
    NaN and 0 where a map has none.

    Vein ends look alike: a map's highest peak may be another landmark's. The taught mean shape
    is fitted (turned, scaled, mirrored if that fits better) to the highest peaks, robustly (the
    quarter that agree least are left out of the fit), and each landmark takes the candidate
    best in height and nearness to where the fitted shape puts it; three rounds."""
    uv = np.array([[c[0][0], c[0][1]] if c else [np.nan, np.nan] for c in cands], np.float64)
    height = np.array([c[0][2] if c else 0.0 for c in cands])
    for _ in range(rounds):
        if int(np.isfinite(uv).all(axis=1).sum()) < MIN_COMMON + 1:
            break
        try:
            fit = superimpose(mean_shape, uv, allow_mirror=True)
        except ValueError:  # the peaks all on one point: no shape to fit, the peaks stand
            break
        res = np.linalg.norm(fit.aligned - uv, axis=1)
        agree = uv.copy()
        agree[~(res <= np.nanpercentile(res, 75))] = np.nan
        try:
            pred = superimpose(mean_shape, agree, allow_mirror=True).aligned
        except ValueError:
            pred = fit.aligned
        unit = SPREAD * centroid_size(pred) / np.sqrt(len(pred))
        for k, cs in enumerate(cands):
            if not cs or unit <= 0:
                continue
            scores = [
                h - SPREAD_WEIGHT * (np.hypot(u - pred[k, 0], v - pred[k, 1]) / unit) ** 2
                for u, v, h in cs
            ]
            u, v, h = cs[int(np.argmax(scores))]
            uv[k], height[k] = (u, v), h
    return uv, height


@dataclass(frozen=True)
class LandmarkParams:
    """What the model file says about reading its maps (scopecount.landmarks)."""

    mean_shape: np.ndarray  # (L, 2) the training wings' Procrustes mean, unit centroid size
    max_distance: float  # a configuration further from it is flagged `shape`
    unsure_below: float  # a peak lower than this flags the frame `unsure`
    absent_below: float  # lower still: the landmark is not in the frame (null)
    views: int = 1  # flipped copies read per frame (FLIPS); models before it read one
    # each landmark's look, to place it finer than a cell (device/measuring/landmark_refine.py);
    # None in models made before it
    looks: LocalLooks | None = None


# The frame as given, mirrored left-right, upside down, and both: exact pixel permutations. The
# model reads each; the landmarks it finds are mapped back and combined (views in the model file).
# On a validation split inside drosophila-wings 4 views against 1: 4.11 -> 3.38 px upright.
FLIPS: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True), (True, True))
VIEW_COUNTS = (1, 2, 4)


def read_map(
    heat: np.ndarray, valid: tuple[int, int], mean_shape: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """One view's heatmaps -> (uv (L, 2) cells, heights (L,)): each map's highest peak, or with
    the taught `mean_shape` the candidate the shape agrees with best."""
    h, w = valid if valid is not None else heat.shape[1:]
    if heat.ndim != 3 or not np.isfinite(heat).all() or heat[:, :h, :w].size == 0:
        raise ValueError(f"heatmaps must be finite (landmarks, h, w), got shape {heat.shape}")
    if mean_shape is None:
        return peaks(heat, valid)
    return choose([candidates(m[:h, :w]) for m in heat], mean_shape)


def unflip(
    uv: np.ndarray, small_hw: tuple[int, int], stride: int, flip: tuple[bool, bool]
) -> np.ndarray:
    """Cells of a flipped view -> cells of the view as given (model pixel x -> w-1-x is cell
    u -> w/stride-1-u)."""
    out = np.array(uv, np.float64, copy=True)
    for axis, (on, size) in enumerate(zip(flip, (small_hw[1], small_hw[0]), strict=True)):
        if on:
            out[:, axis] = size / stride - 1 - out[:, axis]
    return out


def combine(uvs: list[np.ndarray], heights: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each landmark's position over the views that found it: the mean of the middle ones
    (a view whose peak jumped to a look-alike vein end is outvoted when three or more agree),
    and the median height over all views (a view without the landmark counts 0)."""
    uv = np.stack(uvs)  # (V, L, 2)
    hs = np.stack(
        [np.where(np.isfinite(u).all(axis=1), h, 0.0) for u, h in zip(uvs, heights, strict=True)]
    )
    out = np.full(uv.shape[1:], np.nan)
    for k in range(uv.shape[1]):
        found = uv[np.isfinite(uv[:, k]).all(axis=1), k]
        n = len(found)
        if n:
            s = np.sort(found, axis=0)
            lo = (n - 1) // 2 if n < 4 else 1
            hi = n - lo
            out[k] = s[lo:hi].mean(axis=0)
    return out, np.median(hs, axis=0)


def read_views(
    run: Callable[[np.ndarray], np.ndarray],
    small: np.ndarray,
    stride: int,
    mean_shape: np.ndarray | None,
    views: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(uv cells, heights) of an image at the model's scale, read in `views` flipped copies;
    `run` gives the heatmaps of an image at the model's scale (padding is its business)."""
    hw = small.shape[:2]
    valid = (-(-hw[0] // stride), -(-hw[1] // stride))
    uvs, hs = [], []
    for flip in FLIPS[:views]:
        view = small[:: -1 if flip[1] else 1, :: -1 if flip[0] else 1]
        uv, h = read_map(run(np.ascontiguousarray(view)), valid, mean_shape)
        uvs.append(unflip(uv, hw, stride, flip))
        hs.append(h)
    return combine(uvs, hs) if views > 1 else (uvs[0], hs[0])


def to_frame(
    uv: np.ndarray,
    height: np.ndarray,
    scale: float,
    stride: int,
    frame_hw: tuple[int, int],
    absent_below: float,
) -> tuple[list[tuple[float, float] | None], list[float]]:
    """Cells -> landmarks in frame pixels (None where absent or outside the frame) and their
    peaks."""
    xy = from_cells(uv, scale, stride)
    fh, fw = frame_hw
    out: list[tuple[float, float] | None] = []
    for (x, y), hgt in zip(xy, height, strict=True):
        inside = -0.5 <= x <= fw - 0.5 and -0.5 <= y <= fh - 0.5  # NaN: not inside
        if not inside or hgt < absent_below:
            out.append(None)
            continue
        # within the frame's pixels: a landmark on the first pixel's outer half is on pixel 0
        out.append((float(min(max(x, 0.0), fw - 1)), float(min(max(y, 0.0), fh - 1))))
    return out, [round(float(v), 4) for v in height]
