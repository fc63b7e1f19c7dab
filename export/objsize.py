"""Estimate the size of the annotated objects from the images and their points (pure numpy/cv2).

The model works at one object size; counting rescales each camera frame so that objects appear at
that size. The size comes from the scale-normalised Laplacian of Gaussian at each annotated point
(its strongest response is at sigma = radius / sqrt 2), capped by the typical distance between
neighbouring points (touching objects cannot be larger than their spacing).
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMAS = np.geomspace(1.0, 24.0, 18)


def log_diameters(gray: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Per-point blob diameter in pixels from the LoG scale at which the response peaks."""
    if len(points) == 0:
        return np.zeros(0)
    g = gray.astype(np.float32)
    h, w = g.shape
    xi = np.clip(points[:, 0].round().astype(int), 0, w - 1)
    yi = np.clip(points[:, 1].round().astype(int), 0, h - 1)
    resp = np.empty((len(SIGMAS), len(points)), np.float32)
    for k, s in enumerate(SIGMAS):
        blur = cv2.GaussianBlur(g, (0, 0), float(s), borderType=cv2.BORDER_REFLECT)
        lap = cv2.Laplacian(blur, cv2.CV_32F, ksize=3) * float(s * s)
        resp[k] = np.abs(lap[yi, xi])
    return 2.0 * np.sqrt(2.0) * SIGMAS[resp.argmax(axis=0)]


def nn_distances(points: np.ndarray) -> np.ndarray:
    if len(points) < 2:
        return np.zeros(0)
    p = points[:, :2].astype(np.float64)
    d = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def estimate_object_size(images: list[np.ndarray], points: list[np.ndarray]) -> float:
    """Median object diameter (pixels) over a folder; 16 when nothing is annotated."""
    diam, nn = [], []
    rng = np.random.default_rng(0)
    for img, pts in zip(images, points, strict=True):
        if len(pts) == 0:
            continue
        if len(pts) > 400:
            pts = pts[rng.choice(len(pts), 400, replace=False)]
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        diam.append(log_diameters(gray, pts))
        nn.append(nn_distances(pts))
    if not diam:
        return 16.0
    size = float(np.median(np.concatenate(diam)))
    nn_all = np.concatenate(nn)
    if len(nn_all):
        size = min(size, 1.2 * float(np.median(nn_all)))
    return float(np.clip(size, 4.0, 200.0))
