"""Estimate the size of the annotated objects from the images and their points (pure numpy/cv2).

The model works at one object size; counting rescales each camera frame so that objects appear at
that size. At each annotated point the scale-normalised Laplacian of Gaussian peaks at
sigma = radius / sqrt 2, which measures a blob's width (for an elongated egg, its short axis).
The Hessian at that scale tells how elongated the blob is: for a blob of axis stds a >= b seen at
sigma ~ b, the curvature ratio is about 2 b^2 / (a^2 + b^2). Texture makes round cells read as
about 1.5 (measured on the bone-marrow and adipocyte folders), so only elongation beyond that
counts: the size is the width times sqrt(elongation / 1.5), at least the width, and never more
than 1.2x the typical spacing of neighbouring points (touching objects cannot be larger).
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMAS = np.geomspace(1.0, 24.0, 18)
ROUND_ELONGATION = 1.5


def elongation(dxx: np.ndarray, dyy: np.ndarray, dxy: np.ndarray) -> np.ndarray:
    """Long / short axis of a blob from its Hessian at the blob's scale (see the module
    docstring: curvature ratio r is about 2 b^2 / (a^2 + b^2), so a / b = sqrt(2 / r - 1))."""
    half_tr, disc = (dxx + dyy) / 2, np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    l1, l2 = np.abs(half_tr + disc), np.abs(half_tr - disc)
    r = np.clip(np.minimum(l1, l2) / np.maximum(np.maximum(l1, l2), 1e-9), 0.1, 1.0)
    return np.sqrt(np.clip(2.0 / r - 1.0, 1.0, 16.0))


def elongated_size(width: float, elong: float) -> float:
    """The size of objects of this width and elongation: only elongation beyond what texture
    gives round cells counts."""
    return width * max(1.0, float(np.sqrt(elong / ROUND_ELONGATION)))


def _scale_space(gray: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point: blob diameter (LoG) and elongation (long / short axis) at that scale."""
    g = gray.astype(np.float32)
    h, w = g.shape
    xi = np.clip(points[:, 0].round().astype(int), 0, w - 1)
    yi = np.clip(points[:, 1].round().astype(int), 0, h - 1)
    resp = np.empty((len(SIGMAS), len(points)), np.float32)
    elong = np.empty_like(resp)
    for k, s in enumerate(SIGMAS):
        blur = cv2.GaussianBlur(g, (0, 0), float(s), borderType=cv2.BORDER_REFLECT)
        dxx = cv2.Sobel(blur, cv2.CV_32F, 2, 0, ksize=3)[yi, xi]
        dyy = cv2.Sobel(blur, cv2.CV_32F, 0, 2, ksize=3)[yi, xi]
        dxy = cv2.Sobel(blur, cv2.CV_32F, 1, 1, ksize=3)[yi, xi]
        resp[k] = np.abs(dxx + dyy) * float(s * s)
        elong[k] = elongation(dxx, dyy, dxy)
    best = resp.argmax(axis=0)
    return 2.0 * np.sqrt(2.0) * SIGMAS[best], elong[best, np.arange(len(points))]


def log_diameters(gray: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per-point blob diameter (short axis) in pixels from the LoG scale that peaks."""
    if len(points) == 0:
        return np.zeros(0)
    return _scale_space(gray, points)[0]


def nn_distances(points: np.ndarray) -> np.ndarray:
    if len(points) < 2:
        return np.zeros(0)
    p = points[:, :2].astype(np.float64)
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def estimate_object_size(images: list[np.ndarray], points: list[np.ndarray]) -> float:
    """Typical object diameter (pixels) over a folder; 16 when nothing is annotated."""
    widths, elongs, nn = [], [], []
    rng = np.random.default_rng(0)
    for img, pts in zip(images, points, strict=True):
        if len(pts) == 0:
            continue
        nn.append(nn_distances(pts))
        if len(pts) > 400:
            pts = pts[rng.choice(len(pts), 400, replace=False)]
        d, e = _scale_space(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), pts)
        widths.append(d)
        elongs.append(e)
    if not widths:
        return 16.0
    width = float(np.median(np.concatenate(widths)))
    elong = float(np.median(np.concatenate(elongs)))
    size = elongated_size(width, elong)
    nn_all = np.concatenate(nn)
    if len(nn_all):
        size = min(size, 1.2 * float(np.median(nn_all)))
    return float(np.clip(size, 4.0, 200.0))


# Sizes on one annotated image are trusted only from this many points.
MIN_POINTS_PER_IMAGE = 20
# Per-image sizes spread continuously at one zoom (adipocytes from 0.7x to 1.4x the median);
# another zoom shows as a separate cluster: no image between it and the main one over this gap.
ZOOM_GAP = 1.3


def main_zoom(sizes: list[float]) -> list[bool]:
    """Which sizes belong to the cluster around the median (sorted neighbours closer than
    ZOOM_GAP); the rest were taken at another zoom."""
    order = np.argsort(sizes)
    v = np.asarray(sizes, np.float64)[order]
    mid = len(v) // 2
    lo, hi = mid, mid
    while lo > 0 and v[lo] / v[lo - 1] < ZOOM_GAP:
        lo -= 1
    while hi < len(v) - 1 and v[hi + 1] / v[hi] < ZOOM_GAP:
        hi += 1
    inside = np.zeros(len(v), bool)
    inside[order[lo : hi + 1]] = True
    return inside.tolist()


def zoom_groups(
    images: list[np.ndarray], points: list[np.ndarray]
) -> tuple[float, list[float | None]]:
    """The folder's object size at its main zoom, and per image its own size when it was
    clearly taken at another zoom (else None).

    A few photographs taken closer would otherwise pull the folder's size between the two zooms
    and the model would learn objects at two sizes: the main zoom's images are measured alone,
    and training rescales the others so that their objects match.
    """
    own = [
        estimate_object_size([img], [pts]) if len(pts) >= MIN_POINTS_PER_IMAGE else None
        for img, pts in zip(images, points, strict=True)
    ]
    known = [k for k, s in enumerate(own) if s is not None]
    if not known:
        return estimate_object_size(images, points), [None] * len(images)
    inside = dict(zip(known, main_zoom([own[k] for k in known]), strict=True))
    other = [inside.get(k) is False for k in range(len(images))]
    main = [(img, pts) for img, pts, o in zip(images, points, other, strict=True) if not o]
    size = estimate_object_size([i for i, _ in main], [p for _, p in main])
    return size, [s if o else None for s, o in zip(own, other, strict=True)]
