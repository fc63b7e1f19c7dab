"""Landmarks placed finer than the heatmap's cells: each landmark moves to where the image
around it best matches how the training wings look around theirs.

A heatmap cell is 8 image pixels at the default scale, and the network's peak lands within a
few pixels of the landmark. `train` keeps, per landmark, the mean look of the training wings
around it: a small patch, each wing first turned, mirrored and scaled onto the taught mean shape,
so that every patch sees its landmark the same way up and at the same size. At the bench the
wing's pose comes from the landmarks the network placed; each landmark's neighbourhood is
resampled the same way and matched against its patch (normalised cross-correlation, which
ignores brightness and contrast) within `radius` pixels; the best match is refined to a fraction
of a pixel. Pure numpy and OpenCV: one small match per landmark.

The network sometimes puts a landmark on a look-alike vein end, further than any radius could
mend. A landmark further from where the taught shape (fitted to the others) puts it than
FAR times its spread among the training wings is looked for again around the shape's place,
within twice the radius, and moved there where its patch matches better than where it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from device.measuring.shapes import MIN_COMMON, present

# Chosen on two validation splits inside drosophila-wings (the first two of tests/benchmarks/
# landmarks.py --inner: 19 wings taught, 6 scored each): mean error 4.19 -> 2.28 px upright,
# 3.76 -> 2.00 turned (patches of 15 and 31, radii of 6 to 16 and blurs of 0 to 2 within 0.2).
PATCH = 21  # pixels at the training wings' size, odd: the landmark on the centre pixel
RADIUS = 12  # how far a landmark may move, pixels at the training wings' size
BLUR = 1.0  # Gaussian sigma before matching: sensor noise and JPEG blocks matter less
MAX_PATCH, MAX_RADIUS, MAX_BLUR = 65, 32, 8.0  # what a model file may ask for
# On the same splits, a landmark 36 px off (worst landmark 7.1 px -> 3.3) was found again; no
# other moved; 2 to 3.5 spreads and searches of 16 to 32 px gave the same.
FAR = 3.0
# A pose scaling the training wings' size by more than this either way is no wing in the frame
# (its cut-out would be huge): the landmarks stay where the network put them.
MAX_POSE_SCALE = 100.0


@dataclass(frozen=True)
class LocalLooks:
    """Per landmark, the training wings' mean look around it, and how to match it."""

    canon: np.ndarray  # (L, 2) the mean shape at the training wings' median size, pixels
    patches: np.ndarray  # (L, P, P) float32, zero mean and unit spread; all zero: not matched
    radius: int
    blur: float
    # (L,) each landmark's RMS distance (pixels at the training wings' size) from where the mean
    # shape, fitted to the whole wing, puts it; 0 where unknown (never searched again)
    spread: np.ndarray

    @property
    def size(self) -> int:
        return int(self.patches.shape[1])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The 2x3 map dst ~ A src + t (turn, one scale, reflection if it fits better) fitted by
    least squares on the landmarks present in both; None with too few or all on one point."""
    ok = present(src) & present(dst)
    if int(ok.sum()) < MIN_COMMON:
        return None
    s, d = src[ok].astype(np.float64), dst[ok].astype(np.float64)
    ms, md = s.mean(axis=0), d.mean(axis=0)
    a, b = s - ms, d - md
    var = float((a**2).sum())
    if var <= 0:
        return None
    u, sv, vt = np.linalg.svd(b.T @ a)
    A = float(sv.sum()) / var * (u @ vt)  # u @ vt: the best rotation or reflection
    if not np.isfinite(A).all() or abs(np.linalg.det(A)) < 1e-12:
        return None
    return np.hstack([A, (md - A @ ms)[:, None]])


def _region(gray: np.ndarray, centre: np.ndarray, A: np.ndarray, size: int, blur: float):
    """The size x size neighbourhood of `centre` (frame pixels) resampled onto the canonical
    grid (one canonical pixel is A's columns in the frame), blurred by `blur` canonical pixels."""
    margin = int(math.ceil(3 * blur)) if blur > 0 else 0
    n = size + 2 * margin
    c = (n - 1) / 2
    # Only the pixels the region reads, cut out first: OpenCV 4 refuses to warp from an image
    # 32767 pixels or more on a side, and a small cut costs less on a large frame.
    h, w = gray.shape[:2]
    reach = np.abs(A).sum(axis=1) * (c + 1) + 2
    x0 = int(np.clip(np.floor(centre[0] - reach[0]), 0, w - 1))
    y0 = int(np.clip(np.floor(centre[1] - reach[1]), 0, h - 1))
    x1 = int(np.clip(np.ceil(centre[0] + reach[0]) + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(centre[1] + reach[1]) + 1, y0 + 1, h))
    at = np.asarray(centre, np.float64) - (x0, y0)
    m = np.hstack([A, (at - A @ np.array([c, c]))[:, None]])
    out = cv2.warpAffine(
        gray[y0:y1, x0:x1],  # a view: OpenCV reads its strides, nothing is copied
        m,
        (n, n),
        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur, borderType=cv2.BORDER_REPLICATE)
    return out[margin : margin + size, margin : margin + size]


def grey(rgb: np.ndarray) -> np.ndarray:
    """float32 grey levels of an RGB (or already grey) uint8 image."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def standardised(p: np.ndarray) -> np.ndarray:
    sd = float(p.std())
    return ((p - p.mean()) / sd).astype(np.float32) if sd > 1e-6 else np.zeros_like(p, np.float32)


def learn_looks(
    wings: Iterable[tuple[np.ndarray, np.ndarray]],
    canon: np.ndarray,
    size: int = PATCH,
    radius: int = RADIUS,
    blur: float = BLUR,
) -> LocalLooks:
    """The mean look around each landmark over (grey image, (L, 2) landmarks) pairs, each wing
    posed onto `canon` by its own landmarks; a landmark no wing has keeps an all-zero patch."""
    acc = np.zeros((len(canon), size, size), np.float64)
    off, seen = np.zeros(len(canon)), np.zeros(len(canon))
    for g, pts in wings:
        m = similarity(canon, pts)
        unit = 0.0 if m is None else _size(m[:, :2])
        # canon is at the training wings' median size: a wing a fifth or five times that is
        # none to learn from (its landmarks on a line or a point)
        if m is None or not 0.2 <= unit <= 5.0:
            continue
        d = np.linalg.norm(canon @ m[:, :2].T + m[:, 2] - pts, axis=1) / unit
        for k, p in enumerate(pts):
            if np.isfinite(p).all():
                acc[k] += standardised(_region(g, p, m[:, :2], size, blur))
                off[k] += d[k] ** 2
                seen[k] += 1
    patches = np.stack([standardised(a.astype(np.float32)) for a in acc])
    spread = np.sqrt(off / np.maximum(seen, 1))
    return LocalLooks(np.asarray(canon, np.float64), patches, radius, blur, spread)


def _size(A: np.ndarray) -> float:
    """How many frame pixels one canonical pixel spans."""
    return float(np.sqrt(abs(np.linalg.det(A))))


def _peak(r: np.ndarray) -> tuple[float, float]:
    """(row, col) of the highest value, refined by a parabola through its neighbours."""
    i, j = np.unravel_index(int(np.argmax(r)), r.shape)

    def off(a: float, b: float, c: float) -> float:
        den = a - 2 * b + c
        return 0.0 if den >= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))

    h, w = r.shape
    di = off(r[i - 1, j], r[i, j], r[i + 1, j]) if 0 < i < h - 1 else 0.0
    dj = off(r[i, j - 1], r[i, j], r[i, j + 1]) if 0 < j < w - 1 else 0.0
    return i + di, j + dj


def _match(
    gray: np.ndarray, p: np.ndarray, A: np.ndarray, looks: LocalLooks, k: int, R: int
) -> tuple[float, np.ndarray] | None:
    """(best correlation, where) of landmark k's patch within R canonical pixels of p."""
    reg = _region(gray, p, A, looks.size + 2 * R, looks.blur)
    if float(reg.std()) < 1e-6:  # a flat neighbourhood matches nothing
        return None
    r = cv2.matchTemplate(reg, looks.patches[k], cv2.TM_CCOEFF_NORMED)
    i, j = _peak(r)
    return float(r.max()), np.asarray(p, np.float64) + A @ np.array([j - R, i - R])


def _sane(m: np.ndarray | None) -> np.ndarray | None:
    """A fitted pose, or None where there is none or its scale is no wing's."""
    ok = m is not None and 1 / MAX_POSE_SCALE <= _size(m[:, :2]) <= MAX_POSE_SCALE
    return m if ok else None


def _shape_pose(canon: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    """The pose fitted again without the quarter of landmarks that agree least with it."""
    m = similarity(canon, pts)
    if m is None:
        return None
    res = np.linalg.norm(canon @ m[:, :2].T + m[:, 2] - pts, axis=1)
    agree = np.array(pts, np.float64, copy=True)
    agree[~(res <= np.nanpercentile(res, 75))] = np.nan
    fewer = similarity(canon, agree)
    return m if fewer is None else fewer


def refine(gray: np.ndarray, pts: np.ndarray, looks: LocalLooks) -> np.ndarray:
    """(L, 2) landmarks (frame pixels, NaN where missing) moved to their best match within the
    radius, then any left far from the taught shape looked for again around the shape's place;
    unchanged where the pose cannot be fitted or a landmark has no patch."""
    out = np.array(pts, np.float64, copy=True)
    m = _sane(similarity(looks.canon, out))
    if m is None:
        return out
    A = m[:, :2]
    usable = [k for k, p in enumerate(pts) if np.isfinite(p).all() and looks.patches[k].any()]
    for k in usable:
        got = _match(gray, out[k], A, looks, k, looks.radius)
        if got is not None:
            out[k] = got[1]
    m = _sane(_shape_pose(looks.canon, out))
    if m is None:
        return out
    A, unit = m[:, :2], _size(m[:, :2])
    placed = looks.canon @ A.T + m[:, 2]
    for k in usable:
        far = np.linalg.norm(out[k] - placed[k]) / unit > FAR * looks.spread[k] > 0
        if not far:
            continue
        here = _match(gray, out[k], A, looks, k, 0)
        there = _match(gray, placed[k], A, looks, k, 2 * looks.radius)
        if there is not None and (here is None or there[0] > here[0]):
            out[k] = there[1]
    return out
